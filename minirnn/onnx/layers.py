"""The non-recurrent layers as ONNX nodes, each beside the mask rule of its ``compute_mask``.

Every converter takes the layer's input :class:`~minirnn.onnx.graph.Value` list (already cast to
the layer's dtype, as ``check_input`` casts) and returns one ``(name, mask)`` per output.  A mask
is a bool tensor one rank below its value ((batch, time) for a sequence), as minirnn's masks are.
"""
import numpy as np

from ..layers import (Add, Average, Concatenate, Conv1D, Dense, Dot, Dropout, Embedding, Flatten,
                      GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, Maximum, MaxPooling1D, Minimum,
                      Multiply, Permute, RepeatVector, Rescaling, Reshape, Subtract, TimeDistributed)
from ..layers._utils import window_padding
from .graph import CONVERTERS, Value, converts, numpy_helper


@converts(Dense)
def convert_dense(ctx, layer, inputs):
    """y = activation(x W + b) on the last axis; the mask passes (per-step on sequences)."""
    g, x = ctx.g, inputs[0]
    a = g.op("MatMul", [x.name, ctx.weight((layer, "kernel"), lambda: layer.kernel, f"{layer.name}/kernel")],
             layer.name)
    if layer.use_bias:
        a = g.op("Add", [a, ctx.weight((layer, "bias"), lambda: layer.bias, f"{layer.name}/bias")])
    return [(g.activation(a, layer.activation, layer.dtype), x.mask)]


def _window_attributes(layer, window, dilation=1):
    """Conv / MaxPool padding.  Keras's "same" is ONNX's SAME_UPPER (the odd pad at the end); with
    stride 1 its pads do not depend on the length and are written out (onnxruntime refuses
    SAME_UPPER with dilation, which Keras allows only with stride 1)."""
    if layer.padding == "same" and layer.strides > 1:
        return dict(auto_pad="SAME_UPPER")
    left, right, _ = window_padding(window, window, 1, layer.padding, dilation)   # "causal": (k - 1) d on the left
    return dict(pads=[left, right])


def _channels_first(g, x, layer):
    return x if layer.data_format == "channels_first" else g.transpose(x, (0, 2, 1))


def _from_channels_first(g, y, layer):
    return y if layer.data_format == "channels_first" else g.transpose(y, (0, 2, 1))


@converts(Conv1D)
def convert_conv1d(ctx, layer, inputs):
    """ONNX Conv is channels-first with kernel (filters, channels, k): Keras's (k, channels, filters)
    transposed.  The activation (softmax over filters) runs before the layout is restored.
    onnxruntime has no float64 Conv, so float64 layers are written tap by tap (:func:`_conv_by_taps`)."""
    g = ctx.g
    if np.dtype(layer.dtype) != np.float32:
        return [(_conv_by_taps(ctx, layer, inputs[0].name), None)]
    x = _channels_first(g, inputs[0].name, layer)
    W = ctx.weight((layer, "kernel"), lambda: layer.kernel.transpose(2, 1, 0), f"{layer.name}/kernel")
    ins = [x, W] + ([ctx.weight((layer, "bias"), lambda: layer.bias, f"{layer.name}/bias")] if layer.use_bias else [])
    a = g.op("Conv", ins, layer.name, kernel_shape=[layer.kernel_size], strides=[layer.strides],
             dilations=[layer.dilation_rate], **_window_attributes(layer, layer.kernel_size, layer.dilation_rate))
    from .. import activations as A
    y = g.op("Softmax", [a], "softmax", axis=1) if layer.activation == A.SOFTMAX else \
        g.activation(a, layer.activation, layer.dtype)
    return [(_from_channels_first(g, y, layer), None)]


def _conv_by_taps(ctx, layer, x):
    """a[b, t] = sum_j xp[b, t s + j d] K[j] + bias (the module docstring of layers/conv.py), xp the
    input padded by Keras's rule, which for "same" depends on the length: computed in the graph."""
    g, dt = ctx.g, layer.dtype
    k, s, d = layer.kernel_size, layer.strides, layer.dilation_rate
    span = (k - 1) * d + 1
    x = x if layer.data_format == "channels_last" else g.transpose(x, (0, 2, 1))       # (B, L, C)
    if layer.padding == "same":             # out = ceil(L / s), total = max((out - 1) s + span - L, 0)
        length = g.dims(x, 1, 2)
        out = g.op("Div", [g.op("Add", [length, g.ints([s - 1])]), g.ints([s])])
        total = g.op("Max", [g.op("Sub", [g.op("Add", [g.op("Mul", [g.op("Sub", [out, g.ints([1])]), g.ints([s])]),
                                                      g.ints([span])]), length]), g.ints([0])])
        left = g.op("Div", [total, g.ints([2])])
        pads = g.op("Concat", [g.ints([0]), left, g.ints([0, 0]), g.op("Sub", [total, left]), g.ints([0])], axis=0)
        x = g.op("Pad", [x, pads], "pad")
    elif layer.padding == "causal":
        x = g.op("Pad", [x, g.ints([0, span - 1, 0, 0, 0, 0])], "pad")
    steps = g.op("Sub", [g.dims(x, 1, 2), g.ints([span])])          # (out - 1) s = floor((P - span) / s) s
    reach = g.op("Mul", [g.op("Div", [steps, g.ints([s])]), g.ints([s])])
    kernel = layer.kernel
    a = None
    for j in range(k):
        end = g.op("Add", [reach, g.ints([j * d + 1])])
        tap = g.op("Slice", [x, g.ints([j * d]), end, g.ints([1]), g.ints([s])], "tap")          # (B, out, C)
        term = g.op("MatMul", [tap, ctx.weight((layer, f"tap{j}"), lambda j=j: kernel[j], f"{layer.name}/kernel_{j}")])
        a = term if a is None else g.op("Add", [a, term])
    if layer.use_bias:
        a = g.op("Add", [a, ctx.weight((layer, "bias"), lambda: layer.bias, f"{layer.name}/bias")])
    y = g.activation(a, layer.activation, dt)
    return y if layer.data_format == "channels_last" else g.transpose(y, (0, 2, 1))


