"""minirnn.data_adapters: every source Keras's fit takes, batched as Keras batches it, and the
bad data and arguments it refuses with errors that name the culprit."""
import warnings

import numpy as np
import pytest
import tensorflow as tf
from keras.src.trainers.data_adapters import array_slicing
from keras.src.trainers.data_adapters import get_data_adapter as keras_adapter

import minirnn as mr
from minirnn.data import timeseries_dataset_from_array, windowed_dataset
from minirnn.data_adapters import (check_epochs, check_verbose, get_data_adapter, train_validation_split)
from minirnn.utils import PyDataset

X = np.arange(20, dtype="float32").reshape(10, 2)
Y = np.arange(10, dtype="float32").reshape(10, 1)


def epoch(adapter):
    return list(adapter)


def assert_same_batches(ours, theirs):
    assert len(ours) == len(theirs)
    for (xo, yo), (xt, yt, *_) in zip(ours, theirs):
        np.testing.assert_array_equal(xo, xt)
        np.testing.assert_array_equal(yo, yt)


def test_arrays_batch_like_keras():
    theirs = list(keras_adapter(X, Y, batch_size=4, shuffle=False).get_numpy_iterator())
    adapter = get_data_adapter(X, Y, batch_size=4)
    assert adapter.num_batches == 3
    assert_same_batches(epoch(adapter), theirs)
    assert_same_batches(epoch(adapter), theirs)                    # re-iterable: a second epoch


def test_arrays_default_batch_size_is_32():
    x = np.zeros((70, 1), "float32")
    assert [len(b[0]) for b in get_data_adapter(x, x)] == [32, 32, 6]


def test_shuffle_is_a_new_permutation_every_epoch_from_the_library_seed():
    mr.set_random_seed(1)
    adapter = get_data_adapter(X, Y, batch_size=10, shuffle=True)
    first, second = epoch(adapter)[0], epoch(adapter)[0]
    assert sorted(first[1].ravel()) == list(range(10)) and not np.array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[0][:, 0], first[1].ravel() * 2)       # x and y stay paired
    mr.set_random_seed(1)
    np.testing.assert_array_equal(epoch(get_data_adapter(X, Y, batch_size=10, shuffle=True))[0][1], first[1])


def test_lists_and_dicts_are_several_inputs_batched_alike():
    xs = [X, X * 10]
    batches = epoch(get_data_adapter(xs, {"out": Y}, batch_size=4))
    assert isinstance(batches[0][0], list) and isinstance(batches[0][1], dict)
    np.testing.assert_array_equal(batches[1][0][1], X[4:8] * 10)
    np.testing.assert_array_equal(batches[1][1]["out"], Y[4:8])
    # predict takes a list as fit does: several inputs, not a list of batches
    assert isinstance(epoch(get_data_adapter(xs, what="predict", batch_size=4))[0][0], list)
    # a list of numbers (or of lists) is one array, as NumPy reads it
    assert epoch(get_data_adapter([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0]))[0][0].shape == (2, 2)


def test_minirnn_datasets():
    values = np.arange(30, dtype="float32")
    for dataset in (windowed_dataset(values, 5, 8, 1), timeseries_dataset_from_array(values[:-5], values[5:], 5,
                                                                                     batch_size=8)):
        adapter = get_data_adapter(dataset)
        assert adapter.num_batches == len(dataset)
        assert_same_batches(epoch(adapter), list(dataset))
        assert len(epoch(adapter)) == len(dataset)


def test_tf_data_dataset_of_unknown_length_is_iterated_every_epoch():
    values = np.arange(30, dtype="float32")
    ds = tf.data.Dataset.from_tensor_slices(values).window(6, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(6)).map(lambda w: (w[:-1], w[-1])).batch(8)
    with pytest.raises(TypeError):
        len(ds)
    adapter = get_data_adapter(ds)
    assert adapter.num_batches is None
    first = epoch(adapter)
    assert [len(x) for x, _ in first] == [8, 8, 8, 1] and isinstance(first[0][0], np.ndarray)
    np.testing.assert_array_equal(first[0][1], values[5:13])
    assert len(epoch(adapter)) == 4 and not adapter.exhausted


