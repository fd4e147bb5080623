"""``keras.random``: random tensors as NumPy arrays.  Same as Keras, except: a ``seed`` is an integer
or None (no ``SeedGenerator`` objects); without one, draws come from the generator that
``keras.utils.set_random_seed`` seeds."""
import numpy as np

from .. import backend, utils


def _rng(seed):
    if seed is None:
        return utils.get_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"keras.random: seed must be an integer or None (minirnn has no SeedGenerator), "
                         f"received {seed!r}")
    return np.random.default_rng(int(seed))


def _dtype(dtype):
    return np.dtype(dtype or backend.floatx())


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws of N(mean, stddev²)."""
    return _rng(seed).normal(mean, stddev, tuple(shape)).astype(_dtype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws of U[minval, maxval)."""
    return _rng(seed).uniform(minval, maxval, tuple(shape)).astype(_dtype(dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws of N(mean, stddev²) kept within two standard deviations (the others drawn again)."""
    rng, out = _rng(seed), np.empty(tuple(shape))
    flat, todo = out.reshape(-1), np.arange(out.size)
    while todo.size:
        draw = rng.normal(0.0, 1.0, todo.size)
        keep = np.abs(draw) <= 2.0
        flat[todo[keep]] = draw[keep]
        todo = todo[~keep]
    return (mean + stddev * out).astype(_dtype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers drawn uniformly from [minval, maxval)."""
    return _rng(seed).integers(minval, maxval, tuple(shape)).astype(dtype)


def shuffle(x, axis=0, seed=None):
    """`x` with its entries along `axis` in a random order."""
    x = np.asarray(x)
    return np.take(x, _rng(seed).permutation(x.shape[axis]), axis=axis)


__all__ = ["normal", "uniform", "truncated_normal", "randint", "shuffle"]
