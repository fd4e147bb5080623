"""Random state and array conversion shared by the whole library.

Everything random (weight initialisation, dataset shuffling) draws from one
module-level :class:`numpy.random.Generator`, so ``set_random_seed(s)`` makes a
run reproducible, like ``keras.utils.set_random_seed``.
"""
import numbers
import random

import numpy as np

from .backend import floatx

_rng = np.random.default_rng()


def set_random_seed(seed):
    """Seed Python's ``random``, the legacy ``numpy.random`` state and the library generator."""
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, received {seed!r}")
    global _rng
    random.seed(seed)
    np.random.seed(seed)
    _rng = np.random.default_rng(seed)


def get_rng():
    """The library's shared :class:`numpy.random.Generator`."""
    return _rng


def make_rng(seed=None):
    """A generator for ``seed``: a fresh seeded one, or the shared one if ``seed`` is None."""
    return _rng if seed is None else np.random.default_rng(seed)


def float_dtype(x, dtype=None):
    """The float dtype to compute ``x`` in: ``dtype`` if given, x's own float dtype, else floatx."""
    if dtype is not None:
        return np.dtype(dtype)
    x_dtype = getattr(x, "dtype", None)
    if x_dtype is not None and np.issubdtype(x_dtype, np.floating):
        return np.dtype(x_dtype)
    # Python floats would otherwise become float64; Keras makes them floatx.
    return np.dtype(floatx())


def to_float_array(x, dtype=None):
    """``x`` as a float ndarray, keeping an ndarray's float dtype (no copy if already fine)."""
    return np.asarray(x, dtype=float_dtype(x, dtype))
