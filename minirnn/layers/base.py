"""The Layer base class: naming, building, weights, gradients, input checks.

Every layer is callable on NumPy arrays like a Keras layer.  Called with
``training=True`` it keeps what its backward pass needs; ``layer.backward(dy)``
then returns dL/dx and leaves dL/dweights in ``layer.grads``, aligned with
``layer.weights`` and ``layer.get_weights()``.
"""
import re
from collections import defaultdict

import numpy as np

from .. import backend

_name_counts = defaultdict(int)


def unique_name(base):
    """Keras-style names: ``lstm``, ``lstm_1``, ``lstm_2``..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def format_shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Layer:
    """Base class of all layers.

    Masks (one bool per sample and time step, ``(batch, time)``) travel beside the
    data: a layer whose ``__call__`` takes ``mask=`` consumes it, and
    :meth:`compute_mask` gives the mask of the layer's output.
    """

    supports_masking = False      # True: an incoming mask passes through unchanged

    def __init__(self, name=None, dtype=None, input_shape=None, trainable=True):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.dtype = np.dtype(dtype or backend.floatx()).name
        self.trainable = trainable
        self.built = False
        self.input_shape_hint = None if input_shape is None else (None,) + tuple(input_shape)
        self.grads = None
        self._cache = None

    # -- building and shapes -------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch axis first)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output, given its input and input mask."""
        return mask if self.supports_masking else None

    def ensure_built(self, input_shape):
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True

    # -- weights -------------------------------------------------------------
    @property
    def weights(self):
        """The weight arrays themselves (updated in place by optimizers)."""
        return []

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Load `weights` (Keras's order and shapes) in place."""
        own = self.weights
        if not self.built and not own:
            raise ValueError(f"Layer '{self.name}' has no weights yet: build it (call it on data) "
                             f"before set_weights")
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"Layer '{self.name}' expects {len(own)} weight arrays, received {len(weights)}")
        for k, (w, new) in enumerate(zip(own, weights)):
            new = np.asarray(new)
            if new.shape != w.shape:
                raise ValueError(f"Layer '{self.name}' weight {k} expects shape {w.shape}, "
                                 f"received {new.shape}")
            w[...] = new

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    # -- calling ---------------------------------------------------------------
    def __call__(self, inputs, training=False, **kwargs):
        inputs = self.check_input(inputs)
        self.ensure_built(inputs.shape)
        return self.call(inputs, training=training, **kwargs)

    def call(self, inputs, training=False):
        raise NotImplementedError

    def backward(self, dy):
        """dL/dx from dL/dy; weight gradients go to ``self.grads``."""
        raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) has no backward pass")

    def saved(self):
        """The cache of the last ``training=True`` call, for backward."""
        if self._cache is None:
            raise RuntimeError(f"Layer '{self.name}': call it with training=True before backward()")
        return self._cache

    # -- input checks ----------------------------------------------------------
    def check_input(self, x, min_ndim=None, ndim=None, last_dim=None, allow_non_finite=False):
        """`x` as an array of the layer's dtype, or a ValueError that says why not."""
        what = f"Layer '{self.name}' ({type(self).__name__})"
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{what} expects numeric input, received dtype {arr.dtype}")
        if ndim is not None and arr.ndim != ndim:
            raise ValueError(f"{what} expects input of rank {ndim}{self.rank_meaning(ndim)}, "
                             f"received shape {arr.shape}")
        if min_ndim is not None and arr.ndim < min_ndim:
            raise ValueError(f"{what} expects input of rank >= {min_ndim}, received shape {arr.shape}")
        if last_dim is not None and arr.shape[-1] != last_dim:
            raise ValueError(f"{what} expects {last_dim} features on the last axis, "
                             f"received shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if not allow_non_finite and not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise ValueError(f"{what} received input with NaN or inf values "
                             f"({bad} of {arr.size} elements)")
        return arr

    @staticmethod
    def rank_meaning(ndim):
        return {2: " (batch, features)", 3: " (batch, time, features)"}.get(ndim, "")

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "trainable": self.trainable}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
