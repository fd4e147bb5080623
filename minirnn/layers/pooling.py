"""Pooling over the time axis: MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D.

MaxPooling1D gathers windows with the same strided view as Conv1D (padding with
-inf for "same", so padding never wins) and routes each output's gradient to
the first maximum of its window, as TensorFlow's MaxPoolGrad does.

GlobalAveragePooling1D with a mask m (batch, steps), as Keras:
    y = sum_t m_t x_t / sum_t m_t,     dx_t = m_t dy / sum_t m_t
(a sample whose steps are all masked gives 0 where Keras gives 0/0 = NaN).

GlobalMaxPooling1D: y = max_t x_t; like tf.reduce_max, tied maxima share the
gradient equally.  It ignores masks, as Keras's does.
"""
import numpy as np

from .. import convolution
from ._utils import (check_choice, from_channels_last, from_spatial_layout, int_tuple, output_length,
                     positive_int, scatter_windows, spatial_layout, to_channels_last, window_padding, windows)
from ._utils import data_format as standardize_data_format
from .base import Layer


class MaxPooling1D(Layer):
    """``MaxPooling1D(pool_size=2, strides=None, padding="valid", data_format=None)``; strides
    default to pool_size.  Input (batch, steps, features) (or channels_first)."""

    input_ndim = 3

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = positive_int(pool_size, "pool_size", self)
        self.strides = self.pool_size if strides is None else positive_int(strides, "strides", self)
        self.padding = check_choice(padding, ("valid", "same"), "padding", self)
        self.data_format = standardize_data_format(data_format, self)

    def compute_output_shape(self, input_shape):
        b, first, second = input_shape
        if self.data_format == "channels_last":
            return (b, output_length(first, self.pool_size, self.strides, self.padding), second)
        return (b, first, output_length(second, self.pool_size, self.strides, self.padding))

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=3)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        batch, length, channels = x.shape
        left, right, out_len = window_padding(length, self.pool_size, self.strides, self.padding)
        if out_len <= 0:
            raise ValueError(f"Layer '{self.name}' (MaxPooling1D): input of {length} steps is shorter than "
                             f"pool_size={self.pool_size} with padding='valid'")
        xp = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=-np.inf) if left or right else x
        win = windows(xp, self.pool_size, self.strides, 1, out_len)            # (B, T_out, pool, C)
        arg = np.argmax(win, axis=2)[:, :, None, :]
        y = np.take_along_axis(win, arg, axis=2)[:, :, 0, :]
        self._cache = (arg, length, left, xp.shape[1]) if training else None
        return from_channels_last(np.ascontiguousarray(y), self.data_format)

    def backward(self, dy):
        arg, length, left, padded = self.saved()
        dy = to_channels_last(np.asarray(dy, self.dtype), self.data_format)
        expected = (arg.shape[0], arg.shape[1], arg.shape[3])
        if dy.shape != expected:
            raise ValueError(f"Layer '{self.name}' backward expects a gradient of shape "
                             f"{from_channels_last(np.empty(expected), self.data_format).shape}, "
                             f"received {from_channels_last(dy, self.data_format).shape}")
        self.grads = []
        dwin = np.zeros(arg.shape[:2] + (self.pool_size,) + arg.shape[3:], self.dtype)
        np.put_along_axis(dwin, arg, dy[:, :, None, :], axis=2)
        dxp = scatter_windows(dwin, padded, self.strides, 1)
        return from_channels_last(np.ascontiguousarray(dxp[:, left:left + length]), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config


class _GlobalPooling1D(Layer):
    input_ndim = 3

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, self)
        self.keepdims = bool(keepdims)
        self.steps_axis = 1 if self.data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape):
        features = input_shape[2] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], features)
        return (input_shape[0], 1, features) if self.data_format == "channels_last" else \
            (input_shape[0], features, 1)

    def compute_mask(self, inputs, mask=None):
        return None

    def _check_dy(self, dy, shape):
        expected = self.compute_output_shape(shape)
        dy = self.check_gradient(dy, expected)
        return dy if self.keepdims else np.expand_dims(dy, self.steps_axis)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalAveragePooling1D(_GlobalPooling1D):
    """``GlobalAveragePooling1D(data_format=None, keepdims=False)``; call with ``mask=`` (batch, steps)
    to average over the unmasked steps only."""

    supports_masking = True

    def __call__(self, inputs, training=False, mask=None):
        x = self.check_input(inputs, ndim=3)
        self.ensure_built(x.shape)
        return self.call(x, training=training, mask=mask)

    def call(self, x, training=False, mask=None):
        if mask is None:
            y = x.mean(axis=self.steps_axis, keepdims=True)
            scale = np.full((x.shape[0], 1, 1), 1.0 / x.shape[self.steps_axis], self.dtype)
            weights = None
        else:
            mask = np.asarray(mask)
            steps = (x.shape[0], x.shape[self.steps_axis])
            if mask.shape != steps:
                raise ValueError(f"Layer '{self.name}' (GlobalAveragePooling1D) expects a mask of shape "
                                 f"(batch, steps) = {steps}, received {mask.shape}")
            weights = np.expand_dims(mask.astype(bool), 2 if self.data_format == "channels_last" else 1)
            count = weights.sum(axis=self.steps_axis, keepdims=True)
            scale = (1.0 / np.maximum(count, 1)).astype(self.dtype)
            y = np.where(weights, x, 0).sum(axis=self.steps_axis, keepdims=True) * scale
        self._cache = (x.shape, weights, scale) if training else None
        return y if self.keepdims else np.squeeze(y, self.steps_axis)

    def backward(self, dy):
        shape, weights, scale = self.saved()
        dy = self._check_dy(dy, shape)
        self.grads = []
        dx = np.broadcast_to(dy * scale, shape)
        return (dx * weights if weights is not None else dx).astype(self.dtype)


