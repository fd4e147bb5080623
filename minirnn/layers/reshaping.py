"""Flatten, Masking, Dropout and TimeDistributed: layers that reshape, mask or wrap.

    Flatten          y = x.reshape(batch, -1)                 dx = dy.reshape(x.shape)
    Masking          keep = any(x != mask_value, -1)          y = x * keep[..., None]
                     output mask = keep                       dx = dy * keep[..., None]
    Dropout          (training only) m ~ Bernoulli(1 - rate)  y = x * m / (1 - rate)
                                                              dx = dy * m / (1 - rate)  (same m)
    TimeDistributed  y[:, t] = layer(x[:, t]) for every t, computed as one call on x folded
                     to (batch * time, ...); backward unfolds dy the same way.
"""
import inspect
import numbers

import numpy as np

from ..serialization import deserialize_layer
from ..utils import get_rng
from ._utils import data_format as standardize_data_format, rate as check_rate
from .base import Layer
from .wrapper import Wrapper


class Flatten(Layer):
    """``Flatten(data_format=None)``: (batch, d1, d2, ...) -> (batch, d1 * d2 * ...).  With
    ``channels_first`` the channel axis is moved last first, as Keras does."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, self)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def _order(self, ndim):
        return (0, *range(2, ndim), 1) if self.data_format == "channels_first" and ndim > 2 else None

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, min_ndim=1)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        order = self._order(x.ndim)
        moved = x if order is None else x.transpose(order)
        self._cache = (x.shape, moved.shape, order) if training else None
        return np.ascontiguousarray(moved).reshape(x.shape[0], -1)

    def backward(self, dy):
        shape, moved_shape, order = self.saved()
        expected = (shape[0], int(np.prod(shape[1:], dtype=np.int64)))
        dy = self.check_gradient(dy, expected)
        self.grads = []
        dx = dy.reshape(moved_shape)
        return dx if order is None else np.ascontiguousarray(dx.transpose(np.argsort(order)))

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format)
        return config


class Masking(Layer):
    """``Masking(mask_value=0.0)``: time steps whose features all equal ``mask_value`` are zeroed
    and masked for the layers after it (mask = any(x != mask_value, axis=-1))."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(mask_value, numbers.Real):
            raise ValueError(f"Layer '{self.name}' (Masking): mask_value must be a number, "
                             f"received {mask_value!r}")
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        return np.any(np.asarray(inputs) != self.dtype_value(), axis=-1)

    def dtype_value(self):
        return np.dtype(self.dtype).type(self.mask_value)

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, min_ndim=2)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        keep = np.any(x != self.dtype_value(), axis=-1, keepdims=True)
        self._cache = keep if training else None
        return np.where(keep, x, x.dtype.type(0))

    def backward(self, dy):
        keep = self.saved()
        dy = np.asarray(dy, self.dtype)
        if dy.shape[:-1] != keep.shape[:-1] or dy.ndim != keep.ndim:
            raise ValueError(f"Layer '{self.name}' backward expects a gradient of shape "
                             f"{keep.shape[:-1] + ('features',)}, received {dy.shape}")
        self.grads = []
        return np.where(keep, dy, dy.dtype.type(0))

    def get_config(self):
        config = super().get_config()
        config.update(mask_value=self.mask_value)
        return config


