"""Datasets used the tf.data way: each method compared with tf.data itself on the same data."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import minirnn.keras as mk  # noqa: E402
from minirnn.pipeline import INFINITE, UNKNOWN, Pipeline  # noqa: E402


def as_list(ds):
    return [tuple(np.asarray(a) for a in e) if isinstance(e, tuple) else np.asarray(e) for e in ds.as_numpy_iterator()]


def same(a, b):
    la, lb = as_list(a), as_list(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        if isinstance(x, tuple):
            for p, q in zip(x, y):
                np.testing.assert_array_equal(p, q)
        else:
            np.testing.assert_array_equal(x, y)


X = np.arange(20, dtype="float32").reshape(10, 2)
Y = np.arange(10, dtype="int64")


@pytest.mark.parametrize("recipe", [
    lambda D: D.from_tensor_slices((X, Y)).take(3),
    lambda D: D.from_tensor_slices((X, Y)).skip(7),
    lambda D: D.from_tensor_slices((X, Y)).map(lambda x, y: (x * 2, y + 1)),
    lambda D: D.from_tensor_slices(Y).filter(lambda y: y % 2 == 0),
    lambda D: D.from_tensor_slices((X, Y)).batch(4),
    lambda D: D.from_tensor_slices((X, Y)).batch(4, drop_remainder=True),
    lambda D: D.from_tensor_slices((X, Y)).batch(3).unbatch(),
    lambda D: D.from_tensor_slices(Y).repeat(2).batch(6),
    lambda D: D.from_tensor_slices(Y).concatenate(D.from_tensor_slices(Y[:3])),
    lambda D: D.zip((D.from_tensor_slices(X), D.from_tensor_slices(Y))).batch(5).prefetch(2),
    lambda D: D.from_tensor_slices(Y).cache().take(4),
])
def test_methods_match_tf_data(recipe):
    ours, theirs = recipe(Pipeline), recipe(tf.data.Dataset)
    same(ours, theirs)
    expected = int(theirs.cardinality())
    assert ours.cardinality() == expected


def test_cardinality_infinite_and_unknown_like_tf():
    assert Pipeline.from_tensor_slices(Y).repeat().cardinality() == INFINITE == int(tf.data.INFINITE_CARDINALITY)
    assert Pipeline.from_tensor_slices(Y).filter(lambda y: y > 2).cardinality() == UNKNOWN \
        == int(tf.data.UNKNOWN_CARDINALITY)
    assert Pipeline.from_tensor_slices(Y).repeat().take(5).cardinality() == 5


def test_shuffle_is_a_permutation_reshuffled_each_epoch():
    ds = Pipeline.from_tensor_slices(Y).shuffle(4, seed=1)
    first, second = [int(v) for v in ds], [int(v) for v in ds]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second
    # buffer of 1 keeps the order, as in tf.data
    assert [int(v) for v in Pipeline.from_tensor_slices(Y).shuffle(1)] == list(range(10))


def test_timeseries_dataset_like_keras_tutorials_and_fit():
    series = np.sin(np.arange(200, dtype="float32") / 5)[:, None]
    ds = mk.utils.timeseries_dataset_from_array(series[:-10], series[10:, 0], sequence_length=10, batch_size=16)
    for x, y in ds.take(1):
        assert x.numpy().shape == (16, 10, 1) and y.numpy().shape == (16,)
    model = mk.Sequential([mk.Input((10, 1)), mk.layers.LSTM(4), mk.layers.Dense(1)])
    model.compile("adam", "mse")
    pipeline = ds.map(lambda x, y: (x * 1.0, y[:, None])).prefetch(1)
    history = model.fit(pipeline, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    zipped = Pipeline.zip((Pipeline.from_tensor_slices(np.zeros((8, 10, 1), "float32")),
                           Pipeline.from_tensor_slices(np.zeros((8, 1), "float32")))).batch(4)
    assert model.evaluate(zipped, verbose=0) >= 0
    # a real tf.data dataset stays accepted
    real = tf.data.Dataset.from_tensor_slices((np.zeros((8, 10, 1), "float32"), np.zeros((8, 1), "float32"))).batch(4)
    assert model.evaluate(real, verbose=0) >= 0