def test_generator_without_steps_is_one_epoch_then_exhausted():
    adapter = get_data_adapter((X[k:k + 5], Y[k:k + 5]) for k in (0, 5))
    assert len(epoch(adapter)) == 2 and adapter.exhausted
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapter.warn_ran_out()
        adapter.warn_ran_out()
    assert len(caught) == 1 and "Your input ran out of data" in str(caught[0].message)


def test_generator_with_steps_keeps_one_iterator_across_epochs():
    def batches():
        for k in range(5):
            yield X[2 * k:2 * k + 2], Y[2 * k:2 * k + 2]

    adapter = get_data_adapter(batches(), steps_per_epoch=2)
    assert adapter.num_batches == 2
    firsts = [[float(y[0, 0]) for _, y in epoch(adapter)] for _ in range(2)]
    assert firsts == [[0.0, 2.0], [4.0, 6.0]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(epoch(adapter)) == 1                       # one batch left, then it ran out
    assert adapter.exhausted and any("ran out of data" in str(w.message) for w in caught)
    assert epoch(adapter) == []


def test_reiterable_dataset_with_more_steps_than_batches_warns_and_restarts():
    dataset = windowed_dataset(np.arange(12, dtype="float32"), 3, 4, 1)         # 9 windows: 3 batches
    adapter = get_data_adapter(dataset, steps_per_epoch=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sizes = [[len(x) for x, _ in epoch(adapter)] for _ in range(3)]
    assert sizes == [[4, 4], [1], [4, 4]]                       # Keras: the pass ends, the next restarts
    assert any("ran out of data" in str(w.message) for w in caught)


class Squares(PyDataset):
    def __init__(self, n=3, **kwargs):
        super().__init__(**kwargs)
        self.n, self.events = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        x = np.full((2, 1), index, "float32")
        return x, x ** 2

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


def test_py_dataset_batches_like_keras_and_hears_every_epoch():
    import keras

    class KerasSquares(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return Squares.__getitem__(self, index)

    theirs = list(keras_adapter(KerasSquares(), shuffle=False).get_numpy_iterator())
    assert_same_batches(epoch(get_data_adapter(KerasSquares())), theirs)          # Keras's own PyDataset
    dataset = Squares(workers=4)
    adapter = get_data_adapter(dataset)
    assert adapter.num_batches == 3
    assert_same_batches(epoch(adapter), theirs)
    epoch(adapter)
    assert dataset.events == ["begin", "end"] * 2
    mr.set_random_seed(0)
    shuffled = [float(x[0, 0]) for x, _ in get_data_adapter(Squares(n=6), shuffle=True)]
    assert sorted(shuffled) == list(range(6)) and shuffled != list(range(6))


def test_dataset_of_inputs_only_predicts_but_does_not_fit():
    dataset = timeseries_dataset_from_array(np.arange(20.0), None, 5, batch_size=4)
    assert [x.shape for x, _ in get_data_adapter(dataset, what="predict")][0] == (4, 5)
    for what in ("fit", "evaluate"):
        with pytest.raises(ValueError, match=rf"{what}\(\): the data yields inputs only \(no targets\)"):
            epoch(get_data_adapter(dataset, what=what))


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=np.array([[1.0], [np.nan]]), y=np.ones(2)), r"inputs contain NaN or inf \(1 of 2 elements\)"),
    (dict(x=np.ones((2, 1)), y=np.array([1.0, np.inf])), r"targets contain NaN or inf"),
    (dict(x=np.ones((2, 1)), y=np.array(["1", "2"])), r"targets must be numbers .* received dtype <U1"),
    (dict(x=np.array([[1], ["a"]], dtype=object), y=np.ones(2)), r"inputs must be numbers .* dtype object"),
    (dict(x=np.ones((0, 3)), y=np.ones(0)), r"fit\(\): received 0 samples"),
    (dict(x=None, y=np.ones(2)), r"fit\(\): x is None"),
    (dict(x=np.ones((2, 1)), y=None), r"fit\(\): y is None"),
    (dict(x=np.ones((3, 1)), y=np.ones(2)), r"x and y must have the same number of samples, received 3 and 2"),
    (dict(x=np.ones((2, 1)), y=np.ones(2), batch_size=2.9), r"batch_size must be a positive integer, "
                                                            r"received batch_size=2.9"),
    (dict(x=np.ones((2, 1)), y=np.ones(2), batch_size=True), r"batch_size=True"),
    (dict(x=np.ones((2, 1)), y=np.ones(2), steps_per_epoch=0), r"steps_per_epoch must be a positive integer"),
    (dict(x=windowed_dataset(np.arange(9.0), 3, 2, 1), y=np.ones(2)), r"y must not be given when x is a dataset"),
    (dict(x=[], y=[]), r"received 0 samples"),
    (dict(x=3.0, y=None, what="predict"), r"received a scalar"),
])
def test_bad_data_and_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        epoch(get_data_adapter(**kwargs))


