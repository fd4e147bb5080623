"""Symbolic tensors and nodes: what calling a layer on ``Input(...)`` records.

    inputs = Input(shape=(None, 1))      a KerasTensor: shape (None, None, 1), dtype, no data
    x = LSTM(16)(inputs)                 calling a layer on symbolic tensors records a Node

``Layer.__call__`` hands a call on symbolic tensors to :func:`call_symbolic`, which builds the
layer from the tensors' shapes and records the call; so this module sits below the layers and
knows them only through the methods every layer has.  The graph these nodes form (its order,
running it forward and backward, its config) is :mod:`minirnn.functional`'s, above the layers.
"""
import numpy as np

from . import budget
from .utils import format_shape


class MaskedArray(np.ndarray):
    """A layer's output called eagerly, with the mask Keras attaches to it (``_keras_mask``, one
    bool per sample and time step); the next layer called on it receives the mask."""

    def __array_finalize__(self, obj):
        self._keras_mask = None          # results computed from it carry no mask


def with_mask(y, mask):
    """`y` (a view) carrying `mask` as ``_keras_mask``."""
    out = y.view(MaskedArray)
    out._keras_mask = mask
    return out


class KerasTensor:
    """A symbolic tensor: the shape (batch axis first, ``None`` where unknown) and dtype of a
    value that the graph will compute, and the node (layer call) that computes it."""

    is_symbolic = True
    __slots__ = ("shape", "dtype", "node", "index", "_keras_mask")

    def __init__(self, shape, dtype, node=None, index=0):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = "string" if dtype in ("string", "str", object) else np.dtype(dtype).name
        self.node = node            # the Node whose output this is
        self.index = index          # which of that node's outputs
        self._keras_mask = None     # the symbolic mask that travels with it, if any

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def name(self):
        return self.node.layer.name if self.node is not None else "keras_tensor"

    @property
    def keras_history(self):
        """(layer, node index, tensor index), as Keras names a tensor: ``lstm[1][0]``."""
        return self.node.layer, self.node.layer._inbound_nodes.index(self.node), self.index

    def history_name(self):
        layer, node_index, index = self.keras_history
        return f"{layer.name}[{node_index}][{index}]"

    def __repr__(self):
        return f"<KerasTensor shape={format_shape(self.shape)}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic (from Input(...)): it has no values. Build a model with "
                        f"Model(inputs, outputs) and call the model on arrays")


class Node:
    """One call of a layer on symbolic tensors: its inputs and the tensors it outputs."""

    def __init__(self, layer, inputs, single, output_shape, kwargs=None, n_states=0, n_masks=0):
        self.layer = layer
        self.inputs = list(inputs)          # KerasTensors, in call order (initial states last)
        self.single = single                # called on one tensor, not on a list
        self.kwargs = dict(kwargs or {})
        self.n_states = n_states            # a recurrent layer's symbolic initial_state tensors
        self.n_masks = n_masks              # 1: a symbolic mask= tensor, the last input
        shapes = _flat_shapes(output_shape)
        self.multi_output = isinstance(output_shape, list)
        self._structure = output_shape      # a list may nest lists (a stack of cells' states)
        dtype = getattr(layer, "output_dtype", None) or layer.dtype
        self.outputs = [KerasTensor(shape, dtype, self, k) for k, shape in enumerate(shapes)]
        # While a file loads, what the outputs take for a batch of one (other unknown sizes as
        # budget.UNKNOWN_SIZE) comes from the file's budget: a config cannot ask for outputs
        # larger than its file allows.
        budget.charge(sum(budget.shape_bytes(t.shape, dtype, batch=True) for t in self.outputs),
                      f"Layer '{layer.name}' ({type(layer).__name__}): a call whose output "
                      f"{', '.join(format_shape(t.shape) for t in self.outputs)}, for a batch of one (unknown "
                      f"steps counted as {budget.UNKNOWN_SIZE}),")
        layer._inbound_nodes.append(self)

    @property
    def parents(self):
        return [t.node for t in self.inputs]

    def output_structure(self):
        if not self.multi_output:
            return self.outputs[0]
        tensors = iter(self.outputs)

        def pack(structure):
            return [pack(item) for item in structure] if isinstance(structure, list) else next(tensors)
        return pack(self._structure)


def _flat_shapes(output_shape):
    """The shapes of a layer's outputs in order: a list of outputs may hold lists of them."""
    if isinstance(output_shape, list):
        return [shape for item in output_shape for shape in _flat_shapes(item)]
    return [output_shape]


