"""``keras.ops``: see :mod:`minirnn.ops` (the same functions), plus ``convert_to_numpy``,
``convert_to_tensor`` and the constant makers ``full``, ``full_like``, ``zeros``, ``ones``,
``zeros_like``, ``ones_like``.  Same as Keras, except: only the ops listed there, and results are
NumPy arrays (so the two conversions are ``np.asarray``; a TensorFlow or PyTorch tensor becomes its
values)."""
import numpy as np

from .. import backend

from ..ops import *              # noqa: F401,F403
from ..ops import __all__ as _ops


def convert_to_numpy(x):
    """`x` (an array, a list, a NumPy/TensorFlow/PyTorch tensor) as a NumPy array."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.detach().numpy() if hasattr(x, "detach") else x.numpy()
    return np.asarray(x)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """`x` as a NumPy array (of `dtype`, if given): minirnn's tensors are NumPy arrays."""
    if sparse or ragged:
        raise ValueError("convert_to_tensor: sparse and ragged tensors are not supported (NumPy arrays only)")
    return np.asarray(convert_to_numpy(x), dtype=dtype)


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with `fill_value` (of `dtype`, else the float type)."""
    return np.full(shape, fill_value, dtype=dtype or backend.floatx())


def full_like(x, fill_value, dtype=None):
    """An array of `x`'s shape filled with `fill_value`."""
    return np.full(np.shape(x), fill_value, dtype=dtype or np.asarray(x).dtype)


def zeros(shape, dtype=None):
    """An array of `shape` filled with 0."""
    return full(shape, 0, dtype)


def ones(shape, dtype=None):
    """An array of `shape` filled with 1."""
    return full(shape, 1, dtype)


def zeros_like(x, dtype=None):
    """An array of `x`'s shape filled with 0."""
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    """An array of `x`'s shape filled with 1."""
    return full_like(x, 1, dtype)


__all__ = list(_ops) + ["convert_to_numpy", "convert_to_tensor", "full", "full_like", "zeros", "ones", "zeros_like",
                        "ones_like"]