@pytest.mark.parametrize("what", ["fit", "evaluate", "predict"])
def test_empty_data_is_an_error_for_every_entry_point(what):
    with pytest.raises(ValueError, match=rf"Model 'm' {what}\(\): received 0 samples"):
        get_data_adapter(np.ones((0, 2)), np.ones(0), what=what, owner="m")
    with pytest.raises(ValueError, match=rf"{what}\(\): the data yielded no batches"):
        epoch(get_data_adapter(iter([]), what=what))


def test_bad_batches_from_a_generator_are_named():
    def batches():
        yield X[:2], Y[:2]
        yield X[:2], np.array([[np.nan], [1.0]])

    with pytest.raises(ValueError, match="targets contain NaN"):
        epoch(get_data_adapter(batches()))
    with pytest.raises(ValueError, match="sample weights are not supported"):
        epoch(get_data_adapter(iter([(X, Y, np.ones(10))])))
    with pytest.raises(ValueError, match="2 input samples and 3 target samples"):
        epoch(get_data_adapter(iter([(X[:2], Y[:3])])))


def test_numeric_arguments_of_fit():
    assert check_epochs(3) == (3, 0)
    assert [check_verbose(v) for v in ("auto", 0, 1, 2, False)] == [1, 0, 1, 2, 0]
    with pytest.raises(ValueError, match=r"epochs must be a positive integer, received epochs=2.5"):
        check_epochs(2.5)
    with pytest.raises(ValueError, match=r"initial_epoch must be an integer >= 0"):
        check_epochs(3, -1)
    with pytest.raises(ValueError, match=r"Model 'm' evaluate\(\): verbose must be 'auto', 0, 1 or 2, "
                                         r"received verbose='loud'"):
        check_verbose("loud", what="evaluate", owner="m")


@pytest.mark.parametrize("fraction", [0.2, 0.25, 0.5, 0.33])
def test_validation_split_is_the_last_fraction_like_keras(fraction):
    (x_train, y_train), (x_val, y_val) = train_validation_split(X, Y, fraction)
    (kx_train, ky_train), (kx_val, ky_val) = array_slicing.train_validation_split((X, Y), fraction)
    for ours, theirs in ((x_train, kx_train), (y_train, ky_train), (x_val, kx_val), (y_val, ky_val)):
        np.testing.assert_array_equal(ours, np.asarray(theirs))


def test_validation_split_refuses_what_it_cannot_split():
    with pytest.raises(ValueError, match="only supported for arrays"):
        train_validation_split(windowed_dataset(np.arange(9.0), 3, 2, 1), None, 0.2)
    with pytest.raises(ValueError, match=r"validation_split must be a number between 0 and 1"):
        train_validation_split(X, Y, 1.5)
    with pytest.raises(ValueError, match="Training data contains 10 samples, which is not sufficient"):
        train_validation_split(X, Y, 0.99)