def call_symbolic(layer, inputs, args, kwargs):
    """``layer(inputs)`` on symbolic tensors: build the layer from their shapes, record a Node
    and return its output tensor(s)."""
    what = f"Layer '{layer.name}' ({type(layer).__name__})"
    if getattr(layer, "is_input_layer", False):
        raise ValueError(f"{what} cannot be called on a tensor; Input(...) is already a tensor")
    single = isinstance(inputs, KerasTensor)
    flat = [inputs] if single else list(inputs.values() if isinstance(inputs, dict) else inputs)
    for t in flat:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"{what} was called on a mix of symbolic tensors and {type(t).__name__}; "
                             f"in a functional model every input of a layer comes from Input(...) or "
                             f"another layer")
    text = next((t for t in flat if t.dtype == "string"), None)
    if text is not None and not getattr(layer, "reads_strings", not type(layer).__module__.startswith("minirnn.")):
        # As Keras refuses it while the model is built, not at its first predict.
        raise ValueError(f"{what} takes numbers, received a string tensor of shape {format_shape(text.shape)}; "
                         f"turn text into numbers first (StringLookup, TextVectorization)")
    if args:
        raise ValueError(f"{what}: on symbolic tensors only keyword arguments are supported, "
                         f"received {len(args)} positional argument(s) after the inputs")
    static, states, masks = {}, [], []
    for key, value in kwargs.items():
        if key == "training":
            continue
        if key == "initial_state" and _has_symbolic(value) and single:
            states = [value] if isinstance(value, KerasTensor) else list(value)
            if not hasattr(layer, "initial_state_grads") or not all(isinstance(t, KerasTensor) for t in states):
                raise ValueError(f"{what}: a symbolic initial_state needs a recurrent layer (SimpleRNN, LSTM, "
                                 f"GRU) and a list of symbolic tensors, received {value!r}")
            continue
        if _has_symbolic(value) and key != "mask":
            raise ValueError(f"{what}: the argument {key}= cannot be a symbolic tensor in a functional "
                             f"model (only the first argument can)")
        if key == "mask" and isinstance(value, KerasTensor) and single:
            masks = [value]                  # an explicit mask: an input of the node, like Keras's
            continue
        if key == "mask" and value is not None:
            raise ValueError(f"{what}: mask= on symbolic tensors must be one symbolic tensor "
                             f"(batch, time), received {value!r}")
        static[key] = value
    shape = flat[0].shape if single else [t.shape for t in flat]
    ndim = getattr(layer, "input_ndim", None)
    if single and ndim is not None and len(shape) != ndim:        # as a call on arrays would say
        raise ValueError(f"{what} expects input of rank {ndim}{layer.rank_meaning(ndim)}, received a tensor "
                         f"of shape {format_shape(shape)}")
    if single:
        built = getattr(layer, "build_input_shape", None) if layer.built else None
        if built is not None and all(isinstance(d, (int, type(None))) for d in built):
            # A shared layer: the feature axis must match; all axes when the ranks do.
            pairs = zip(shape[1:], built[1:]) if len(built) == len(shape) else [(shape[-1], built[-1])]
            for got, want in pairs:
                if got is not None and want is not None and got != want:
                    raise ValueError(f"{what} was built for inputs of shape {format_shape(built)}, "
                                     f"received a tensor of shape {format_shape(shape)}")
    layer.__dict__["_input_dtype"] = flat[0].dtype      # what a layer probes its call with
    layer.ensure_built(shape)
    output_shape = layer.compute_output_shape(shape)
    node = Node(layer, flat + states + masks, single, output_shape, static, len(states), len(masks))
    if single and not node.multi_output:
        node.outputs[0]._keras_mask = _symbolic_mask(layer, flat[0], masks[0] if masks else flat[0]._keras_mask,
                                                     node.outputs[0])
    return node.output_structure()


def _symbolic_mask(layer, tensor, in_mask, out):
    """The symbolic ``_keras_mask`` of a layer's output: whether the layer gives a mask is asked of
    its compute_mask on a probe of zeros (2 wherever a size is unknown)."""
    if getattr(layer, "_steps", None) is not None or tensor.dtype == "string" or len(out.shape) < 2:
        return None
    try:
        probe = np.zeros([2 if d is None else d for d in tensor.shape], tensor.dtype)
        mask = None if in_mask is None else np.ones(probe.shape[:2], bool)
        found = layer.compute_mask(probe, mask)
    except Exception:                   # noqa: BLE001  a mask it cannot compute on zeros: none shown
        return None
    return None if found is None else KerasTensor(out.shape[:2], "bool")


def _has_symbolic(value):
    if isinstance(value, (list, tuple)):
        return any(_has_symbolic(v) for v in value)
    if isinstance(value, dict):
        return any(_has_symbolic(v) for v in value.values())
    return isinstance(value, KerasTensor)
