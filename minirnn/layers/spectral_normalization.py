r"""SpectralNormalization: a wrapper that divides the wrapped layer's kernel (or embeddings) by
its largest singular value, estimated by power iteration (Miyato et al. 2018), as Keras 3 does.

With W the kernel as a matrix (every axis but the last folded into rows, (m, n)) and u the
non-trainable ``vector_u`` (1, n) kept between calls, a training call first does, ``power_iterations``
times,

    S1  v = normalize(u W^T)        (1, m)
    S2  u = normalize(v W)          (1, n)          normalize(a) = a min(1 / |a|, 1e7)

then

    S3  sigma = v W u^T,   W <- W / sigma   (the kernel is assigned in place),  vector_u <- u

and calls the wrapped layer.  An all-zero kernel is left as it is.  Inference calls use the
kernel as it is stored.  Gradients: the wrapped layer's own backward at the assigned kernel
(sigma is not differentiated: the assignment is outside the graph, as in Keras), so
``grads`` is the wrapped layer's, with zeros for ``vector_u``.
"""
import numpy as np

from .. import initializers
from ..serialization import deserialize_layer
from .base import Layer
from .wrapper import Wrapper

NORMALIZE_EPSILON = 1e-7        # keras.backend.epsilon(): the bound of ops.normalize's 1 / |a|


def _normalize(a):
    """a / |a| (the L2 norm of the whole array), with 1 / |a| at most 1 / 1e-7."""
    norm = np.sqrt(np.sum(a * a))
    return a * np.minimum(1 / norm if norm > 0 else np.inf, a.dtype.type(1 / NORMALIZE_EPSILON))


class SpectralNormalization(Wrapper):
    """``SpectralNormalization(layer, power_iterations=1)``: `layer` has a ``kernel`` (Dense,
    Conv1D/2D/3D) or ``embeddings`` (Embedding).  Weights, Keras's order: the kernel, ``vector_u``
    (1, kernel.shape[-1], not trainable, TruncatedNormal(stddev=0.02)), then the wrapped layer's
    others.  Same as Keras, except: the output takes the input's dtype only for float inputs (Keras
    casts an Embedding's output to integer ids' dtype)."""

    def __init__(self, layer, power_iterations=1, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize_layer(layer)
        if isinstance(layer, Layer):
            kwargs.setdefault("dtype", layer.dtype)
        super().__init__(layer, **kwargs)
        whole = isinstance(power_iterations, (int, np.integer)) and not isinstance(power_iterations, (bool, np.bool_))
        if not whole or power_iterations <= 0:
            need = "should be greater than zero." if whole else "should be an integer greater than zero."
            raise ValueError(f"Layer '{self.name}' (SpectralNormalization): `power_iterations` {need} Received: "
                             f"`power_iterations={power_iterations!r}`")
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        self.layer.ensure_built(input_shape)
        names = [n for n in ("kernel", "embeddings") if isinstance(getattr(self.layer, n, None), np.ndarray)]
        if not names:
            raise ValueError(f"Layer '{self.name}' (SpectralNormalization): {type(self.layer).__name__} object has "
                             f"no attribute 'kernel' nor 'embeddings' (layer '{self.layer.name}' has no weight to "
                             f"normalize)")
        self._kernel_name = names[0]
        kernel = self.kernel
        u = initializers.TruncatedNormal(stddev=0.02)((1, kernel.shape[-1]), dtype=kernel.dtype.name)
        self.vector_u = np.asarray(u, kernel.dtype)
        self.built = True

    @property
    def kernel(self):
        """The wrapped layer's kernel (or embeddings) itself."""
        if "_kernel_name" not in self.__dict__:
            raise AttributeError(f"Layer '{self.name}' (SpectralNormalization) is not built: no kernel yet")
        return getattr(self.layer, self._kernel_name)

    @property
    def weights(self):
        if not self.built:
            return self.layer.weights
        kernel = self.kernel
        return [kernel, self.vector_u] + [w for w in self.layer.weights if w is not kernel]

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights if self.trainable else []

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def compute_mask(self, inputs, mask=None):
        """The wrapped layer's output mask: Keras's wrapper says it does not support masking, yet the
        mask the wrapped layer puts on its output reaches the next layer (the same tensor is returned)."""
        return self.layer.compute_mask(inputs, mask)

    def normalize_kernel(self):
        """S1-S3: the kernel divided by its estimated spectral norm, in place; vector_u moves on."""
        kernel = self.kernel
        W = kernel.reshape(-1, kernel.shape[-1])                                  # (m, n), a view
        if not W.any():
            return
        u = self.vector_u
        for _ in range(self.power_iterations):
            v = _normalize(u @ W.T)                                               # S1
            u = _normalize(v @ W)                                                 # S2
        sigma = (v @ W @ u.T)[0, 0]                                               # S3
        kernel /= sigma
        self.vector_u[...] = u

    def __call__(self, inputs, training=False):
        x = np.asarray(inputs)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        if training:
            self.normalize_kernel()
        y = self.layer(x, training=training)
        self._cache = True if training else None
        return y.astype(x.dtype, copy=False) if x.dtype.kind == "f" else y

    def backward(self, dy):
        self.saved()
        dx = self.layer.backward(dy)
        by_id = {id(w): g for w, g in zip(self.layer.weights, self.layer.grads or [])}
        self.grads = [by_id.get(id(w), np.zeros_like(w)) for w in self.weights]
        return dx

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