class Dropout(Layer):
    """``Dropout(rate, noise_shape=None, seed=None)``: inverted dropout, active only with
    ``training=True``; masks pass through.

    The keep-mask is drawn from ``minirnn.utils.get_rng()`` (so ``set_random_seed`` fixes it)
    or, with ``seed``, from the layer's own generator (a new mask at each call, the same
    sequence of masks for the same seed).  ``noise_shape`` broadcasts the mask, its ``None``
    entries taking the input's sizes, e.g. ``(None, 1, None)`` drops whole features for every
    time step.  backward uses the mask of the last training call.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "rate", self, allow_one=True)
        if noise_shape is not None:
            if isinstance(noise_shape, str) or not hasattr(noise_shape, "__iter__"):
                raise ValueError(f"Layer '{self.name}' (Dropout): noise_shape must be a tuple of integers or "
                                 f"None, received {noise_shape!r}")
            noise_shape = tuple(noise_shape)
            for d in noise_shape:
                if d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1):
                    raise ValueError(f"Layer '{self.name}' (Dropout): noise_shape entries must be positive "
                                     f"integers or None, received {noise_shape!r}")
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"Layer '{self.name}' (Dropout): noise_shape {self.noise_shape} must have the "
                             f"input's rank {len(shape)}, received input of shape {shape}")
        mask_shape = tuple(n if d is None else d for d, n in zip(self.noise_shape, shape))
        for d, n in zip(mask_shape, shape):
            if d not in (1, n):
                raise ValueError(f"Layer '{self.name}' (Dropout): noise_shape {self.noise_shape} does not "
                                 f"broadcast to the input's shape {shape}")
        return mask_shape

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        if not training:
            self._cache = None
            return x
        if self.rate == 0:
            scaled = None
        elif self.rate == 1:
            scaled = np.zeros(self._mask_shape(x.shape), x.dtype)
        else:
            rng = self._rng if self._rng is not None else get_rng()
            keep = rng.random(self._mask_shape(x.shape)) >= self.rate
            scaled = keep * x.dtype.type(1.0 / (1.0 - self.rate))
        self._cache = (x.shape, scaled)
        return x if scaled is None else x * scaled

    def backward(self, dy):
        shape, scaled = self.saved()
        dy = self.check_gradient(dy, shape)
        self.grads = []
        return dy if scaled is None else dy * scaled

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=None if self.noise_shape is None else list(self.noise_shape),
                      seed=self.seed)
        return config


class TimeDistributed(Wrapper):
    """``TimeDistributed(layer)``: applies ``layer`` to every time step of (batch, time, ...).

    Time is folded into the batch, so the wrapped layer runs once on (batch * time, ...);
    its weights (and ``grads``) are this layer's.  A mask (batch, time, ...) passes through
    and, if the wrapped layer takes one, reaches it folded the same way.
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize_layer(layer)
        if isinstance(layer, Layer):
            kwargs.setdefault("dtype", layer.dtype)
        super().__init__(layer, **kwargs)

    @staticmethod
    def _child_shape(input_shape):
        return (None if input_shape[0] is None or input_shape[1] is None else input_shape[0] * input_shape[1],
                *input_shape[2:])

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"Layer '{self.name}' (TimeDistributed) expects input of rank >= 3 "
                             f"(batch, time, ...), received shape {tuple(input_shape)}")
        self.layer.ensure_built(self._child_shape(input_shape))
        self.built = True

    @property
    def weights(self):
        return self.layer.weights

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights if self.trainable else []

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (input_shape[0], input_shape[1], *child[1:])

    def __call__(self, inputs, training=False, mask=None):
        x = self.check_input(inputs, min_ndim=3)
        self.ensure_built(x.shape)
        return self.call(x, training=training, mask=mask)

    def call(self, x, training=False, mask=None):
        batch, steps = x.shape[:2]
        kwargs = {}
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim < 2 or mask.shape[:2] != (batch, steps):
                raise ValueError(f"Layer '{self.name}' (TimeDistributed): The `mask` passed to the "
                                 f"`TimeDistributed` layer has a shape {mask.shape} that is incompatible with "
                                 f"the input's: expected a mask of shape (batch, time, ...) = ({batch}, {steps}, "
                                 f"...)")
            if "mask" in inspect.signature(self.layer.__call__).parameters:
                kwargs["mask"] = mask.reshape((batch * steps,) + mask.shape[2:])
        y = self.layer(x.reshape((batch * steps,) + x.shape[2:]), training=training, **kwargs)
        if isinstance(y, list):
            raise ValueError(f"Layer '{self.name}' (TimeDistributed): the wrapped layer '{self.layer.name}' "
                             f"returns several arrays, which TimeDistributed cannot stack")
        self._cache = (x.shape, y.shape) if training else None
        return y.reshape((batch, steps) + y.shape[1:])

    def backward(self, dy):
        x_shape, y_shape = self.saved()
        expected = x_shape[:2] + y_shape[1:]
        dy = self.check_gradient(dy, expected)
        dx = self.layer.backward(dy.reshape(y_shape))
        self.grads = self.layer.grads
        return dx.reshape(x_shape)
