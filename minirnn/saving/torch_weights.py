"""PyTorch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` weights to and from minirnn layers.

    layers = layers_from_torch(torch_lstm)                     # a module, a state_dict or a .safetensors file
    model = minirnn.Sequential([minirnn.Input((None, 8)), *layers, minirnn.Dense(1)])
    state = torch_state_dict(layers)                           # {name: ndarray}
    torch_lstm.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    save_safetensors(layers, "lstm.safetensors")

Neither direction imports torch.  Layer k of a PyTorch module (``num_layers`` > 1) becomes
minirnn layer k of a stack, each returning sequences (the last one too unless
``return_sequences=False``), so the stack's output is the module's output; a
``bidirectional`` module gives ``Bidirectional(..., merge_mode="concat")`` layers (PyTorch
concatenates forward then backward features, the backward outputs in input time order, as
Keras does).  minirnn is always batch-first: with ``batch_first=False`` transpose the input,
``x.transpose(1, 0, 2)``; the weights are the same.

The mapping (suffix ``_l{k}`` for layer k, ``_l{k}_reverse`` for its backward half):

=========  ===================================  ===========================================
module     PyTorch, rows in gate order          minirnn (Keras layout), columns in gate order
=========  ===================================  ===========================================
nn.RNN     weight_ih (n, D), weight_hh (n, n)   W = weight_ihᵀ (D, n), U = weight_hhᵀ (n, n)
           bias_ih, bias_hh (n,)                b = bias_ih + bias_hh;  nonlinearity tanh | relu
nn.LSTM    gates i f g o: weight_ih (4n, D),    gates i f c o (g is c): W = weight_ihᵀ (D, 4n),
           weight_hh (4n, n), biases (4n,)      U = weight_hhᵀ (n, 4n), b = bias_ih + bias_hh
nn.GRU     gates r z n: weight_ih (3n, D),      gates z r h, ``reset_after=True``:
           weight_hh (3n, n), biases (3n,)      W = [W_z W_r W_n]ᵀ (D, 3n), U likewise (n, 3n),
                                                b (2, 3n) = [[b_iz b_ir b_in], [b_hz b_hr b_hn]]
=========  ===================================  ===========================================

PyTorch's GRU applies the reset gate after the recurrent product,
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), which is Keras's ``reset_after=True``; a GRU
with ``reset_after=False`` (r * h before the product) has no PyTorch counterpart and is
refused.  Written to PyTorch, minirnn's single bias b goes to ``bias_ih`` and ``bias_hh`` is 0
(RNN, LSTM), so outputs and gradients match; an optimizer step then moves PyTorch's two
biases by one gradient each, twice the step of minirnn's one bias.  LSTM ``proj_size`` and
activations other than these are refused.  Inter-layer ``dropout`` is a training setting
and is not carried over.
"""
import os

import numpy as np

from ..layers import GRU, LSTM, Bidirectional, SimpleRNN
from ..layers.rnn import RNN
from ..serialization import ModelFileError
from .atomic import atomic_write
from .readers import read_safetensors

KINDS = {"RNN_TANH": (SimpleRNN, 1, "tanh"), "RNN_RELU": (SimpleRNN, 1, "relu"),
         "LSTM": (LSTM, 4, "tanh"), "GRU": (GRU, 3, "tanh")}
GRU_TO_KERAS = (1, 0, 2)          # PyTorch blocks r z n -> Keras z r h (its own inverse)


def _numpy(value):
    """A tensor (torch, on any device) or array as a NumPy array, without importing torch."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _blocks(a, gates, order):
    """Reorder the `gates` row blocks of a (G*n, ...) array."""
    n = a.shape[0] // gates
    return np.concatenate([a[g * n:(g + 1) * n] for g in order])


class _BadTensor(ValueError):
    """A state-dict entry that is not what a PyTorch recurrent layer holds."""

    def __init__(self, name, problem):
        super().__init__(f"{name}: {problem}")
        self.name, self.problem = name, problem


def _mode(module_or_mode, nonlinearity):
    mode = getattr(module_or_mode, "mode", module_or_mode)
    if not isinstance(mode, str):
        raise ValueError("layers_from_torch: pass mode='LSTM', 'GRU' or 'RNN' with a state_dict")
    mode = mode.upper()
    if mode == "RNN":
        mode = f"RNN_{str(nonlinearity).upper()}"
    if mode not in KINDS:
        raise ValueError(f"layers_from_torch: mode must be one of LSTM, GRU, RNN (nonlinearity tanh or "
                         f"relu), received {mode!r}")
    return mode


def layers_from_torch(source, mode=None, nonlinearity="tanh", prefix="", return_sequences=True,
                      dtype="float32"):
    """minirnn layers (built, weights set) equal to a PyTorch ``nn.RNN``/``nn.LSTM``/``nn.GRU``.

    `source`: the module, its ``state_dict()`` or a ``.safetensors`` path; with a state dict
    or file give `mode` ("LSTM", "GRU", "RNN") and for "RNN" the `nonlinearity`; `prefix`
    selects the module's entries in a larger model's state dict (``"encoder.rnn."``).  Sizes,
    layers, direction and bias come from the weights' names and shapes."""
    if getattr(source, "proj_size", 0):
        raise ValueError(f"layers_from_torch: LSTM proj_size={source.proj_size} has no minirnn counterpart")
    mode = _mode(source if mode is None else mode, getattr(source, "nonlinearity", nonlinearity))
    path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    if path is not None:
        state = read_safetensors(path)
    else:
        state = source.state_dict() if hasattr(source, "state_dict") else source
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        return _layers(state, mode, return_sequences, dtype, prefix)
    except _BadTensor as e:             # a file names the tensor; a state dict from code, the entry
        if path is not None:
            raise ModelFileError(path, f"tensor {prefix + e.name!r}", e.problem) from None
        raise ValueError(f"layers_from_torch: {prefix + e.name}: {e.problem}") from None


