"""Conv1D, Conv2D, Conv3D: convolutions (Keras's cross-correlation) as one gather and one matmul.

Conv2D and Conv3D run the N-D form of the same two steps in minirnn/convolution.py; Conv1D,
below, keeps its own 1-D form (with "causal" padding):

With the input padded to xp (see ``_utils.window_padding`` for Keras's "valid",
"same" and "causal" rules), kernel K of shape (k, C, F):

    cols[b, t, j, c] = xp[b, t*s + j*d, c]              (a strided view, no loop)
    a[b, t, f]       = sum_{j,c} cols[b, t, j, c] K[j, c, f] + bias[f]
    y                = activation(a)

Backward, with da from the activation:

    dK    = cols^T da            (cols flattened to (B*T_out, k*C))
    dbias = sum da
    dcols = da K^T,  dxp[b, t*s + j*d, c] += dcols[b, t, j, c]   (one strided slice per tap j)
    dx    = dxp without the padding
"""
import numpy as np

from .. import activations, convolution, initializers
from ._utils import (check_choice, from_channels_last, from_spatial_layout, int_tuple, output_length,
                     positive_int, scatter_windows, serialize_initializer, spatial_layout, to_channels_last,
                     window_padding, windows)
from ._utils import data_format as standardize_data_format
from .base import KernelAndBias, Layer, format_shape


def set_conv_arguments(layer, filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                       use_bias, kernel_initializer, bias_initializer, paddings, size):
    """Check and set the arguments every convolution layer takes; ``size(value, name)`` reads
    kernel_size, strides and dilation_rate (an int for Conv1D, a tuple per axis for Conv2D/3D)."""
    what = f"Layer '{layer.name}' ({type(layer).__name__})"
    layer.filters = positive_int(filters, "filters", layer, allow_tuple=False)
    layer.kernel_size, layer.strides, layer.dilation_rate = (
        size(value, name) for value, name in ((kernel_size, "kernel_size"), (strides, "strides"),
                                              (dilation_rate, "dilation_rate")))
    layer.padding = check_choice(padding, paddings, "padding", layer)
    layer.data_format = standardize_data_format(data_format, layer)
    if np.max(layer.strides) > 1 and np.max(layer.dilation_rate) > 1:
        raise ValueError(f"{what}: strides > 1 not supported in conjunction with dilation_rate > 1. Received: "
                         f"strides={layer.strides} and dilation_rate={layer.dilation_rate}")
    layer.use_bias = bool(use_bias)
    try:
        layer.activation = activations.get(activation, allow_softmax=True)
        layer.kernel_initializer = initializers.get(kernel_initializer)
        layer.bias_initializer = initializers.get(bias_initializer)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def conv_config(layer):
    """The config entries of the arguments :func:`set_conv_arguments` sets."""
    return dict(filters=layer.filters, kernel_size=layer.kernel_size, strides=layer.strides,
                padding=layer.padding, data_format=layer.data_format, dilation_rate=layer.dilation_rate,
                activation=activations.name(layer.activation), use_bias=layer.use_bias,
                kernel_initializer=serialize_initializer(layer.kernel_initializer, layer, "kernel_initializer"),
                bias_initializer=serialize_initializer(layer.bias_initializer, layer, "bias_initializer"))


class Conv1D(KernelAndBias, Layer):
    """``Conv1D(filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
    activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros")``.

    Input (batch, steps, channels) (``channels_first``: (batch, channels, steps)); kernel of
    shape (kernel_size, channels, filters) and bias (filters,), as in Keras.  As in Keras,
    strides > 1 together with dilation_rate > 1 is an error.
    """

    input_ndim = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        set_conv_arguments(self, filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                           use_bias, kernel_initializer, bias_initializer, ("valid", "same", "causal"),
                           lambda value, name: positive_int(value, name, self))

    def _axes(self, shape):
        """(steps, channels) of a (batch, ., .) shape in this layer's data format."""
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2], shape[1])

    def build(self, input_shape):
        if len(input_shape) != 3 or self._axes(input_shape)[1] is None:
            raise ValueError(f"Layer '{self.name}' (Conv1D) expects input of rank 3 with a known channel "
                             f"axis, received {format_shape(input_shape)}")
        self.build_kernel_and_bias((self.kernel_size, self._axes(input_shape)[1], self.filters))

    def compute_output_shape(self, input_shape):
        steps = output_length(self._axes(input_shape)[0], self.kernel_size, self.strides, self.padding,
                              self.dilation_rate)
        if self.data_format == "channels_last":
            return (input_shape[0], steps, self.filters)
        return (input_shape[0], self.filters, steps)

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=3)
        if self.built and self._axes(x.shape)[1] != self.kernel.shape[1]:
            raise ValueError(f"Layer '{self.name}' (Conv1D) expects {self.kernel.shape[1]} input channels "
                             f"({self.data_format}), received shape {x.shape}")
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        batch, length, channels = x.shape
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        left, right, out_len = window_padding(length, k, s, self.padding, d)
        if out_len <= 0:
            raise ValueError(f"Layer '{self.name}' (Conv1D): input of {length} steps is too short for "
                             f"kernel_size={k}, dilation_rate={d} with padding='{self.padding}' "
                             f"(needs at least {(k - 1) * d + 1} steps)")
        xp = np.pad(x, ((0, 0), (left, right), (0, 0))) if left or right else x
        cols = windows(xp, k, s, d, out_len).reshape(batch * out_len, k * channels)   # copies
        a = cols @ self.kernel.reshape(k * channels, self.filters)
        if self.use_bias:
            a += self.bias
        y = activations.apply(a.reshape(batch, out_len, self.filters), self.activation)
        self._cache = (cols, y, length, left, xp.shape[1]) if training else None
        return from_channels_last(y, self.data_format)

    def backward(self, dy):
        cols, y, length, left, padded = self.saved()
        dy = to_channels_last(np.asarray(dy, self.dtype), self.data_format)
        if dy.shape != y.shape:
            expected = from_channels_last(y, self.data_format).shape
            raise ValueError(f"Layer '{self.name}' backward expects a gradient of shape {expected}, "
                             f"received {from_channels_last(dy, self.data_format).shape}")
        batch, out_len, _ = y.shape
        k, channels = self.kernel_size, self.kernel.shape[1]
        da = activations.backprop(y, dy, self.activation).reshape(batch * out_len, self.filters)
        kernel2 = self.kernel.reshape(k * channels, self.filters)
        dkernel = (cols.T @ da).reshape(self.kernel.shape)
        self.grads = [dkernel, da.sum(axis=0)] if self.use_bias else [dkernel]
        dcols = (da @ kernel2.T).reshape(batch, out_len, k, channels)
        dxp = scatter_windows(dcols, padded, self.strides, self.dilation_rate)
        return from_channels_last(np.ascontiguousarray(dxp[:, left:left + length]), self.data_format)

    def get_config(self):
        return {**super().get_config(), **conv_config(self)}


