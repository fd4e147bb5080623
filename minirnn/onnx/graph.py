"""Building an ONNX graph: unique names, constants, nodes, and the few shape idioms the layers share.

Values are referred to by name (ONNX's way); a :class:`Graph` collects nodes and initializers
and hands out fresh names.  A Scan body is a :meth:`Graph.body`: it shares the name counter (names
stay unique across the model) and reads the outer graph's weights by name.
"""
from typing import NamedTuple

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:                       # the optional extra
    raise ImportError("minirnn.onnx needs the onnx package: pip install 'minirnn[onnx]'") from e

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class Value(NamedTuple):
    """A tensor of the model as the converters see it: its ONNX name, dtype, static shape (None where
    it varies) and the name of its Keras mask (a bool tensor, None when unmasked)."""
    name: str
    dtype: np.dtype
    shape: tuple
    mask: str = None


CONVERTERS = {}           # layer class -> converter(ctx, layer, inputs) -> [(name, mask), ...]


def converts(*classes):
    """Register a converter for exactly these layer classes (a subclass may change call(), so it
    is not assumed to compute the same thing)."""
    def register(function):
        for cls in classes:
            CONVERTERS[cls] = function
        return function
    return register


def tensor_type(dtype):
    """The TensorProto element type of a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Graph:
    """Nodes and initializers of one ONNX graph (or Scan body), with fresh names on demand."""

    def __init__(self, opset, names=None, constants=None):
        self.opset = opset
        self.nodes, self.initializers = [], []
        self._taken = names if names is not None else set()
        self._constants = constants if constants is not None else {}

    def fresh(self, hint):
        """A name not used anywhere in the model, close to `hint`."""
        base = hint.replace(" ", "_") or "v"
        name, k = base, 1
        while name in self._taken:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        return name

    def body(self):
        """A graph for a Scan body: its own nodes, the model's names and constants table."""
        return Graph(self.opset, self._taken, {})

    # -- values ------------------------------------------------------------------------
    def weight(self, array, hint):
        """An initializer holding `array` (a weight, or any constant array)."""
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))    # 0-d stays 0-d
        return name

    def const(self, value, dtype):
        """A small constant, shared by every use of the same value and dtype."""
        array = np.asarray(value, dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.weight(array, f"const_{array.dtype.name}")
        return self._constants[key]

    def ints(self, values):
        """An int64 constant (axes, shapes, slice bounds)."""
        return self.const(list(values), np.int64)

    def op(self, op_type, inputs, hint=None, outputs=1, **attributes):
        """Add a node; returns its output name (or the list of `outputs` names when > 1).
        An empty string in `inputs` marks an optional input left out."""
        names = [self.fresh(f"{hint or op_type}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{hint or op_type}_node"),
                                           **{k: v for k, v in attributes.items() if v is not None}))
        return names[0] if outputs == 1 else names

    # -- idioms ----------------------------------------------------------------------
    def cast(self, x, dtype, from_dtype=None):
        if from_dtype is not None and np.dtype(from_dtype) == np.dtype(dtype):
            return x
        return self.op("Cast", [x], "cast", to=tensor_type(dtype))

    def transpose(self, x, perm):
        return self.op("Transpose", [x], "transpose", perm=list(perm))

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.ints(axes)], "unsqueeze")

    def squeeze(self, x, axes):
        return self.op("Squeeze", [x, self.ints(axes)], "squeeze")

    def reduce(self, op_type, x, axes, keepdims):
        """ReduceSum takes its axes as an input from opset 13, the others from opset 18."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)] if axes is not None else [x], op_type, keepdims=int(keepdims))
        return self.op(op_type, [x], op_type, keepdims=int(keepdims), axes=None if axes is None else list(axes))

    def reverse(self, x, axis):
        """x read backwards along `axis`."""
        return self.op("Slice", [x, self.ints([-1]), self.ints([INT64_MIN]), self.ints([axis]), self.ints([-1])],
                       "reverse")

    def dims(self, x, start, end=None):
        """The 1-D int64 tensor shape(x)[start:end]."""
        return self.op("Shape", [x], "shape", start=start, end=end)

    def zeros(self, like, width, dtype):
        """zeros (batch, width) with `like`'s batch size."""
        shape = self.op("Concat", [self.dims(like, 0, 1), self.ints([width])], "zeros_shape", axis=0)
        return self.op("ConstantOfShape", [shape], "zeros", value=numpy_helper.from_array(np.zeros(1, dtype)))

    def activation(self, x, code, dtype):
        """y = f(x) for a minirnn activation code (see minirnn.activations)."""
        from .. import activations as A

        if code == A.TANH:
            return self.op("Tanh", [x], "tanh")
        if code == A.SIGMOID:
            return self.op("Sigmoid", [x], "sigmoid")
        if code == A.RELU:
            return self.op("Relu", [x], "relu")
        if code == A.HARD_SIGMOID:             # clip(x / 6 + 1/2, 0, 1), written out: HardSigmoid has no float64 kernel
            a = self.op("Add", [self.op("Mul", [x, self.const(1 / 6, dtype)]), self.const(0.5, dtype)])
            return self.op("Clip", [a, self.const(0, dtype), self.const(1, dtype)], "hard_sigmoid")
        if code == A.SOFTMAX:
            return self.op("Softmax", [x], "softmax", axis=-1)
        return x


def value_info(name, dtype, shape):
    """A graph input or output declaration; None axes are named ``batch`` (axis 0) or left free."""
    dims = [d if d is not None else ("batch" if k == 0 else None) for k, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, tensor_type(dtype), dims)


def make_model(graph, inputs, outputs, name, opset, doc):
    """The ModelProto of `graph` with the given input and output declarations."""
    proto = helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(proto, opset_imports=opsets, producer_name="minirnn", doc_string=doc)
    model.ir_version = helper.find_min_ir_version_for(opsets)      # the oldest runtimes that know the opset read it
    return model


__all__ = ["Graph", "Value", "CONVERTERS", "converts", "value_info", "make_model", "tensor_type", "onnx", "TensorProto", "helper", "numpy_helper"]
