"""From a minirnn model to an ONNX ModelProto: walk the graph's nodes in order, convert each call.

Each Keras tensor of the model becomes a :class:`Value` (ONNX name, dtype, static shape, mask);
a layer's inputs are cast to its dtype first (as ``check_input`` casts); a nested model is
inlined; Lambda layers are traced (:mod:`.lambdas`).  Everything is checked before any node is
made, so a model with a layer that has no ONNX form is refused whole, naming every such layer.
"""
import numpy as np

from ..layers import Bidirectional, Embedding, Lambda, TimeDistributed
from ..layers.rnn import RNN
from ..models import Model, _takes_mask_of
from . import lambdas, recurrent
from . import layers  # noqa: F401  (imported for its converters, registered in CONVERTERS)
from .graph import CONVERTERS, Graph, Value, helper, make_model, onnx, value_info

DEFAULT_OPSET = 17
MASK_PADDINGS = ("any", "right")
RECURRENT_FORMS = ("auto", "scan")


class Context:
    """What the converters share: the graph, the export options, and the weights already written
    (a layer called twice writes its weights once)."""

    def __init__(self, opset, mask_padding, recurrent_form):
        self.g = Graph(opset)
        self.mask_padding = mask_padding
        self.scan_only = recurrent_form == "scan"
        self._weights = {}

    def weight(self, key, make, hint):
        """The initializer for `key` = (layer, what), made by ``make()`` on first use."""
        key = (id(key[0]), key[1])
        if key not in self._weights:
            self._weights[key] = self.g.weight(np.asarray(make()), hint)
        return self._weights[key]

    takes_mask = staticmethod(_takes_mask_of)

    def convert_layer(self, layer, inputs):
        """[(name, mask)] of one call of `layer` on `inputs` (Values), inputs cast to its dtype."""
        if isinstance(layer, Model):
            return inline(self, layer, inputs)
        if isinstance(layer, Lambda):
            x = self.cast(inputs[0], layer.dtype)
            return [(lambdas.convert(self, layer, x), None)]
        if not isinstance(layer, Embedding):
            inputs = [self.cast(v, layer.dtype) for v in inputs]
        return CONVERTERS[type(layer)](self, layer, inputs)

    def cast(self, value, dtype):
        dtype = np.dtype(dtype)
        if value.dtype == dtype:
            return value
        return value._replace(name=self.g.cast(value.name, dtype), dtype=dtype)


def _values_of(tensors, converted):
    return [Value(name, np.dtype(t.dtype), t.shape, mask) for t, (name, mask) in zip(tensors, converted)]


def run_nodes(ctx, model, values):
    """Convert every node of `model`; `values` maps id(Keras tensor) -> Value, inputs filled in."""
    for node in model._nodes:
        inputs = [values[id(t)] for t in node.inputs]
        outputs = ctx.convert_layer(node.layer, inputs)
        for t, value in zip(node.outputs, _values_of(node.outputs, outputs)):
            values[id(t)] = value


def inline(ctx, model, inputs):
    """A nested model's nodes, spliced in: its inputs are the outer values (cast to its inputs' dtypes)."""
    values = {id(t): ctx.cast(v, t.dtype) for t, v in zip(model._input_tensors, inputs)}
    run_nodes(ctx, model, values)
    return [(values[id(t)].name, values[id(t)].mask) for t in model._output_tensors]


# -- what cannot be exported, all of it named before anything is built ------------------------
def refusals(model):
    """["layer 'name' (Class): why", ...] for every layer of `model` that has no ONNX form."""
    problems = []

    def label(layer):
        return f"layer '{layer.name}' ({type(layer).__name__})"

    def check(layer, input_shapes, single):
        if isinstance(layer, Model):
            for node in layer._nodes:
                check(node.layer, [t.shape for t in node.inputs], node.single)
            return
        if type(layer) not in CONVERTERS and not isinstance(layer, Lambda):
            problems.append(f"{label(layer)}: no ONNX form for this class (exportable: "
                            f"{', '.join(sorted({c.__name__ for c in CONVERTERS} | {'Lambda'}))})")
            return
        if isinstance(layer, RNN):
            why = recurrent.refusal(layer)
            if why:
                problems.append(f"{label(layer)}: {why}")
        elif isinstance(layer, Bidirectional):
            for half in (layer.forward_layer, layer.backward_layer):
                check(half, input_shapes, single)
        elif isinstance(layer, TimeDistributed):
            shape = input_shapes[0]
            check(layer.layer, [(None,) + tuple(shape[2:])], True)
        elif isinstance(layer, Lambda):
            if not single:
                problems.append(f"{label(layer)}: called on a list of tensors; only one-input Lambdas export")
                return
            try:
                lambdas.check(layer, input_shapes[0])
            except lambdas.NotTraceable as e:
                problems.append(f"{label(layer)}: {e}")

    check(model, None, True)
    return problems


def _unique(names):
    seen, out = {}, []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out


def to_onnx(model, opset=DEFAULT_OPSET, mask_padding="any", recurrent_form="auto"):
    """The ONNX ModelProto of a built minirnn model (Sequential or functional); see :func:`export`."""
    if not isinstance(model, Model):
        raise ValueError(f"ONNX export takes a minirnn Model or Sequential, received {type(model).__name__}")
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built, so it has no weights to export: "
                         f"call it on data or build(input_shape) first")
    if mask_padding not in MASK_PADDINGS:
        raise ValueError(f"mask_padding must be one of {MASK_PADDINGS}, received {mask_padding!r}")
    if recurrent_form not in RECURRENT_FORMS:
        raise ValueError(f"recurrent_form must be one of {RECURRENT_FORMS}, received {recurrent_form!r}")
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not DEFAULT_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an int from {DEFAULT_OPSET} to {newest} (this onnx package's newest), "
                         f"received {opset!r}")
    problems = refusals(model)
    if problems:
        raise ValueError(f"Model '{model.name}' cannot be exported to ONNX: " + "; ".join(problems))
    ctx = Context(opset, mask_padding, recurrent_form)
    model._graph()
    values = {}
    inputs = []
    for t, name in zip(model._input_tensors, model.input_names):
        dtype = np.dtype(t.dtype)
        values[id(t)] = Value(name, dtype, t.shape, None)
        inputs.append(value_info(name, dtype, t.shape))
        ctx.g._taken.add(name)
    output_names = _unique(model.output_names)
    ctx.g._taken.update(output_names)
    run_nodes(ctx, model, values)
    outputs = []
    for t, name in zip(model._output_tensors, output_names):
        v = values[id(t)]
        ctx.g.nodes.append(helper.make_node("Identity", [v.name], [name], name=f"{name}_output"))
        outputs.append(value_info(name, v.dtype, t.shape))
    doc = f"minirnn model '{model.name}': {', '.join(type(layer).__name__ for layer in model.layers)}"
    return make_model(ctx.g, inputs, outputs, model.name, opset, doc)


__all__ = ["to_onnx", "refusals", "DEFAULT_OPSET"]
