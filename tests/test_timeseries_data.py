"""timeseries_dataset_from_array: batch for batch the same as Keras's, without materialising windows."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tracemalloc  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.data import TimeseriesDataset, timeseries_dataset_from_array  # noqa: E402


def keras_batches(*args, **kwargs):
    ds = keras.utils.timeseries_dataset_from_array(*args, **kwargs)
    return [tuple(t.numpy() for t in b) if isinstance(b, tuple) else b.numpy() for b in ds]


def as_rows(batches, batched=True):
    """Every sample as one flat row (window then target), sorted: a multiset to compare."""
    rows = []
    for b in batches:
        parts = b if isinstance(b, tuple) else (b,)
        if not batched:
            parts = tuple(np.asarray(p)[None] for p in parts)
        rows.append(np.concatenate([np.asarray(p).reshape(len(parts[0]), -1) for p in parts], axis=1))
    rows = np.concatenate(rows) if rows else np.zeros((0, 0))
    return rows[np.lexsort(rows.T[::-1])] if rows.size else rows


def shapes(batches):
    return [tuple(np.shape(p) for p in (b if isinstance(b, tuple) else (b,))) for b in batches]


@st.composite
def settings_grid(draw):
    n = draw(st.integers(4, 60))
    features = draw(st.sampled_from([(), (3,)]))
    sequence_length = draw(st.integers(1, 12))
    kwargs = dict(
        sequence_stride=draw(st.integers(1, 5)),
        sampling_rate=draw(st.integers(1, 4)),
        batch_size=draw(st.one_of(st.none(), st.integers(1, 16))),
        start_index=draw(st.one_of(st.none(), st.integers(0, n - 1))),
    )
    lo = 1 if kwargs["start_index"] is None else kwargs["start_index"] + 1
    kwargs["end_index"] = draw(st.one_of(st.none(), st.integers(lo, n - 1))) if lo <= n - 1 else None
    target_kind = draw(st.sampled_from(["none", "same", "shorter", "shifted"]))
    return n, features, sequence_length, target_kind, kwargs


def make_arrays(n, features, target_kind, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, *features)).astype(np.float32)
    if target_kind == "none":
        targets = None
    elif target_kind == "same":
        targets = np.arange(n, dtype=np.float64) * 10
    elif target_kind == "shorter":      # fewer targets than windows: Keras stops at len(targets)
        targets = np.arange(max(1, n // 3)) * 10
    else:                               # forecasting layout: data[:-d], targets[d:]
        targets = rng.normal(size=(n, 2))
    return data, targets


def build_both(n, features, sequence_length, target_kind, kwargs):
    data, targets = make_arrays(n, features, target_kind)
    try:
        theirs = keras_batches(data, targets, sequence_length, **kwargs)
    except Exception as error:          # invalid settings, or Keras's gather out of range
        with pytest.raises(ValueError):
            list(timeseries_dataset_from_array(data, targets, sequence_length, **kwargs))
        return None, error
    ours = timeseries_dataset_from_array(data, targets, sequence_length, **kwargs)
    return ours, theirs


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settings_grid())
def test_unshuffled_batches_equal_keras_exactly(grid):
    n, features, sequence_length, target_kind, kwargs = grid
    ours, theirs = build_both(n, features, sequence_length, target_kind, kwargs)
    if ours is None:
        return
    batches = list(ours)
    assert len(ours) == len(batches) == len(theirs)
    assert shapes(batches) == shapes(theirs)
    for a, b in zip(batches, theirs):
        for p, q in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            assert p.dtype == q.dtype
            np.testing.assert_array_equal(p, q)
    assert list(ours) and batches or not batches        # re-iterable
    for a, b in zip(list(ours), batches):
        np.testing.assert_array_equal(a[0] if isinstance(a, tuple) else a, b[0] if isinstance(b, tuple) else b)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settings_grid(), st.integers(0, 10_000))
def test_shuffled_batches_hold_the_same_samples_as_keras(grid, seed):
    n, features, sequence_length, target_kind, kwargs = grid
    kwargs = dict(kwargs, shuffle=True, seed=seed)
    ours, theirs = build_both(n, features, sequence_length, target_kind, kwargs)
    if ours is None:
        return
    batched = kwargs["batch_size"] is not None
    for epoch in range(2):
        batches = list(ours)
        assert len(ours) == len(batches) == len(theirs)
        assert shapes(batches) == shapes(theirs)
        np.testing.assert_array_equal(as_rows(batches, batched), as_rows(theirs, batched))


def test_keras_docstring_example():
    ds = timeseries_dataset_from_array(np.arange(99), None, sequence_length=10, sequence_stride=3,
                                       sampling_rate=2, batch_size=1000)
    (x,) = list(ds)
    np.testing.assert_array_equal(x[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(x[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(x[-1], np.arange(78, 98, 2))
    assert len(x) == 27


def test_book_forecasting_layout_equals_keras():
    """Deep Learning with Python ch. 10: data[:-delay], targets[delay:], start/end indices, shuffled."""
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(3000, 4)).astype(np.float32)
    temperature = raw[:, 1] * 10
    rate, length, batch = 6, 12, 64
    delay = rate * (length + 24 - 1)
    row_of = {v: i for i, v in enumerate(raw[:, 1])}
    assert len(row_of) == len(raw)           # distinct values: a window's first step names its row
    for start, end, shuffle in ((0, 1500, True), (1500, 2250, True), (2250, None, False)):
        args = (raw[:-delay], temperature[delay:], length)
        kwargs = dict(sampling_rate=rate, batch_size=batch, shuffle=shuffle, seed=7, start_index=start,
                      end_index=end)
        ours, theirs = list(timeseries_dataset_from_array(*args, **kwargs)), keras_batches(*args, **kwargs)
        assert shapes(ours) == shapes(theirs)
        np.testing.assert_array_equal(as_rows(ours), as_rows(theirs))
        # Every sample: its window is every `rate`-th row from some start s inside the split,
        # and its target is the temperature `delay` steps after s.
        x = np.concatenate([b[0] for b in ours])
        y = np.concatenate([b[1] for b in ours])
        starts = np.array([row_of[v] for v in x[:, 0, 1]])
        np.testing.assert_array_equal(x, raw[starts[:, None] + rate * np.arange(length)])
        np.testing.assert_array_equal(y, temperature[starts + delay])
        assert starts.min() >= start and starts.max() + rate * (length - 1) < (end or len(raw) - delay)


def test_seeded_shuffle_is_reproducible_and_reshuffles_every_epoch():
    data = np.arange(500.0)

    def make():
        return timeseries_dataset_from_array(data, data, 5, batch_size=8, shuffle=True, seed=11)

    a, b = make(), make()
    epoch1 = [y for _, y in a]
    np.testing.assert_array_equal(np.concatenate(epoch1), np.concatenate([y for _, y in b]))
    epoch2 = np.concatenate([y for _, y in a])
    assert not np.array_equal(np.concatenate(epoch1), epoch2)
    assert not np.array_equal(np.sort(epoch2), epoch2)                  # shuffled at all
    np.testing.assert_array_equal(np.sort(epoch2), np.arange(496.0))
    # Unseeded datasets are governed by set_random_seed.
    mr.set_random_seed(5)
    c = np.concatenate([y for _, y in timeseries_dataset_from_array(data, data, 5, shuffle=True)])
    mr.set_random_seed(5)
    d = np.concatenate([y for _, y in timeseries_dataset_from_array(data, data, 5, shuffle=True)])
    np.testing.assert_array_equal(c, d)


def test_same_initial_permutation_as_keras():
    """Keras permutes the start positions with RandomState(seed): ours are the same ones."""
    ds = timeseries_dataset_from_array(np.arange(50.0), None, 3, shuffle=True, seed=123, batch_size=4)
    expected = np.arange(48)
    np.random.RandomState(123).shuffle(expected)
    np.testing.assert_array_equal(ds.positions, expected)


def test_jena_sized_array_is_not_materialised():
    """420k x 14 float32 with 120-step windows would be ~2.8 GB as windows; the dataset holds kilobytes."""
    source = np.zeros((420_551, 14), dtype=np.float32)
    source[:, 1] = np.arange(len(source))
    delay = 6 * (120 + 24 - 1)
    tracemalloc.start()
    try:
        ds = timeseries_dataset_from_array(source[:-delay], source[delay:, 1], sequence_length=120,
                                           sampling_rate=6, batch_size=256, shuffle=True, seed=0,
                                           start_index=0, end_index=210_275)
        built = tracemalloc.get_traced_memory()[1]
        x, y = next(iter(ds))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.shares_memory(ds.data, source) and np.shares_memory(ds.targets, source)
    own = sum(v.nbytes for k, v in vars(ds).items()
              if isinstance(v, np.ndarray) and k not in ("data", "targets"))
    windows_bytes = ds.num_examples * 120 * 14 * 4
    assert own < windows_bytes / 500
    assert built < 10 * 2**20                   # start positions only (a few MB at most)
    assert peak < 10 * 2**20 + 3 * x.nbytes     # plus one batch
    assert x.shape == (256, 120, 14) and y.shape == (256,)
    np.testing.assert_array_equal(x[:, :, 1], x[:, :1, 1] + 6 * np.arange(120))
    np.testing.assert_array_equal(y, x[:, 0, 1] + delay)
    assert len(ds) == -(-ds.num_examples // 256)


def test_strided_and_noncontiguous_sources():
    base = np.arange(400.0).reshape(200, 2)
    strided = base[::2, ::-1]                     # a view with negative and doubled strides
    ours = list(timeseries_dataset_from_array(strided, strided[:, 0], 7, sampling_rate=3, batch_size=9))
    theirs = keras_batches(np.ascontiguousarray(strided), np.ascontiguousarray(strided[:, 0]), 7,
                           sampling_rate=3, batch_size=9)
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_works_with_fit_evaluate_predict():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(300, 2)).astype(np.float32)
    train = timeseries_dataset_from_array(series[:-5], series[5:, 0], 10, batch_size=32, shuffle=True, seed=1)
    inputs = timeseries_dataset_from_array(series[:-5], None, 10, batch_size=32)
    mr.set_random_seed(0)
    model = mr.Sequential([mr.Input(shape=(10, 2)), mr.SimpleRNN(4), mr.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train, epochs=2, verbose=0, validation_data=train)
    assert len(history.history["loss"]) == 2 and "val_mae" in history.history
    x, y = timeseries_dataset_from_array(series[:-5], series[5:, 0], 10, batch_size=32).as_arrays()
    predicted = model.predict(inputs, verbose=0)
    assert predicted.shape == (len(x), 1)
    np.testing.assert_allclose(predicted, model.predict(x, verbose=0), rtol=1e-6)
    loss, mae = model.evaluate(train, verbose=0)
    loss2, mae2 = model.evaluate(x, y, batch_size=32, verbose=0)
    np.testing.assert_allclose([loss, mae], [loss2, mae2], rtol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(start_index=-1), "start_index"),
    (dict(start_index=50), "start_index"),
    (dict(start_index=10, end_index=10), "end_index"),
    (dict(end_index=50), "end_index"),
    (dict(end_index=-3), "end_index"),
    (dict(sampling_rate=0), "sampling_rate"),
    (dict(sampling_rate=50), "sampling_rate"),
    (dict(sequence_stride=0), "sequence_stride"),
])
def test_invalid_settings_raise_like_keras(kwargs, message):
    data = np.arange(50.0)
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(data, None, 5, **kwargs)
    with pytest.raises(ValueError):
        keras.utils.timeseries_dataset_from_array(data, None, 5, **kwargs)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        timeseries_dataset_from_array(np.arange(50.0), None, 5, batch_size=0)


def test_too_short_targets_fail_at_construction():
    with pytest.raises(ValueError, match="targets"):
        timeseries_dataset_from_array(np.arange(50.0), np.arange(12.0), 5, start_index=20)


def test_is_a_dataset_with_repr():
    ds = timeseries_dataset_from_array(np.zeros((30, 3)), None, 4, batch_size=8)
    assert isinstance(ds, TimeseriesDataset) and len(ds) == 4
    assert "windows=27" in repr(ds)


def test_take_limits_batches_per_epoch():
    from minirnn.data import take
    ds = timeseries_dataset_from_array(np.arange(100.0), np.arange(100.0), 5, batch_size=8, shuffle=True, seed=0)
    limited = take(ds, 3)
    assert len(limited) == 3 and len(take(ds, 100)) == len(ds)
    first, second = [y for _, y in limited], [y for _, y in limited]
    assert len(first) == len(second) == 3
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))   # each epoch reshuffles
    with pytest.raises(ValueError, match="n must be"):
        take(ds, 0)
