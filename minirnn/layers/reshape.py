"""Reshape, Permute, RepeatVector and Rescaling: layers without weights that move or scale values.

    Reshape(s)        y = x.reshape(batch, *s)                dx = dy.reshape(x.shape)
    Permute(dims)     y = x.transpose(0, *dims)               dx = dy.transpose(0, *argsort(dims) + 1)
    RepeatVector(n)   y[:, t] = x for t < n                   dx = sum_t dy[:, t]
    Rescaling(a, b)   y = a x + b                             dx = a dy
"""
import numpy as np

from ._utils import positive_int
from .base import Layer


def _label(layer):
    return f"Layer '{layer.name}' ({type(layer).__name__})"


class Reshape(Layer):
    """``Reshape(target_shape)``: (batch, ...) -> (batch, *target_shape); one entry may be -1
    (inferred from the others, as in NumPy)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if isinstance(target_shape, (str, bytes)) or not hasattr(target_shape, "__iter__"):
            raise ValueError(f"{_label(self)}: target_shape must be a tuple of integers, received {target_shape!r}")
        target = tuple(target_shape)
        ok = all(not isinstance(d, (bool, np.bool_)) and isinstance(d, (int, np.integer)) and (d >= 1 or d == -1)
                 for d in target)
        if not ok or sum(d == -1 for d in target) > 1:
            raise ValueError(f"{_label(self)}: target_shape must hold positive integers and at most one -1, "
                             f"received {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def _resolved(self, input_shape):
        """target_shape with its -1 filled in (None if the input size is unknown)."""
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        if size is not None and (size % known if -1 in self.target_shape else size != known):
            raise ValueError(f"{_label(self)}: an input of shape {tuple(input_shape)} ({size} values per "
                             f"sample) cannot be reshaped to {self.target_shape}")
        if -1 not in self.target_shape:
            return self.target_shape
        fill = None if size is None else size // known
        return tuple(fill if d == -1 else d for d in self.target_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape)

    def call(self, x, training=False):
        self._resolved(x.shape)
        self._cache = x.shape if training else None
        return x.reshape((x.shape[0],) + self.target_shape)

    def backward(self, dy):
        shape = self.saved()
        dy = self.check_gradient(dy, self.compute_output_shape(shape))
        self.grads = []
        return dy.reshape(shape)

    def get_config(self):
        config = super().get_config()
        config.update(target_shape=list(self.target_shape))
        return config


class Permute(Layer):
    """``Permute(dims)``: reorder the axes after the batch axis; ``dims`` numbers them from 1,
    e.g. ``Permute((2, 1))`` swaps time and features."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if hasattr(dims, "__iter__") and not isinstance(dims, str) else None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)) \
                or any(isinstance(d, (bool, np.bool_)) for d in dims):
            raise ValueError(f"{_label(self)}: dims must be a permutation of 1..n (the axes after the batch "
                             f"axis), received {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def _check_rank(self, shape):
        if len(shape) != len(self.dims) + 1:
            raise ValueError(f"{_label(self)}: dims={self.dims} needs input of rank {len(self.dims) + 1}, "
                             f"received shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, x, training=False):
        self._check_rank(x.shape)
        self._cache = x.shape if training else None
        return np.ascontiguousarray(x.transpose((0,) + self.dims))

    def backward(self, dy):
        shape = self.saved()
        dy = self.check_gradient(dy, self.compute_output_shape(shape))
        self.grads = []
        return np.ascontiguousarray(dy.transpose((0,) + tuple(np.argsort(self.dims) + 1)))

    def get_config(self):
        config = super().get_config()
        config.update(dims=list(self.dims))
        return config


class RepeatVector(Layer):
    """``RepeatVector(n)``: (batch, features) -> (batch, n, features), the input at every step."""

    input_ndim = 2                  # (batch, features)

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = positive_int(n, "n", self, allow_tuple=False)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs, ndim=2)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        self._cache = x.shape if training else None
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy):
        shape = self.saved()
        dy = self.check_gradient(dy, (shape[0], self.n, shape[1]))
        self.grads = []
        return dy.sum(axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(n=self.n)
        return config


class Rescaling(Layer):
    """``Rescaling(scale, offset=0.0)``: y = x * scale + offset (e.g. ``1 / 255`` for pixels).
    ``scale`` and ``offset`` are numbers, or arrays that broadcast against the input."""

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = self._number(scale, "scale")
        self.offset = self._number(offset, "offset")

    def _number(self, value, argument):
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf" or (arr.ndim == 0 and isinstance(value, (bool, np.bool_))) \
                or not np.all(np.isfinite(arr)):
            raise ValueError(f"{_label(self)}: {argument} must be a finite number or array of numbers, "
                             f"received {argument}={value!r}")
        return float(arr) if arr.ndim == 0 else arr.astype(self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training=False):
        self._cache = x.shape if training else None
        return (x * self.scale + self.offset).astype(self.dtype, copy=False)

    def backward(self, dy):
        shape = self.saved()
        dy = self.check_gradient(dy, shape)
        self.grads = []
        return np.broadcast_to(dy * self.scale, shape).astype(self.dtype, copy=False)

    def get_config(self):
        config = super().get_config()
        config.update({k: v if isinstance(v, float) else v.tolist()
                       for k, v in (("scale", self.scale), ("offset", self.offset))})
        return config

