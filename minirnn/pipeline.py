"""Datasets used the tf.data way: ``take``, ``skip``, ``map``, ``filter``, ``batch``, ``unbatch``,
``shuffle``, ``repeat``, ``prefetch``, ``cache``, ``zip``, ``concatenate``, ``cardinality``,
``as_numpy_iterator``, elements with ``.numpy()``.

    ds = timeseries_dataset_from_array(series, targets, sequence_length=24, batch_size=32)
    for x, y in ds.take(1):
        print(x.numpy().shape)
    ds = Pipeline.zip((inputs, targets)).shuffle(100, seed=0).batch(32).prefetch(1)

A :class:`Pipeline` is a recipe: every iteration runs it again from its source (a reshuffle each
epoch, as tf.data does).  Elements are NumPy arrays, or tuples / dicts of them; iterating a
pipeline hands them out as :class:`Element` arrays, which have tf's ``numpy()``.

Same as tf.data, except: eager NumPy only (``map`` runs the function on arrays, in this process,
one element at a time; ``prefetch`` and ``num_parallel_calls`` are accepted and change nothing);
``cardinality()`` returns a Python int (``INFINITE`` -1, ``UNKNOWN`` -2).
"""
import itertools
import math

import numpy as np

INFINITE, UNKNOWN = -1, -2


class Element(np.ndarray):
    """An array handed out by a pipeline, with ``numpy()`` like a tf tensor."""

    def numpy(self):
        return np.asarray(self)


def _map_structure(fn, element):
    if isinstance(element, tuple):
        return tuple(_map_structure(fn, e) for e in element)
    if isinstance(element, list):
        return [_map_structure(fn, e) for e in element]
    if isinstance(element, dict):
        return {k: _map_structure(fn, e) for k, e in element.items()}
    return fn(element)


def _as_elements(element):
    return _map_structure(lambda a: np.asarray(a).view(Element), element)


def _plain(element):
    return _map_structure(lambda a: a.numpy() if hasattr(a, "numpy") and not isinstance(a, np.ndarray)
                          else np.asarray(a), element)


def _slices(data):
    """The first-axis slices of a structure of arrays, as one iterator."""
    if isinstance(data, (tuple, list)):
        parts = [list(_slices(d)) for d in data]
        return (tuple(p) for p in zip(*parts))
    if isinstance(data, dict):
        keys = list(data)
        parts = [list(_slices(data[k])) for k in keys]
        return (dict(zip(keys, p)) for p in zip(*parts))
    return iter(np.asarray(data))


def _length(data):
    if isinstance(data, (tuple, list)):
        return _length(data[0])
    if isinstance(data, dict):
        return _length(next(iter(data.values())))
    return len(np.asarray(data))


