import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from minirnn import data, utils  # noqa: E402


def tf_windowed_dataset(series, window_size, batch_size, shuffle_buffer):
    """The course's tf.data pipeline."""
    ds = tf.data.Dataset.from_tensor_slices(series)
    ds = ds.window(window_size + 1, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(window_size + 1))
    ds = ds.shuffle(shuffle_buffer)
    ds = ds.map(lambda w: (w[:-1], w[-1]))
    return ds.batch(batch_size)


def tf_batches(*args):
    return [(x.numpy(), y.numpy()) for x, y in tf_windowed_dataset(*args)]


def pairs(batches):
    """Sorted rows of [window..., label], flattened, to compare as multisets."""
    rows = np.concatenate([np.concatenate([x.reshape(len(x), -1), y.reshape(len(y), -1)], axis=1)
                           for x, y in batches])
    return rows[np.lexsort(rows.T[::-1])]


def random_series(n, *feature_shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *feature_shape)).astype(dtype)


@pytest.mark.parametrize("shape,window_size,batch_size,shuffle_buffer", [
    ((50,), 5, 8, 10),
    ((50,), 20, 32, 1000),
    ((37, 2), 4, 5, 3),
    ((11,), 10, 4, 2),
])
def test_same_pairs_and_batch_shapes_as_tf(shape, window_size, batch_size, shuffle_buffer):
    series = random_series(*shape)
    ours = list(data.windowed_dataset(series, window_size, batch_size, shuffle_buffer, seed=1))
    theirs = tf_batches(series, window_size, batch_size, shuffle_buffer)
    assert len(data.windowed_dataset(series, window_size, batch_size, shuffle_buffer)) == \
        len(theirs) == len(ours)
    assert [(x.shape, y.shape) for x, y in ours] == [(x.shape, y.shape) for x, y in theirs]
    assert all(x.dtype == y.dtype == np.float32 for x, y in ours)
    np.testing.assert_array_equal(pairs(ours), pairs(theirs))


@pytest.mark.parametrize("shape", [(40,), (40, 3)])
def test_buffer_of_one_gives_tf_order_exactly(shape):
    series = random_series(*shape, dtype=np.float64)
    ours = list(data.windowed_dataset(series, 6, 7, 1))
    theirs = tf_batches(series, 6, 7, 1)
    assert len(ours) == len(theirs)
    for (x, y), (tx, ty) in zip(ours, theirs):
        assert x.dtype == np.float64
        np.testing.assert_array_equal(x, tx)
        np.testing.assert_array_equal(y, ty)


def test_shuffle_distribution_matches_tf():
    """Mean output position of each element under shuffle(5) of 30 elements."""
    n, buffer_size, epochs = 30, 5, 400
    rng = np.random.default_rng(0)
    ours = np.zeros(n)
    for _ in range(epochs):
        ours[data.shuffle_order(n, buffer_size, rng)] += np.arange(n)
    theirs = np.zeros(n)
    shuffled = tf.data.Dataset.range(n).shuffle(buffer_size, seed=0).batch(n)
    for _ in range(epochs // 40):
        for batch in shuffled.repeat(40):
            theirs[batch.numpy()] += np.arange(n)
    # Standard error of each mean is below 0.15; a biased algorithm (e.g. FIFO refill)
    # moves early and late elements by whole positions.
    np.testing.assert_allclose(ours / epochs, theirs / epochs, atol=0.75)


def test_elements_never_leave_earlier_than_the_buffer_allows():
    rng = np.random.default_rng(3)
    for buffer_size in (2, 7):
        order = data.shuffle_order(100, buffer_size, rng)
        assert sorted(order) == list(range(100))
        position = np.argsort(order)
        assert np.all(position >= np.arange(100) - (buffer_size - 1))


def test_windows_are_a_view_of_the_series():
    series = np.arange(1_000_000, dtype=np.float32)
    ds = data.windowed_dataset(series, 500, 32, 1000, seed=0)
    # A copy of every window would take 2 GB.
    assert np.shares_memory(ds.inputs, series)
    assert np.shares_memory(ds.labels, series)
    x, y = next(iter(ds))
    assert x.shape == (32, 500) and x.flags.c_contiguous
    np.testing.assert_array_equal(x[:, 0] + 500, y)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)


def test_new_shuffle_each_epoch_and_seeded_determinism():
    series = np.arange(200, dtype=np.float32)
    ds = data.windowed_dataset(series, 3, 16, 50, seed=7)
    epoch_1 = np.concatenate([y for _, y in ds])
    epoch_2 = np.concatenate([y for _, y in ds])
    assert not np.array_equal(epoch_1, epoch_2)
    assert sorted(epoch_1) == sorted(epoch_2)
    again = data.windowed_dataset(series, 3, 16, 50, seed=7)
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), epoch_1)
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), epoch_2)