def _layers(state, mode, return_sequences, dtype, prefix):
    cls, gates, activation = KINDS[mode]
    layers, k = [], 0
    while f"weight_ih_l{k}" in state:
        halves = []
        for suffix in ("", "_reverse"):
            if f"weight_ih_l{k}{suffix}" not in state:
                continue
            halves.append(_torch_to_layer(state, f"l{k}{suffix}", mode, dtype))
        layers.append(halves)
        k += 1
    if not layers:
        raise _BadTensor("weight_ih_l0", f"missing (prefix {prefix!r}) among {sorted(state)[:8]}")
    out = []
    for k, halves in enumerate(layers):
        weights = halves[0][1]
        n, input_dim = weights[1].shape[0], weights[0].shape[0]
        sequences = return_sequences or k < len(layers) - 1
        layer = cls(n, activation=activation, use_bias=len(weights) == 3, return_sequences=sequences,
                    dtype=dtype, **({"reset_after": True} if cls is GRU else {}))
        if len(halves) == 2:
            layer = Bidirectional(layer, merge_mode="concat")
        layer.build((None, None, input_dim))
        values = [w for _, ws in halves for w in ws]
        for target, value in zip(layer.weights, values, strict=True):
            if target.shape != value.shape:      # the reverse half or the next layer does not fit
                raise _BadTensor(f"weight_ih_l{k}_reverse" if len(halves) == 2 else f"weight_ih_l{k}",
                                 f"a weight of shape {value.shape} (in minirnn's layout) where layer {k} "
                                 f"needs {target.shape}")
            target[...] = value
        out.append(layer)
    return out


def _tensor(state, name, shape, dtype):
    """``state[name]`` as an array of `dtype`, checked to have `shape` (None: any size)."""
    if name not in state:
        raise _BadTensor(name, "missing")
    value = _numpy(state[name])
    if value.dtype.kind not in "biuf" or value.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(value.shape, shape)):
        expected = "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"
        raise _BadTensor(name, f"a {value.dtype} tensor of shape {value.shape}, expected numbers of shape {expected}")
    return value.astype(dtype)


