"""Weight penalties added to the training loss, as Keras's ``keras.regularizers``; each with its
gradient beside it.

    L1(l1):        R(w) = l1 * sum |w|           dR/dw = l1 * sign(w)
    L2(l2):        R(w) = l2 * sum w^2           dR/dw = 2 * l2 * w
    L1L2(l1, l2):  the sum of both

``kernel_regularizer`` / ``recurrent_regularizer`` / ``bias_regularizer`` /
``embeddings_regularizer`` penalize a layer's weight; ``activity_regularizer`` its output,
divided by the batch size (Keras 3).  ``fit`` adds the penalties to the loss it reports.
"""
import numpy as np

from . import registry


class Regularizer:
    def __call__(self, x):
        raise NotImplementedError

    def gradient(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """R(w) = l1 * sum |w| + l2 * sum w^2."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        x = np.asarray(x)
        return float(self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum())

    def gradient(self, x):
        x = np.asarray(x)
        return (self.l1 * np.sign(x) + 2 * self.l2 * x).astype(x.dtype, copy=False)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """R(w) = l1 * sum |w|."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """R(w) = l2 * sum w^2."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def serialize(regularizer):
    return registry.keras_object_config(regularizer, "keras.regularizers")


def deserialize(config, custom_objects=None):
    return get(config)


def get(identifier):
    """A regularizer from None, an instance, a name ("l2") or a config {"class_name", "config"}."""
    found = registry.numeric_object(identifier, "regularizer", Regularizer, _CLASSES, _NAMES, (int, float))
    if found is not NotImplemented:
        return found
    if callable(identifier) and not isinstance(identifier, type):
        return _Function(identifier)
    raise ValueError(f"Unknown regularizer {identifier!r}: use 'l1', 'l2', 'l1_l2', an L1/L2/L1L2 instance or None")


class _Function(Regularizer):
    """A user's penalty function; its gradient by central differences is too slow and inexact,
    so it must be built from keras.ops and is differentiated by tracing."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return float(np.asarray(self.fn(x)))

    def gradient(self, x):
        from .ops import Traced, backprop
        leaf = Traced(np.asarray(x))
        out = self.fn(leaf)
        g = backprop([out], [np.ones(())], [leaf])[0]
        return np.zeros_like(x) if g is None else np.asarray(g, np.asarray(x).dtype)


for _cls in (L1, L2, L1L2):
    registry.register(_cls, _cls.__name__, "regularizers")