class GlobalMaxPooling1D(_GlobalPooling1D):
    """``GlobalMaxPooling1D(data_format=None, keepdims=False)``: max over the steps."""

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=3)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        y = x.max(axis=self.steps_axis, keepdims=True)
        if training:
            winners = x == y
            self._cache = (winners, winners.sum(axis=self.steps_axis, keepdims=True).astype(self.dtype))
        else:
            self._cache = None
        return y if self.keepdims else np.squeeze(y, self.steps_axis)

    def backward(self, dy):
        winners, count = self.saved()
        dy = self._check_dy(dy, winners.shape)
        self.grads = []
        return (winners * (dy / count)).astype(self.dtype)


# -- N-D pooling (2-D and 3-D frames; see minirnn/convolution.py for the windows) -------------
class _Pooling(Layer):
    """Max or average over windows of each channel of (batch, S..., channels)
    (``channels_first``: (batch, channels, S...)).

    Max: y = max over the window; its gradient goes to the first maximum (TensorFlow's rule).
    Average: y = sum over the window / the number of input (not padding) elements in it, as
    TensorFlow's "same" average pooling; dx spreads dy / count over the window."""

    rank = None
    mode = None

    @property
    def input_ndim(self):
        return self.rank + 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size", self)
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides", self)
        self.padding = check_choice(padding, ("valid", "same"), "padding", self)
        self.data_format = standardize_data_format(data_format, self)

    def _sizes(self, shape):
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def compute_output_shape(self, input_shape):
        out = convolution.output_size(self._sizes(input_shape), self.pool_size, self.strides, self.padding)
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + out

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=self.rank + 2)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        x = spatial_layout(x, self.data_format)
        g = convolution.Geometry(x.shape[1:-1], self.pool_size, self.strides, self.padding)
        if min(g.out) <= 0:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): input of spatial size "
                             f"{x.shape[1:-1]} is smaller than pool_size={self.pool_size} with padding='valid'")
        taps = int(np.prod(self.pool_size))
        flat = (x.shape[0],) + g.out + (taps, x.shape[-1])
        if self.mode == "max":
            win = convolution.patches(g.pad(x, -np.inf), g).reshape(flat)      # copies
            arg = np.argmax(win, axis=-2)[..., None, :]
            y = np.take_along_axis(win, arg, axis=-2)[..., 0, :]
            self._cache = (arg, g, x.shape) if training else None
        else:
            ones = np.ones((1,) + x.shape[1:-1] + (1,), self.dtype)
            count = convolution.patches(g.pad(ones), g).reshape((1,) + g.out + (taps, 1)).sum(axis=-2)
            y = convolution.patches(g.pad(x), g).reshape(flat).sum(axis=-2) / count
            self._cache = (count, g, x.shape) if training else None
        return from_spatial_layout(np.ascontiguousarray(y, self.dtype), self.data_format)

    def backward(self, dy):
        saved, g, shape = self.saved()
        expected = from_spatial_layout(np.empty(shape[:1] + g.out + shape[-1:]), self.data_format).shape
        dy = spatial_layout(self.check_gradient(dy, expected), self.data_format)
        self.grads = []
        taps = int(np.prod(self.pool_size))
        dwin = np.zeros(dy.shape[:-1] + (taps, dy.shape[-1]), self.dtype)
        if self.mode == "max":
            np.put_along_axis(dwin, saved, dy[..., None, :], axis=-2)
        else:
            dwin[...] = (dy / saved)[..., None, :]
        dP = dwin.reshape(dy.shape[:-1] + self.pool_size + dy.shape[-1:])
        return from_spatial_layout(g.crop(convolution.scatter_patches(dP, g)), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config


class MaxPooling2D(_Pooling):
    """``MaxPooling2D(pool_size=(2, 2), strides=None, padding="valid", data_format=None)``."""
    rank, mode = 2, "max"


class AveragePooling2D(_Pooling):
    """``AveragePooling2D(pool_size, strides=None, padding="valid", data_format=None)``."""
    rank, mode = 2, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    """``MaxPooling3D(pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None)``."""
    rank, mode = 3, "max"


class AveragePooling3D(_Pooling):
    """``AveragePooling3D(pool_size, strides=None, padding="valid", data_format=None)``."""
    rank, mode = 3, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """``AveragePooling1D(pool_size, strides=None, padding="valid", data_format=None)``."""
    rank, mode = 1, "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """Mean or max over the spatial axes of (batch, S..., channels) (or channels_first); the
    max's gradient is shared among tied maxima, as tf.reduce_max's."""

    rank = None
    mode = None

    @property
    def input_ndim(self):
        return self.rank + 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, self)
        self.keepdims = bool(keepdims)

    @property
    def axes(self):
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self.rank))

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return tuple(1 if a in self.axes else d for a, d in enumerate(input_shape))
        return tuple(d for a, d in enumerate(input_shape) if a not in self.axes)

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=self.rank + 2)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        if self.mode == "max":
            y = x.max(axis=self.axes, keepdims=True)
            winners = x == y
            self._cache = (winners, winners.sum(axis=self.axes, keepdims=True).astype(self.dtype)) \
                if training else None
        else:
            y = x.mean(axis=self.axes, keepdims=True)
            self._cache = (x.shape, None) if training else None
        return y if self.keepdims else y.reshape(self.compute_output_shape(x.shape))

    def backward(self, dy):
        saved, count = self.saved()
        shape = saved.shape if self.mode == "max" else saved
        dy = self.check_gradient(dy, self.compute_output_shape(shape))
        dy = dy.reshape(tuple(1 if a in self.axes else d for a, d in enumerate(shape)))
        self.grads = []
        if self.mode == "max":
            return (saved * (dy / count)).astype(self.dtype)
        size = int(np.prod([shape[a] for a in self.axes]))
        return np.ascontiguousarray(np.broadcast_to(dy / self.dtype_type(size), shape))

    def dtype_type(self, value):
        return np.dtype(self.dtype).type(value)

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class GlobalAveragePooling2D(_GlobalPooling):
    """``GlobalAveragePooling2D(data_format=None, keepdims=False)``: mean over rows and cols."""
    rank, mode = 2, "average"


class GlobalMaxPooling2D(_GlobalPooling):
    """``GlobalMaxPooling2D(data_format=None, keepdims=False)``: max over rows and cols."""
    rank, mode = 2, "max"


class GlobalAveragePooling3D(_GlobalPooling):
    """``GlobalAveragePooling3D(data_format=None, keepdims=False)``."""
    rank, mode = 3, "average"


class GlobalMaxPooling3D(_GlobalPooling):
    """``GlobalMaxPooling3D(data_format=None, keepdims=False)``."""
    rank, mode = 3, "max"