def _torch_to_layer(state, tag, mode, dtype):
    """(tag, [W, U, b?]) in minirnn's layout from one direction of one PyTorch layer."""
    gates = KINDS[mode][1]
    w_ih = _tensor(state, f"weight_ih_{tag}", (None, None), dtype)
    rows = w_ih.shape[0]
    if rows == 0 or rows % gates or w_ih.shape[1] == 0:
        raise _BadTensor(f"weight_ih_{tag}", f"shape {w_ih.shape}: a {mode} layer's is ({gates} x units, inputs)")
    w_hh = _tensor(state, f"weight_hh_{tag}", (rows, rows // gates), dtype)
    has_bias = f"bias_ih_{tag}" in state or f"bias_hh_{tag}" in state
    b_ih, b_hh = ((_tensor(state, f"bias_{m}_{tag}", (rows,), dtype) for m in ("ih", "hh"))
                  if has_bias else (None, None))
    if mode == "GRU":
        w_ih, w_hh = _blocks(w_ih, 3, GRU_TO_KERAS), _blocks(w_hh, 3, GRU_TO_KERAS)
        if has_bias:
            b = np.stack([_blocks(b_ih, 3, GRU_TO_KERAS), _blocks(b_hh, 3, GRU_TO_KERAS)])
    elif has_bias:
        b = b_ih + b_hh
    weights = [np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T)]
    return tag, weights + ([b] if has_bias else [])


def _recurrent_layers(layers):
    """The recurrent layers of a list of layers or a model, each checked to have a PyTorch form."""
    layers = [layer for layer in getattr(layers, "layers", layers) if isinstance(layer, (RNN, Bidirectional))]
    if not layers:
        raise ValueError("torch_state_dict: no SimpleRNN, LSTM, GRU or Bidirectional layer given")
    kinds = set()
    for layer in layers:
        where = f"Layer '{layer.name}' ({type(layer).__name__})"
        if isinstance(layer, Bidirectional) and layer.merge_mode != "concat":
            raise ValueError(f"{where}: merge_mode={layer.merge_mode!r}; PyTorch concatenates the two directions")
        for half in [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) else [layer]:
            cell = half.cell
            if isinstance(half, GRU) and not cell.reset_after:
                raise ValueError(f"{where}: a GRU with reset_after=False has no PyTorch counterpart "
                                 f"(PyTorch's GRU resets after the recurrent product: reset_after=True)")
            activation = half.get_config()["activation"]
            recurrent = half.get_config().get("recurrent_activation", "sigmoid")
            if isinstance(half, SimpleRNN):
                if activation not in ("tanh", "relu"):
                    raise ValueError(f"{where}: activation {activation!r}; nn.RNN has tanh and relu")
                kinds.add(f"RNN_{activation.upper()}")
            elif activation != "tanh" or recurrent != "sigmoid":
                raise ValueError(f"{where}: activation {activation!r} / recurrent_activation {recurrent!r}; "
                                 f"PyTorch's {type(half).__name__} uses tanh / sigmoid")
            else:
                kinds.add(type(half).__name__)
        if not layer.built:
            raise ValueError(f"{where} is not built: call it on data or build(input_shape) first")
    if len(kinds) != 1:
        raise ValueError(f"torch_state_dict: one PyTorch module holds one kind of layer, received {sorted(kinds)}")
    directions = {isinstance(layer, Bidirectional) for layer in layers}
    if len(directions) != 1:
        raise ValueError("torch_state_dict: all layers must be Bidirectional or none (one PyTorch module)")
    return layers, kinds.pop()


def torch_state_dict(layers, prefix=""):
    """``{name: ndarray}`` for ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (``num_layers=len(layers)``,
    ``bidirectional`` if the layers are) from minirnn layers or a model's recurrent layers;
    :func:`torch_module_args` gives the module's constructor arguments."""
    layers, mode = _recurrent_layers(layers)
    state = {}
    for k, layer in enumerate(layers):
        halves = [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) else [layer]
        for half, suffix in zip(halves, ("", "_reverse")):
            w = half.weights
            w_ih, w_hh = w[0].T, w[1].T
            if mode == "GRU":
                w_ih, w_hh = _blocks(w_ih, 3, GRU_TO_KERAS), _blocks(w_hh, 3, GRU_TO_KERAS)
            tag = f"l{k}{suffix}"
            state[f"{prefix}weight_ih_{tag}"] = np.ascontiguousarray(w_ih)
            state[f"{prefix}weight_hh_{tag}"] = np.ascontiguousarray(w_hh)
            if len(w) == 3:
                if mode == "GRU":
                    b_ih, b_hh = _blocks(w[2][0], 3, GRU_TO_KERAS), _blocks(w[2][1], 3, GRU_TO_KERAS)
                else:
                    b_ih, b_hh = w[2], np.zeros_like(w[2])
                state[f"{prefix}bias_ih_{tag}"] = np.ascontiguousarray(b_ih)
                state[f"{prefix}bias_hh_{tag}"] = np.ascontiguousarray(b_hh)
    return state


def torch_module_args(layers):
    """The constructor arguments of the matching PyTorch module: ``(class name, kwargs)``,
    e.g. ``("LSTM", {"input_size": 3, "hidden_size": 8, "num_layers": 2, "bias": True,
    "batch_first": True, "bidirectional": True})``."""
    layers, mode = _recurrent_layers(layers)
    first = layers[0].forward_layer if isinstance(layers[0], Bidirectional) else layers[0]
    kwargs = {"input_size": first.cell.input_dim, "hidden_size": first.units, "num_layers": len(layers),
              "bias": first.cell.use_bias, "batch_first": True,
              "bidirectional": isinstance(layers[0], Bidirectional)}
    if mode.startswith("RNN"):
        kwargs["nonlinearity"] = mode[4:].lower()
        return "RNN", kwargs
    return mode, kwargs


def save_safetensors(layers, filepath, prefix=""):
    """Write :func:`torch_state_dict` as a ``.safetensors`` file (atomically)."""
    from safetensors.numpy import save

    data = save(torch_state_dict(layers, prefix))
    atomic_write(filepath, lambda f: f.write(data))