class _Conv(KernelAndBias, Layer):
    """An N-D convolution (see minirnn/convolution.py) over (batch, S..., channels)
    (``channels_first``: (batch, channels, S...)); kernel (k..., channels, filters), as Keras."""

    rank = None

    @property
    def input_ndim(self):
        return self.rank + 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        set_conv_arguments(self, filters, kernel_size, strides, padding, data_format, dilation_rate, activation,
                           use_bias, kernel_initializer, bias_initializer, ("valid", "same"),
                           lambda value, name: int_tuple(value, self.rank, name, self))

    def _frame(self, shape):
        """(spatial sizes, channels) of a (batch, ...) shape in this layer's data format."""
        if self.data_format == "channels_last":
            return tuple(shape[1:-1]), shape[-1]
        return tuple(shape[2:]), shape[1]

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2 or self._frame(input_shape)[1] is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects input of rank {self.rank + 2} "
                             f"with a known channel axis, received {format_shape(input_shape)}")
        self.build_kernel_and_bias(self.kernel_size + (self._frame(input_shape)[1], self.filters))

    def weight_shapes(self, input_shape):
        """The shapes of :attr:`weights` for `input_shape`, without building."""
        kernel = self.kernel_size + (self._frame(input_shape)[1], self.filters)
        return [kernel, (self.filters,)] if self.use_bias else [kernel]

    def compute_output_shape(self, input_shape):
        sizes, _ = self._frame(input_shape)
        out = convolution.output_size(sizes, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (self.filters,)
        return (input_shape[0], self.filters) + out

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=self.rank + 2)
        if self.built and self._frame(x.shape)[1] != self.kernel.shape[-2]:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {self.kernel.shape[-2]} input "
                             f"channels ({self.data_format}), received shape {x.shape}")
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        x = spatial_layout(x, self.data_format)
        geometry = convolution.Geometry(x.shape[1:-1], self.kernel_size, self.strides, self.padding,
                                        self.dilation_rate)
        if min(geometry.out) <= 0:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): input of spatial size "
                             f"{x.shape[1:-1]} is too small for kernel_size={self.kernel_size}, "
                             f"dilation_rate={self.dilation_rate} with padding='{self.padding}'")
        a, cols = convolution.conv(x, self.kernel, geometry)
        if self.use_bias:
            a += self.bias
        y = activations.apply(a, self.activation)
        self._cache = (cols, y, geometry) if training else None
        return from_spatial_layout(y, self.data_format)

    def backward(self, dy):
        cols, y, geometry = self.saved()
        expected = from_spatial_layout(y, self.data_format).shape
        dy = spatial_layout(self.check_gradient(dy, expected), self.data_format)
        da = activations.backprop(y, dy, self.activation)
        dkernel = convolution.conv_kernel_grad(cols, da, self.kernel.shape)
        self.grads = [dkernel, da.reshape(-1, self.filters).sum(axis=0)] if self.use_bias else [dkernel]
        return from_spatial_layout(convolution.conv_input_grad(da, self.kernel, geometry), self.data_format)

    def get_config(self):
        return {**super().get_config(), **conv_config(self)}


class Conv2D(_Conv):
    """``Conv2D(filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
    dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
    bias_initializer="zeros")``: input (batch, rows, cols, channels)."""
    rank = 2


class Conv3D(_Conv):
    """``Conv3D(filters, kernel_size, ...)`` as Conv2D: input (batch, d1, d2, d3, channels)."""
    rank = 3