@converts(MaxPooling1D)
def convert_max_pooling(ctx, layer, inputs):
    g = ctx.g
    x = _channels_first(g, inputs[0].name, layer)
    y = g.op("MaxPool", [x], layer.name, kernel_shape=[layer.pool_size], strides=[layer.strides],
             **_window_attributes(layer, layer.pool_size))
    return [(_from_channels_first(g, y, layer), None)]


@converts(GlobalAveragePooling1D)
def convert_global_average(ctx, layer, inputs):
    """Mean over the steps; with a mask m, y = sum_t m_t x_t / max(sum_t m_t, 1)."""
    g, x = ctx.g, inputs[0]
    axis = layer.steps_axis
    if x.mask is None:
        return [(g.reduce("ReduceMean", x.name, [axis], layer.keepdims), None)]
    m = g.unsqueeze(g.cast(x.mask, layer.dtype), [2 if axis == 1 else 1])
    total = g.reduce("ReduceSum", g.op("Mul", [x.name, m]), [axis], True)
    count = g.op("Max", [g.reduce("ReduceSum", m, [axis], True), g.const(1, layer.dtype)])
    y = g.op("Div", [total, count], layer.name)
    return [(y if layer.keepdims else g.squeeze(y, [axis]), None)]


@converts(GlobalMaxPooling1D)
def convert_global_max(ctx, layer, inputs):
    return [(ctx.g.reduce("ReduceMax", inputs[0].name, [layer.steps_axis], layer.keepdims), None)]


@converts(Embedding)
def convert_embedding(ctx, layer, inputs):
    """Rows of the table by id (Gather); with mask_zero the mask is ids != 0."""
    g, x = ctx.g, inputs[0]
    table = ctx.weight((layer, "embeddings"), lambda: layer.embeddings, f"{layer.name}/embeddings")
    y = g.op("Gather", [table, g.cast(x.name, np.int64, x.dtype)], layer.name, axis=0)
    mask = None
    if layer.mask_zero:
        mask = g.op("Not", [g.op("Equal", [x.name, g.const(0, x.dtype)])], f"{layer.name}/mask")
    return [(y, mask)]


@converts(Masking)
def convert_masking(ctx, layer, inputs):
    """keep = any(x != mask_value, -1); y = x where keep, else 0; the output mask is keep."""
    g, x = ctx.g, inputs[0]
    differs = g.cast(g.op("Not", [g.op("Equal", [x.name, g.const(layer.mask_value, layer.dtype)])]), layer.dtype)
    keep = g.cast(g.reduce("ReduceMax", differs, [-1], True), np.bool_)
    y = g.op("Where", [keep, x.name, g.const(0, layer.dtype)], layer.name)
    return [(y, g.squeeze(keep, [-1]))]


@converts(Dropout)
def convert_dropout(ctx, layer, inputs):
    """Inference: the identity."""
    return [(inputs[0].name, inputs[0].mask)]


@converts(Rescaling)
def convert_rescaling(ctx, layer, inputs):
    g, x = ctx.g, inputs[0]
    y = g.op("Add", [g.op("Mul", [x.name, g.const(layer.scale, layer.dtype)]), g.const(layer.offset, layer.dtype)],
             layer.name)
    return [(y, x.mask)]


@converts(Flatten)
def convert_flatten(ctx, layer, inputs):
    g, x = ctx.g, inputs[0]
    name = x.name
    rank = len(x.shape)
    if layer.data_format == "channels_first" and rank > 2:          # channels moved last first, as Keras
        name = g.transpose(name, (0, *range(2, rank), 1))
    return [(g.op("Flatten", [name], layer.name, axis=1), None)]


@converts(Reshape)
def convert_reshape(ctx, layer, inputs):
    # 0 copies the batch size (allowzero=0); -1 is inferred, as in NumPy
    return [(ctx.g.op("Reshape", [inputs[0].name, ctx.g.ints((0,) + layer.target_shape)], layer.name), None)]


