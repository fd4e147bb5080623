"""PyTorch recurrent weights: moved to :mod:`minirnn.saving.torch_weights`; the names stay
importable from here."""
from ..saving.readers import read_safetensors
from ..saving.torch_weights import KINDS, layers_from_torch, save_safetensors, torch_module_args, torch_state_dict

__all__ = ["layers_from_torch", "torch_state_dict", "torch_module_args", "save_safetensors", "read_safetensors",
           "KINDS"]
