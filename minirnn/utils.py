"""Random state and array conversion shared by the whole library.

Everything random (weight initialisation, dataset shuffling) draws from one
module-level :class:`numpy.random.Generator`, so ``set_random_seed(s)`` makes a
run reproducible, like ``keras.utils.set_random_seed``.
"""
import itertools
import numbers
import random

import numpy as np

from .backend import floatx

_rng = np.random.default_rng()


def format_shape(shape):
    """``(None, 5, 3)``: a shape as error messages and summaries print it (Python's tuple form)."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def is_positive_int(value):
    """True for an integer >= 1 (Python or NumPy), False for bools, floats and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= 1


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


class Configurable:
    """Rebuilt from its ``get_config()``, and shown as ``Class(arg=value, ...)``."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Registry:
    """Names -> classes of one kind (losses, optimizers, initializers), and the look-ups
    every such module offers: ``get``, ``serialize`` and ``deserialize``."""

    def __init__(self, kind, base, by_name, on_callable=None):
        self.kind, self.base, self.by_name = kind, base, by_name
        self.on_callable = on_callable          # what a plain callable identifier becomes

    def lookup(self, name):
        cls = self.by_name.get(name)
        if cls is None:
            raise ValueError(f"Unknown {self.kind}: {name!r}. Valid names are: {', '.join(sorted(self.by_name))}")
        return cls

    def serialize(self, obj):
        """``{"class_name": ..., "config": {...}}`` for an instance."""
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config):
        """Inverse of :meth:`serialize`."""
        return self.lookup(config["class_name"]).from_config(dict(config.get("config") or {}))

    def get(self, identifier):
        """An instance from an instance, a class, a name or a serialized dict."""
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if isinstance(identifier, str):
            return self.lookup(identifier)()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if callable(identifier) and self.on_callable is not None:
            return self.on_callable(identifier)
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}. Valid names are: "
                         f"{', '.join(sorted(self.by_name))}")


class PyDataset:
    """Base class of a dataset written in Python: ``keras.utils.PyDataset``.

    A subclass gives ``__len__`` (the number of batches; or a ``num_batches`` property that may be
    None for an endless dataset) and ``__getitem__(index)`` returning the batch ``index`` as
    ``(x, y)``, ``(x,)`` or ``x``; ``on_epoch_begin`` / ``on_epoch_end`` run around every epoch
    (reshuffle there).  Same as Keras, except that ``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` are accepted and ignored: batches are loaded in the training thread.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index) -> batch")

    @property
    def num_batches(self):
        """Number of batches, or None for an endless dataset (default: ``len(self)``)."""
        if hasattr(type(self), "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ or the num_batches property")

    def __iter__(self):
        n = self.num_batches
        for index in (range(n) if n is not None else itertools.count()):
            yield self[index]

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass
