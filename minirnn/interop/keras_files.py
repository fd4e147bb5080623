"""Keras model files: moved to :mod:`minirnn.saving.keras_files` (with
:mod:`~minirnn.saving.keras_config` and :mod:`~minirnn.saving.keras_weights`); the names stay
importable from here."""
from ..saving.keras_config import (KERAS_VERSION, LAYERS, OPTIMIZERS, Translator, functional_from_config,
                                   keras_config, keras_layer_entry, sequential_from_config)
from ..saving.keras_files import (load_keras, load_keras_weights, load_legacy_h5, load_legacy_weights,
                                  save_keras, save_keras_weights)
from ..saving.keras_weights import keras_paths, read_keras_weights, read_legacy_weights, weight_groups
from ..saving.readers import H5Reader

__all__ = ["load_keras", "load_keras_weights", "load_legacy_h5", "load_legacy_weights", "save_keras",
           "save_keras_weights", "keras_config", "keras_layer_entry", "sequential_from_config",
           "functional_from_config", "Translator", "LAYERS", "OPTIMIZERS", "KERAS_VERSION", "H5Reader",
           "keras_paths", "weight_groups", "read_keras_weights", "read_legacy_weights"]
