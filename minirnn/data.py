"""Batched datasets for ``fit``, and the synthetic series of the TensorFlow time-series course.

A dataset here is a re-iterable of ``(x, y)`` batches with ``len()`` = number of
batches; each ``iter()`` is a new epoch (and a new shuffle).
"""
import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .utils import get_rng, to_float_array


def _check_positive_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, received {name}={value!r}")
    return int(value)


def shuffle_order(n, buffer_size, rng):
    """The order in which ``tf.data``'s ``shuffle(buffer_size)`` emits n elements.

    Fill a buffer with the first ``buffer_size`` elements; repeatedly emit a
    uniformly chosen slot and refill it with the next element, then drain the
    buffer the same way.  Each element moves at most ``buffer_size - 1`` places
    earlier, so a small buffer only mixes neighbours.
    """
    if buffer_size <= 1:
        return np.arange(n)
    if buffer_size >= n:  # the buffer holds everything: a uniform permutation
        return rng.permutation(n)
    draws = rng.random(n)
    buffer = list(range(buffer_size))
    order = np.empty(n, dtype=np.intp)
    next_element = buffer_size
    for i in range(n):
        slot = int(draws[i] * len(buffer))
        order[i] = buffer[slot]
        if next_element < n:
            buffer[slot] = next_element
            next_element += 1
        else:  # input exhausted: the buffer shrinks
            buffer[slot] = buffer[-1]
            buffer.pop()
    return order


class Dataset:
    """Re-iterable of (x, y) batches; subclasses give ``num_examples``, ``batch_size``,
    ``_order()`` (the example order of one epoch) and ``_gather(indices)``."""

    yields_xy = True

    def __len__(self):
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self):
        order = self._order()
        for start in range(0, self.num_examples, self.batch_size):
            yield self._gather(order[start:start + self.batch_size])

    def _rng(self):
        # Unseeded datasets draw from the library generator at iteration time,
        # so set_random_seed() also governs datasets built before it was called.
        return self._own_rng if self._own_rng is not None else get_rng()

    def as_arrays(self):
        """All (x, y) in the original order, as new arrays (copies, unlike iteration)."""
        return self._gather(np.arange(self.num_examples))


class WindowedDataset(Dataset):
    """Every window of ``window_size`` consecutive values with the next value as label.

    Equivalent to the course pipeline::

        Dataset.from_tensor_slices(series).window(window_size + 1, shift=1, drop_remainder=True)
            .flat_map(lambda w: w.batch(window_size + 1)).shuffle(shuffle_buffer)
            .map(lambda w: (w[:-1], w[-1])).batch(batch_size)

    Batches: x of shape (b, window_size, *series.shape[1:]), y of shape (b, *series.shape[1:]),
    b = batch_size except possibly the last.  Windows are a strided view of the series;
    only the rows of one batch are ever copied.
    """

    def __init__(self, series, window_size, batch_size, shuffle_buffer, seed=None):
        self.window_size = _check_positive_int("window_size", window_size)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.shuffle_buffer = _check_positive_int("shuffle_buffer", shuffle_buffer)
        self.series = to_float_array(series)
        if self.series.ndim == 0:
            raise ValueError(f"series must be at least 1-D, received a scalar {series!r}")
        if len(self.series) < self.window_size + 1:
            raise ValueError(f"series of length {len(self.series)} is too short for "
                             f"window_size={self.window_size}: it needs at least "
                             f"window_size + 1 = {self.window_size + 1} values")
        self.num_examples = len(self.series) - self.window_size
        # (n - w, *features, w) -> (n - w, w, *features), still a view of the series.
        self.inputs = np.moveaxis(
            sliding_window_view(self.series[:-1], self.window_size, axis=0), -1, 1)
        self.labels = self.series[self.window_size:]
        self._own_rng = None if seed is None else np.random.default_rng(seed)

    def _order(self):
        return shuffle_order(self.num_examples, self.shuffle_buffer, self._rng())

    def _gather(self, indices):
        return np.ascontiguousarray(self.inputs[indices]), self.labels[indices]

    def __repr__(self):
        return (f"WindowedDataset(windows={self.num_examples}, window_size={self.window_size}, "
                f"batch_size={self.batch_size}, shuffle_buffer={self.shuffle_buffer}, "
                f"dtype={self.series.dtype})")


def windowed_dataset(series, window_size, batch_size, shuffle_buffer, seed=None):
    """A :class:`WindowedDataset` of (window, next value) batches, as in the course."""
    return WindowedDataset(series, window_size, batch_size, shuffle_buffer, seed)


class ArrayDataset(Dataset):
    """Batches of (x[i], y[i]); with ``shuffle`` a new permutation every epoch (Keras ``fit``)."""

    def __init__(self, x, y, batch_size=32, shuffle=False, seed=None):
        self.x, self.y = np.asarray(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"x and y must have the same number of samples, received "
                             f"{len(self.x)} and {len(self.y)}")
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.num_examples = len(self.x)
        self._own_rng = None if seed is None else np.random.default_rng(seed)

    def _order(self):
        if self.shuffle:
            return self._rng().permutation(self.num_examples)
        return np.arange(self.num_examples)

    def _gather(self, indices):
        return self.x[indices], self.y[indices]


def seasonal_pattern(season_time):
    """cos(2π t) for t < 0.4, else exp(-3t): an arbitrary yearly shape."""
    return np.where(season_time < 0.4, np.cos(season_time * 2 * np.pi), 1 / np.exp(3 * season_time))


def synthetic_series(time=None, baseline=10, slope=0.05, amplitude=40, period=365,
                     noise_level=5, seed=42, phase=0):
    """The course's synthetic series: baseline + trend + seasonality + noise.

    trend = slope·t; seasonality = amplitude·seasonal_pattern(((t + phase) mod period) / period);
    noise = noise_level·N(0, 1) from ``np.random.RandomState(seed)``.
    ``time`` defaults to 0 .. 4·365.  Returns float32 (time, series).
    """
    time = np.arange(4 * 365 + 1) if time is None else np.asarray(time)
    t = time.astype(np.float64)
    seasonality = amplitude * seasonal_pattern(((t + phase) % period) / period)
    noise = np.random.RandomState(seed).randn(len(t)) * noise_level
    series = baseline + slope * t + seasonality + noise
    return time.astype(np.float32), series.astype(np.float32)
