"""Weight constraints, as Keras's ``keras.constraints``: applied to a weight after every optimizer
update (``kernel_constraint``, ``recurrent_constraint``, ``bias_constraint``,
``embeddings_constraint``, ``add_weight(constraint=...)``).  Norms are over ``axis`` (0: each
column of a kernel), with Keras's epsilon 1e-7 in the denominators.

    MaxNorm(m):          w * clip(|w|, 0, m) / (eps + |w|)
    NonNeg():            w * (w >= 0)
    UnitNorm():          w / (eps + |w|)
    MinMaxNorm(a, b, r): w * (r * clip(|w|, a, b) + (1 - r) |w|) / (eps + |w|)
"""
import numpy as np

from . import registry

EPSILON = 1e-7


class Constraint:
    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return w * (w >= 0)


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
_CLASSES = {c.__name__: c for c in (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
_NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm,
          "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


def serialize(constraint):
    return registry.keras_object_config(constraint, "keras.constraints")


def deserialize(config, custom_objects=None):
    return get(config)


def get(identifier):
    """A constraint from None, an instance, a name ("max_norm") or a config."""
    found = registry.numeric_object(identifier, "constraint", Constraint, _CLASSES, _NAMES, (int, float, type(None)))
    if found is not NotImplemented:
        return found
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise ValueError(f"Unknown constraint {identifier!r}: use MaxNorm, NonNeg, UnitNorm, MinMaxNorm or None")


for _cls in _CLASSES.values():
    registry.register(_cls, _cls.__name__, "constraints")
