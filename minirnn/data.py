"""Batched datasets for ``fit``, and the synthetic series of the TensorFlow time-series course.

A dataset here is a re-iterable of ``(x, y)`` batches with ``len()`` = number of
batches; each ``iter()`` is a new epoch (and a new shuffle).
"""
import itertools
import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .pipeline import PipelineMethods
from .utils import get_rng, is_positive_int, to_float_array


def _check_positive_int(name, value):
    if not is_positive_int(value):
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


class Dataset(PipelineMethods):
    """Re-iterable of (x, y) batches, with tf.data's methods (see minirnn/pipeline.py); subclasses give ``num_examples``, ``batch_size``,
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



def _optional_index(name, value):
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"`{name}` must be an integer or None, received {name}={value!r}")
    return int(value)


class TimeseriesDataset(Dataset):
    """Windows over a time series, gathered batch by batch: ``timeseries_dataset_from_array``.

    Window ``k`` starts at ``p = start_index + positions[k]`` and holds the steps
    ``data[p], data[p + r], ..., data[p + (sequence_length - 1) r]`` (r = sampling_rate);
    its target is ``targets[p]``.  Only the start positions are stored: each batch is
    one fancy-indexing gather from ``data`` (which is kept as given, views and memmaps
    included), so the memory used is that of one batch, whatever the number of windows.

    Yields ``(x, y)`` batches, or ``x`` alone when ``targets`` is None, or single
    samples when ``batch_size`` is None.  Iterating again starts a new epoch.
    """

    def __init__(self, data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                 batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
        data = data if isinstance(data, np.ndarray) else np.asarray(data)
        if data.ndim == 0:
            raise ValueError(f"`data` must be an array with time on axis 0, received a scalar {data!r}")
        if targets is not None:
            targets = targets if isinstance(targets, np.ndarray) else np.asarray(targets)
            if targets.ndim == 0:
                raise ValueError(f"`targets` must be an array (or None), received a scalar {targets!r}")
        self.sequence_length = _check_positive_int("sequence_length", sequence_length)
        self.batch_size = None if batch_size is None else _check_positive_int("batch_size", batch_size)
        start_index = _optional_index("start_index", start_index)
        end_index = _optional_index("end_index", end_index)
        n = len(data)
        # Keras's checks, in its order and words (a 0 skips them, as `if start_index:` does there).
        if start_index:
            if start_index < 0:
                raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
            if start_index >= n:
                raise ValueError(f"`start_index` must be lower than the length of the data. Received: "
                                 f"start_index={start_index}, for data of length {n}")
        if end_index:
            if start_index and end_index <= start_index:
                raise ValueError(f"`end_index` must be higher than `start_index`. Received: "
                                 f"start_index={start_index}, and end_index={end_index}")
            if end_index >= n:
                raise ValueError(f"`end_index` must be lower than the length of the data. Received: "
                                 f"end_index={end_index}, for data of length {n}")
            if end_index <= 0:
                raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
        for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ValueError(f"`{name}` must be an integer, received {name}={value!r}")
            if value <= 0:
                raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
            if value >= n:
                raise ValueError(f"`{name}` must be lower than the length of the data. Received: "
                                 f"{name}={value}, for data of length {n}")
        self.sequence_stride, self.sampling_rate = int(sequence_stride), int(sampling_rate)
        self.start_index = 0 if start_index is None else start_index
        self.end_index = n if end_index is None else end_index

        num_seqs = self.end_index - self.start_index - (self.sequence_length - 1) * self.sampling_rate
        if targets is not None:
            num_seqs = min(num_seqs, len(targets))
        positions = np.arange(0, max(num_seqs, 0), self.sequence_stride, dtype=np.int64)
        if targets is not None and len(positions) and self.start_index + positions[-1] >= len(targets):
            # Keras fails here only when the batch is gathered; say it up front.
            raise ValueError(f"`targets` of length {len(targets)} is too short: the last window starts at "
                             f"index {self.start_index + positions[-1]} and takes its target from there")
        self.shuffle = bool(shuffle)
        if self.shuffle:
            # Keras: a seeded RandomState permutes the start positions once, then every epoch a
            # tf.data shuffle buffer of batch_size * 8 (1024 unbatched) mixes them locally.
            if seed is None:
                seed = int(get_rng().integers(1_000_000))
            np.random.RandomState(seed).shuffle(positions)
        self.seed = seed
        self._own_rng = np.random.default_rng(seed) if self.shuffle else None
        self.shuffle_buffer = 1024 if self.batch_size is None else self.batch_size * 8
        self.positions = positions + self.start_index      # absolute start of every window
        self.offsets = np.arange(self.sequence_length, dtype=np.int64) * self.sampling_rate
        self.data, self.targets = data, targets
        self.num_examples = len(positions)
        self.yields_xy = targets is not None

    def __len__(self):
        return self.num_examples if self.batch_size is None else super().__len__()

    def __iter__(self):
        if self.batch_size is not None:
            yield from super().__iter__()
            return
        for i in self._order():
            batch = self._gather(np.array([i]))
            yield (batch[0][0], batch[1][0]) if self.yields_xy else batch[0]

    def _order(self):
        if self.shuffle:
            return shuffle_order(self.num_examples, self.shuffle_buffer, self._own_rng)
        return np.arange(self.num_examples)

    def _gather(self, indices):
        starts = self.positions[indices]
        x = self.data[starts[:, None] + self.offsets]
        return (x, self.targets[starts]) if self.yields_xy else x

    def as_arrays(self):
        """Every window (and target) in start order, as new arrays: this one does materialise."""
        return self._gather(np.argsort(self.positions, kind="stable"))

    def __repr__(self):
        return (f"TimeseriesDataset(windows={self.num_examples}, sequence_length={self.sequence_length}, "
                f"sampling_rate={self.sampling_rate}, sequence_stride={self.sequence_stride}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, data_shape={self.data.shape}, "
                f"dtype={self.data.dtype})")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None,
                                  end_index=None):
    """Sliding windows over ``data`` with Keras's ``timeseries_dataset_from_array`` semantics.

    Windows start at ``start_index + i * sequence_stride`` and take ``sequence_length``
    steps ``sampling_rate`` apart, never reaching ``end_index`` (exclusive; default the
    end of ``data``); ``targets[j]`` is the target of the window starting at ``j``
    (so for forecasting pass ``data[:-delay]`` and ``targets=series[delay:]``), and
    there are at most ``len(targets)`` windows.  ``shuffle`` permutes the start
    positions with ``RandomState(seed)`` as Keras does, then mixes each epoch through a
    buffer of ``8 * batch_size`` windows.  Batches are ``(x, y)`` with x of shape
    ``(b, sequence_length, *data.shape[1:])``, or ``x`` alone if ``targets`` is None;
    the last batch may be smaller.

    Returns a lazy, re-iterable :class:`TimeseriesDataset` with ``len()`` = number of
    batches, usable with ``Sequential.fit`` / ``evaluate`` / ``predict``.
    """
    return TimeseriesDataset(data, targets, sequence_length, sequence_stride, sampling_rate,
                             batch_size, shuffle, seed, start_index, end_index)



class TakeDataset(PipelineMethods):
    """The first ``n`` batches of each epoch of ``dataset`` (Keras's ``steps_per_epoch`` on a
    finite dataset, or ``tf.data``'s ``take``); re-iterable, with ``len()``."""

    def __init__(self, dataset, n):
        self.dataset, self.n = dataset, _check_positive_int("n", n)

    def __len__(self):
        return min(len(self.dataset), self.n)

    def __iter__(self):
        return itertools.islice(iter(self.dataset), self.n)

    def __repr__(self):
        return f"TakeDataset({self.dataset!r}, n={self.n})"


def take(dataset, n):
    """A :class:`TakeDataset`: at most ``n`` batches per epoch of ``dataset``."""
    return TakeDataset(dataset, n)


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


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Sequences of different lengths as one ``(len(sequences), maxlen, *step_shape)`` array,
    as ``keras.utils.pad_sequences``: longer ones lose their first (``truncating="pre"``) or last
    (``"post"``) steps, shorter ones get ``value`` before (``padding="pre"``) or after (``"post"``).
    ``maxlen`` defaults to the longest sequence.  Numbers only (strings are not padded)."""
    for name, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ValueError(f'{name} must be "pre" or "post", received {name}={choice!r}')
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"sequences must be a list of sequences, received {type(sequences).__name__}")
    rows = []
    for k, seq in enumerate(sequences):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise ValueError(f"sequences must be a list of sequences; item {k} is {seq!r}")
        row = np.asarray(seq)
        if row.size and row.dtype.kind not in "biuf":
            raise ValueError(f"pad_sequences takes numbers; item {k} has dtype {row.dtype}")
        rows.append(row)
    step_shape = next((r.shape[1:] for r in rows if len(r)), ())
    if maxlen is None:
        maxlen = max((len(r) for r in rows), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0:
        raise ValueError(f"maxlen must be an integer >= 0 or None, received maxlen={maxlen!r}")
    out = np.full((len(rows), maxlen) + step_shape, value, dtype=dtype)
    for k, row in enumerate(rows):
        if not len(row) or not maxlen:
            continue
        kept = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if kept.shape[1:] != step_shape:
            raise ValueError(f"item {k} has steps of shape {kept.shape[1:]}, the others {step_shape}")
        if padding == "post":
            out[k, :len(kept)] = kept
        else:
            out[k, maxlen - len(kept):] = kept
    return out
