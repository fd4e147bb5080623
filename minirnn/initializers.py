"""Weight initializers with Keras names, defaults and statistics.

Each initializer is an object called as ``init(shape, dtype="float32")`` that
returns a new ndarray.  Fans follow Keras: for a 2-D shape ``(fan_in, fan_out)``;
for more dimensions the leading axes are a receptive field,
``fan_in = shape[-2] * prod(shape[:-2])`` and ``fan_out = shape[-1] * prod(shape[:-2])``.

Unseeded initializers draw from :func:`minirnn.utils.get_rng`; a seeded one
returns the same values at every call, like Keras with an integer seed.
"""
import inspect
import math

import numpy as np

from . import budget, registry
from .utils import Configurable, Registry, make_rng


def compute_fans(shape):
    """(fan_in, fan_out) of a weight of this shape."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer(Configurable):
    """Base class: subclasses implement ``_sample(shape, rng)`` returning float64 values."""

    def __call__(self, shape, dtype="float32"):
        shape = tuple(int(d) for d in shape)
        budget.charge(budget.shape_bytes(shape, dtype), f"a weight of shape {shape}")   # a load's budget
        rng = make_rng(getattr(self, "seed", None))
        return np.asarray(self._sample(shape, rng), dtype=dtype)

    def _sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        """Constructor arguments, JSON-friendly."""
        params = inspect.signature(type(self).__init__).parameters.values()
        return {p.name: getattr(self, p.name) for p in params
                if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class Zeros(Initializer):
    """All zeros."""

    def _sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def _sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every element equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def _sample(self, shape, rng):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    """Normal(mean, stddev²) samples."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def _sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)


class RandomUniform(Initializer):
    """Uniform(minval, maxval) samples."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def _sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)


def _truncated_normal(rng, shape, stddev):
    """Normal(0, stddev²) restricted to ±2 stddev by redrawing the outliers."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values * stddev


class TruncatedNormal(Initializer):
    """Normal(mean, stddev²) samples redrawn until within 2 stddev of the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def _sample(self, shape, rng):
        return self.mean + _truncated_normal(rng, shape, self.stddev)


# Standard deviation of a unit normal truncated at ±2; dividing by it restores unit variance.
_TRUNCATED_STD = 0.87962566103423978


class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    uniform: U(-limit, limit), limit = sqrt(3 scale / n);
    truncated_normal: stddev = sqrt(scale / n) / 0.8796 (truncated at 2 stddev);
    untruncated_normal: stddev = sqrt(scale / n).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0:
            raise ValueError(f"scale must be positive, received scale={scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}, received mode={mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {self._DISTRIBUTIONS}, "
                             f"received distribution={distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def _sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATED_STD)
        return rng.normal(0.0, math.sqrt(variance), size=shape)


def _variance_scaling_preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                          "__doc__": doc})


GlorotUniform = _variance_scaling_preset(
    "GlorotUniform", 1.0, "fan_avg", "uniform",
    "U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _variance_scaling_preset(
    "GlorotNormal", 1.0, "fan_avg", "truncated_normal",
    "Truncated normal, stddev = sqrt(2 / (fan_in + fan_out)).")
HeUniform = _variance_scaling_preset(
    "HeUniform", 2.0, "fan_in", "uniform", "U(-limit, limit), limit = sqrt(6 / fan_in).")
HeNormal = _variance_scaling_preset(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, stddev = sqrt(2 / fan_in).")
LecunUniform = _variance_scaling_preset(
    "LecunUniform", 1.0, "fan_in", "uniform", "U(-limit, limit), limit = sqrt(3 / fan_in).")
LecunNormal = _variance_scaling_preset(
    "LecunNormal", 1.0, "fan_in", "truncated_normal",
    "Truncated normal, stddev = sqrt(1 / fan_in).")


class Orthogonal(Initializer):
    """``gain`` times a random orthogonal matrix, reshaped to ``shape``.

    With rows = prod(shape[:-1]) and cols = shape[-1]: draw A ~ N(0, 1) of shape
    (max, min), A = QR, Q <- Q * sign(diag(R)) (making Q Haar-distributed),
    transpose if rows < cols.  Columns (or rows) are orthonormal: QᵀQ = I.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = float(gain), seed

    def _sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError("The tensor to initialize with Orthogonal must be at least "
                             f"two-dimensional, received shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def _sample(self, shape, rng):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, received shape={shape}")
        return self.gain * np.eye(*shape)


_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
    Orthogonal, Identity)}
_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "normal": RandomNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity,
}
_BY_NAME = {**_CLASSES, **_ALIASES}

# Lower-case instances, usable like Keras's functional aliases: ``initializers.zeros(shape)``.
zeros, ones = Zeros(), Ones()
glorot_uniform, glorot_normal, orthogonal = GlorotUniform(), GlorotNormal(), Orthogonal()


_REGISTRY = Registry("initializer", Initializer, _BY_NAME, on_callable=lambda function: function)
serialize, deserialize, get = _REGISTRY.serialize, _REGISTRY.deserialize, _REGISTRY.get
for _cls in _CLASSES.values():
    registry.register(_cls, _cls.__name__, "minirnn.initializers")