class PipelineMethods:
    """tf.data's methods over any re-iterable of elements (``iter(self)``, ``cardinality()``)."""

    def cardinality(self):
        try:
            return len(self)
        except TypeError:
            return UNKNOWN

    def _derived(self, make, cardinality, what):
        return Pipeline(make, cardinality, f"{what}")

    def as_numpy_iterator(self):
        return (_plain(e) for e in iter(self))

    def take(self, count):
        count = int(count)
        n = self.cardinality()
        size = count if n == INFINITE else n if count < 0 else UNKNOWN if n == UNKNOWN else min(n, count)
        return Pipeline(lambda: itertools.islice(iter(self), None if count < 0 else count), size, "take")

    def skip(self, count):
        count = int(count)
        n = self.cardinality()
        size = n if n < 0 else max(n - count, 0)
        return Pipeline(lambda: itertools.islice(iter(self), count, None), size, "skip")

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        def run():
            for e in iter(self):
                out = map_func(*e) if isinstance(e, tuple) else map_func(e)
                yield _plain(out)
        return Pipeline(run, self.cardinality(), "map")

    def filter(self, predicate, name=None):
        def run():
            for e in iter(self):
                keep = predicate(*e) if isinstance(e, tuple) else predicate(e)
                if bool(np.asarray(keep)):
                    yield e
        return Pipeline(run, UNKNOWN, "filter")

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None, name=None):
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch(): batch_size must be a positive integer, received {batch_size}")

        def run():
            it = iter(self)
            while True:
                chunk = [_plain(e) for e in itertools.islice(it, batch_size)]
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield _stack(chunk)
        n = self.cardinality()
        size = n if n < 0 else (n // batch_size if drop_remainder else math.ceil(n / batch_size))
        return Pipeline(run, size, "batch")

    def unbatch(self, name=None):
        def run():
            for e in iter(self):
                yield from _slices(_plain(e))
        return Pipeline(run, UNKNOWN if self.cardinality() != INFINITE else INFINITE, "unbatch")

    def rebatch(self, batch_size, drop_remainder=False, name=None):
        return self.unbatch().batch(batch_size, drop_remainder)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """tf.data's buffered shuffle: fill a buffer of `buffer_size`, hand out a random one, refill."""
        buffer_size = int(buffer_size)
        if buffer_size < 1:
            raise ValueError(f"shuffle(): buffer_size must be a positive integer, received {buffer_size}")
        first = np.random.default_rng(seed)
        state = {"rng": first}

        def run():
            rng = state["rng"] if reshuffle_each_iteration else np.random.default_rng(seed)
            buffer = []
            for e in iter(self):
                buffer.append(e)
                if len(buffer) >= buffer_size:
                    k = int(rng.integers(len(buffer)))
                    buffer[k], buffer[-1] = buffer[-1], buffer[k]
                    yield buffer.pop()
            while buffer:
                k = int(rng.integers(len(buffer)))
                buffer[k], buffer[-1] = buffer[-1], buffer[k]
                yield buffer.pop()
        return Pipeline(run, self.cardinality(), "shuffle")

    def repeat(self, count=None, name=None):
        n = self.cardinality()

        def run():
            for _ in (itertools.count() if count is None or count < 0 else range(int(count))):
                yield from iter(self)
        size = INFINITE if count is None or count < 0 else (n if n < 0 else n * int(count))
        return Pipeline(run, size if n != 0 else 0, "repeat")

    def prefetch(self, buffer_size=None, name=None):
        return Pipeline(lambda: iter(self), self.cardinality(), "prefetch")

    def cache(self, filename="", name=None):
        store = []

        def run():
            if store:
                yield from store
                return
            items = [_plain(e) for e in iter(self)]
            store.extend(items)
            yield from items
        return Pipeline(run, self.cardinality(), "cache")

    def concatenate(self, dataset, name=None):
        a, b = self.cardinality(), _cardinality(dataset)
        size = INFINITE if INFINITE in (a, b) else UNKNOWN if UNKNOWN in (a, b) else a + b
        return Pipeline(lambda: itertools.chain(iter(self), iter(dataset)), size, "concatenate")

    def enumerate(self, start=0, name=None):
        return Pipeline(lambda: ((np.int64(k), e) for k, e in enumerate(iter(self), start)),
                        self.cardinality(), "enumerate")

    def apply(self, transformation_func):
        return transformation_func(self)

    @staticmethod
    def zip(*datasets, name=None):
        """Elements side by side: ``zip((a, b))`` (or ``zip(a, b)``) yields ``(a_k, b_k)``."""
        if len(datasets) == 1 and isinstance(datasets[0], (tuple, list, dict)):
            datasets = datasets[0]
        if isinstance(datasets, dict):
            keys = list(datasets)
            return Pipeline(lambda: (dict(zip(keys, e)) for e in zip(*(iter(datasets[k]) for k in keys))),
                            _zip_size([datasets[k] for k in keys]), "zip")
        datasets = tuple(datasets)
        return Pipeline(lambda: zip(*(iter(d) for d in datasets)), _zip_size(datasets), "zip")

    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per index of the first axis (tuples and dicts kept)."""
        data = _map_structure(np.asarray, tensors if not isinstance(tensors, list) else tuple(tensors))
        return Pipeline(lambda: _slices(data), _length(data), "from_tensor_slices")

    @staticmethod
    def from_tensors(tensors, name=None):
        data = _map_structure(np.asarray, tensors)
        return Pipeline(lambda: iter([data]), 1, "from_tensors")

    @staticmethod
    def range(*args, **kwargs):
        values = np.arange(*args, **{k: v for k, v in kwargs.items() if k == "dtype"})
        return Pipeline(lambda: iter(values), len(values), "range")


def _cardinality(data):
    card = getattr(data, "cardinality", None)
    if callable(card):
        value = card()
        return int(value.numpy()) if hasattr(value, "numpy") else int(value)
    try:
        return len(data)
    except TypeError:
        return UNKNOWN


def _zip_size(datasets):
    sizes = [_cardinality(d) for d in datasets]
    finite = [s for s in sizes if s >= 0]
    if finite:
        return min(finite)
    return UNKNOWN if UNKNOWN in sizes else INFINITE


def _stack(chunk):
    first = chunk[0]
    if isinstance(first, tuple):
        return tuple(_stack([c[k] for c in chunk]) for k in range(len(first)))
    if isinstance(first, list):
        return [_stack([c[k] for c in chunk]) for k in range(len(first))]
    if isinstance(first, dict):
        return {k: _stack([c[k] for c in chunk]) for k in first}
    return np.stack([np.asarray(c) for c in chunk])


class Pipeline(PipelineMethods):
    """A dataset defined by a function that starts a fresh iterator of its elements."""

    def __init__(self, make_iterator, cardinality=UNKNOWN, what="dataset"):
        self._make, self._cardinality, self._what = make_iterator, int(cardinality), what

    def __iter__(self):
        return (_as_elements(e) for e in self._make())

    def cardinality(self):
        return self._cardinality

    def __len__(self):
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    @property
    def element_spec(self):
        first = next(iter(self._make()), None)
        return _map_structure(lambda a: (np.shape(a), np.asarray(a).dtype.name), first)

    def __repr__(self):
        return f"<Pipeline ({self._what}), cardinality={self._cardinality}>"


Dataset = Pipeline          # the tf.data name, for Dataset.zip / from_tensor_slices