@converts(Permute)
def convert_permute(ctx, layer, inputs):
    return [(ctx.g.transpose(inputs[0].name, (0,) + layer.dims), None)]


@converts(RepeatVector)
def convert_repeat_vector(ctx, layer, inputs):
    g = ctx.g
    return [(g.op("Tile", [g.unsqueeze(inputs[0].name, [1]), g.ints([1, layer.n, 1])], layer.name), None)]


@converts(TimeDistributed)
def convert_time_distributed(ctx, layer, inputs):
    """The wrapped layer on x folded to (batch * time, ...), unfolded after; the mask passes."""
    g, x = ctx.g, inputs[0]
    fold = lambda v: g.op("Reshape", [v, g.op("Concat", [g.ints([-1]), g.dims(v, 2)], axis=0)], "fold")  # noqa: E731
    inner = layer.layer
    inner_mask = fold(x.mask) if x.mask is not None and ctx.takes_mask(inner) else None
    folded = Value(fold(x.name), x.dtype, (None,) + tuple(x.shape[2:]), inner_mask)
    (y, _), *_ = ctx.convert_layer(inner, [folded])
    shape = g.op("Concat", [g.dims(x.name, 0, 2), g.dims(y, 1)], "unfold_shape", axis=0)
    return [(g.op("Reshape", [y, shape], layer.name), x.mask)]


# -- merging ------------------------------------------------------------------------------
def _merged_mask(g, inputs):
    """Element-wise merges: the OR of the input masks when every input has one."""
    if any(v.mask is None for v in inputs):
        return None
    mask = inputs[0].mask
    for v in inputs[1:]:
        mask = g.op("Or", [mask, v.mask])
    return mask


def _chain(op_type):
    def convert(ctx, layer, inputs):
        g = ctx.g
        y = inputs[0].name
        for v in inputs[1:]:
            y = g.op(op_type, [y, v.name], layer.name)
        return [(y, _merged_mask(g, inputs))]
    return convert


converts(Add)(_chain("Add"))
converts(Subtract)(_chain("Sub"))
converts(Multiply)(_chain("Mul"))


@converts(Average)
def convert_average(ctx, layer, inputs):
    (total, mask), = _chain("Add")(ctx, layer, inputs)
    return [(ctx.g.op("Div", [total, ctx.g.const(len(inputs), layer.dtype)], layer.name), mask)]


@converts(Maximum, Minimum)
def convert_extremum(ctx, layer, inputs):
    op_type = "Max" if isinstance(layer, Maximum) else "Min"
    return [(ctx.g.op(op_type, [v.name for v in inputs], layer.name), _merged_mask(ctx.g, inputs))]


@converts(Concatenate)
def convert_concatenate(ctx, layer, inputs):
    """Keras's mask rule: per step, whether any concatenated part is unmasked (a part without a
    mask counts as unmasked).  Along the feature axis that is the OR; along another, the join."""
    g = ctx.g
    rank = len(inputs[0].shape)
    axis = layer.axis % rank
    y = g.op("Concat", [v.name for v in inputs], layer.name, axis=axis)
    if all(v.mask is None for v in inputs):
        return [(y, None)]

    def ones(v):
        return g.op("ConstantOfShape", [g.dims(v.name, 0, rank - 1)], "ones", value=numpy_helper.from_array(np.ones(1, bool)))
    masks = [v.mask if v.mask is not None else ones(v) for v in inputs]
    if axis == rank - 1:
        mask = masks[0]
        for m in masks[1:]:
            mask = g.op("Or", [mask, m])
    else:
        mask = g.op("Concat", masks, f"{layer.name}/mask", axis=axis)
    return [(y, mask)]


@converts(Dot)
def convert_dot(ctx, layer, inputs):
    """Batch-wise dot product as an Einsum: x1's other axes, then x2's (a lone batch axis gets a 1)."""
    g = ctx.g
    shapes = [v.shape for v in inputs]
    a1, a2 = layer._resolved(shapes)
    names = [v.name for v in inputs]
    if layer.normalize:                    # x / sqrt(max(sum x^2, eps)) along the contracted axis
        names = [g.op("Div", [n, g.op("Sqrt", [g.op("Max", [g.reduce("ReduceSum", g.op("Mul", [n, n]), [a], True),
                                                             g.const(layer.EPSILON, layer.dtype)])])])
                 for n, a in zip(names, (a1, a2))]
    letters = iter("cdefghijlmnopqrstuvwxyz")
    t1 = ["b"] + ["k" if k == a1 else next(letters) for k in range(1, len(shapes[0]))]
    t2 = ["b"] + ["k" if k == a2 else next(letters) for k in range(1, len(shapes[1]))]
    rest = [c for c in t1[1:] + t2[1:] if c != "k"]
    equation = f"{''.join(t1)},{''.join(t2)}->b{''.join(rest)}"
    y = g.op("Einsum", names, layer.name, equation=equation)
    return [(y if rest else g.unsqueeze(y, [1]), None)]


__all__ = ["CONVERTERS"]
