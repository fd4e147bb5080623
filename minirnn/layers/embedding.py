"""Embedding: integer ids -> rows of a trainable table.

    y[..., :] = E[x[...], :]                    E: (input_dim, output_dim)
    dL/dE[i]  = sum of dy[...] over every position where x == i   (rows_added)

The inputs are indices, which have no useful derivative: ``backward`` returns
zeros of the input's shape (so a layer before it still receives an array),
like the "zero almost everywhere" derivative of a step function.
"""
import numpy as np

from .. import initializers
from ..scatter import rows_added
from ._utils import positive_int, serialize_initializer
from .base import Layer


class Embedding(Layer):
    """``Embedding(input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False)``.

    Input: integer ids of any shape, usually (batch, time), each in [0, input_dim)
    (integer-valued floats are accepted, as Keras casts them).  Output: the input's
    shape + (output_dim,).  With ``mask_zero=True`` the output mask is ``x != 0``, so
    id 0 is reserved for padding (it still has a row: input_dim = vocabulary + 1).
    ``input_length`` (deprecated in Keras 3) is only used as an input-shape hint.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 input_length=None, **kwargs):
        if input_length is not None and kwargs.get("input_shape") is None:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "input_dim", self, allow_tuple=False)
        self.output_dim = positive_int(output_dim, "output_dim", self, allow_tuple=False)
        self.input_length = None if input_length is None else int(input_length)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        try:
            self.embeddings_initializer = initializers.get(embeddings_initializer)
        except ValueError as e:
            raise ValueError(f"Layer '{self.name}' (Embedding): {e}") from None

    def build(self, input_shape=None):
        self.embeddings = np.asarray(self.embeddings_initializer((self.input_dim, self.output_dim),
                                                                 dtype=self.dtype), self.dtype)
        self.built = True

    @property
    def weights(self):
        return [self.embeddings] if self.built else []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def check_indices(self, x):
        """`x` as int64 ids in [0, input_dim), or a ValueError that says what is wrong."""
        what = f"Layer '{self.name}' (Embedding)"
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{what} expects integer ids, received dtype {arr.dtype}")
        if arr.ndim < 1:
            raise ValueError(f"{what} expects ids of shape (batch, ...), received a scalar")
        if arr.dtype.kind == "f":                  # Keras casts float ids to int32 (toward zero)
            bad = ~np.isfinite(arr)
            if bad.any():
                raise ValueError(f"{what} expects integer ids, received {int(bad.sum())} NaN or inf "
                                 f"value(s)")
        idx = arr.astype(np.int64)
        out = (idx < 0) | (idx >= self.input_dim)
        if out.any():
            raise ValueError(f"{what} expects ids in [0, {self.input_dim}) (input_dim={self.input_dim}), "
                             f"received {int(out.sum())} out of range: min {idx.min()}, max {idx.max()}")
        return idx

    def __call__(self, inputs, training=False):
        idx = self.check_indices(inputs)
        self.ensure_built(idx.shape)
        return self.call(idx, training=training)

    def call(self, idx, training=False):
        self._cache = idx if training else None
        return self.embeddings[idx]

    def backward(self, dy):
        idx = self.saved()
        expected = idx.shape + (self.output_dim,)
        dy = self.check_gradient(dy, expected)
        grad = np.zeros_like(self.embeddings)
        rows_added(grad, idx.ravel(), np.ascontiguousarray(dy).reshape(-1, self.output_dim))
        self.grads = [grad]
        return np.zeros(idx.shape, self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, output_dim=self.output_dim,
                      embeddings_initializer=serialize_initializer(self.embeddings_initializer, self,
                                                                   "embeddings_initializer"),
                      mask_zero=self.mask_zero, input_length=self.input_length)
        return config
