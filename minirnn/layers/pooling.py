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

from ._utils import (check_choice, from_channels_last, output_length, positive_int, scatter_windows,
                     to_channels_last, window_padding, windows)
from ._utils import data_format as standardize_data_format
from .base import Layer


class MaxPooling1D(Layer):
    """``MaxPooling1D(pool_size=2, strides=None, padding="valid", data_format=None)``; strides
    default to pool_size.  Input (batch, steps, features) (or channels_first)."""

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