def test_global_seed_governs_unseeded_datasets():
    ds = data.windowed_dataset(np.arange(100.0), 4, 10, 20)
    utils.set_random_seed(123)
    first = [y for _, y in ds]
    utils.set_random_seed(123)
    second = [y for _, y in ds]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))


def test_dtypes():
    assert next(iter(data.windowed_dataset(np.arange(10), 3, 4, 1)))[0].dtype == np.float32
    assert next(iter(data.windowed_dataset([0.5] * 10, 3, 4, 1)))[0].dtype == np.float32
    x, y = next(iter(data.windowed_dataset(np.arange(10.0), 3, 4, 1)))
    assert x.dtype == y.dtype == np.float64


@pytest.mark.parametrize("kwargs,match", [
    ({"window_size": 0}, "window_size=0"),
    ({"window_size": 2.5}, "window_size=2.5"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"shuffle_buffer": -1}, "shuffle_buffer=-1"),
    ({"window_size": 10}, "length 10.*window_size=10"),
    ({"series": 3.0}, "1-D"),
])
def test_argument_validation(kwargs, match):
    arguments = {"series": np.arange(10.0), "window_size": 3, "batch_size": 4,
                 "shuffle_buffer": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        data.windowed_dataset(**arguments)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), window_size=st.integers(1, 12), batch_size=st.integers(1, 20),
       shuffle_buffer=st.integers(1, 80), features=st.sampled_from([(), (2,)]))
def test_every_window_once_with_correct_label(n, window_size, batch_size, shuffle_buffer,
                                              features):
    if n < window_size + 1:
        return
    series = np.arange(n * int(np.prod(features)), dtype=np.float32).reshape(n, *features)
    ds = data.windowed_dataset(series, window_size, batch_size, shuffle_buffer, seed=0)
    batches = list(ds)
    num_windows = n - window_size
    assert len(ds) == len(batches) == -(-num_windows // batch_size)
    assert all(len(x) == batch_size for x, _ in batches[:-1])
    expected = [(series[i:i + window_size], series[i + window_size]) for i in range(num_windows)]
    assert pairs(batches).tolist() == pairs([tuple(map(np.stack, zip(*expected)))]).tolist()


def test_as_arrays_in_series_order():
    x, y = data.windowed_dataset(np.arange(8.0), 3, 2, 4).as_arrays()
    np.testing.assert_array_equal(x, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]])
    np.testing.assert_array_equal(y, [3, 4, 5, 6, 7])


def test_array_dataset():
    x, y = np.arange(10.0).reshape(5, 2), np.arange(5.0)
    batches = list(data.ArrayDataset(x, y, batch_size=2))
    assert len(batches) == 3 and batches[-1][0].shape == (1, 2)
    shuffled = data.ArrayDataset(x, y, batch_size=2, shuffle=True, seed=0)
    xs, ys = map(np.concatenate, zip(*shuffled))
    np.testing.assert_array_equal(xs[:, 0] / 2, ys)
    assert sorted(ys) == list(y)
    with pytest.raises(ValueError, match="same number of samples"):
        data.ArrayDataset(x, y[:3])


def test_synthetic_series_matches_the_course_code():
    # The course's functions, as published.
    def trend(time, slope=0):
        return slope * time

    def seasonal_pattern(season_time):
        return np.where(season_time < 0.4, np.cos(season_time * 2 * np.pi),
                        1 / np.exp(3 * season_time))

    def seasonality(time, period, amplitude=1, phase=0):
        season_time = ((time + phase) % period) / period
        return amplitude * seasonal_pattern(season_time)

    def noise(time, noise_level=1, seed=None):
        rnd = np.random.RandomState(seed)
        return rnd.randn(len(time)) * noise_level

    time = np.arange(4 * 365 + 1, dtype="float32")
    series = 10 + trend(time, 0.05) + seasonality(time, period=365, amplitude=40)
    series += noise(time, 5, seed=42)

    our_time, our_series = data.synthetic_series()
    assert our_time.dtype == our_series.dtype == np.float32
    assert our_series.shape == (1461,)
    np.testing.assert_array_equal(our_time, time)
    np.testing.assert_allclose(our_series, series, rtol=1e-5, atol=1e-4)
    _, other = data.synthetic_series(np.arange(100), slope=0.1, noise_level=0, seed=1, phase=30)
    np.testing.assert_allclose(other, 10 + 0.1 * np.arange(100)
                               + seasonality(np.arange(100), 365, 40, phase=30), rtol=1e-6)
