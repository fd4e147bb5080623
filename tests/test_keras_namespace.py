"""Keras code run twice, through real ``keras`` and through ``minirnn.keras``, with only the import
changed: the same parameter counts, output shapes, layer names and (with the same weights) losses.

Each test writes its Keras code once, in a function of the namespace ``keras``, and calls it with
both modules."""
import warnings

import keras as real_keras
import numpy as np
import pytest
import tensorflow as tf

import minirnn.keras as mr_keras

BOTH = [real_keras, mr_keras]


def series(n=120, seed=0):
    t = np.arange(n, dtype="float32")
    noise = np.random.default_rng(seed).standard_normal(n).astype("float32")
    return np.sin(t / 6.0) + 0.1 * noise


def windows(values, window=10):
    x = np.lib.stride_tricks.sliding_window_view(values[:-1], window)
    return np.ascontiguousarray(x), values[window:]


def same_weights(theirs, ours):
    ours.set_weights(theirs.get_weights())


def output_shapes(model):
    if isinstance(model, real_keras.Model):
        return [tuple(layer.output.shape) for layer in model.layers]
    return [tuple(shape) for shape in model.output_shapes()]


# -- the namespace itself ----------------------------------------------------------------------
def test_import_forms():
    from minirnn import keras
    from minirnn.keras import layers
    from minirnn.keras.models import Model, Sequential, load_model

    import minirnn

    assert keras is mr_keras and layers is keras.layers
    assert Sequential is minirnn.models.Sequential and Model is minirnn.models.Model
    assert keras.Model is Model and keras.Sequential is Sequential and callable(load_model)
    assert keras.layers.LSTM is minirnn.layers.LSTM                  # a view, not a copy
    for module, names in {"utils": ["timeseries_dataset_from_array", "set_random_seed", "PyDataset"],
                          "backend": ["clear_session", "floatx", "set_floatx"],
                          "ops": ["expand_dims", "mean", "matmul"],
                          "optimizers": ["SGD", "Adam", "RMSprop"], "losses": ["Huber", "MeanSquaredError"],
                          "callbacks": ["LearningRateScheduler", "EarlyStopping"],
                          "metrics": ["MeanAbsoluteError"], "initializers": ["GlorotUniform", "Orthogonal"],
                          "activations": ["relu", "tanh", "sigmoid", "softmax", "linear"]}.items():
        for name in names:
            assert hasattr(getattr(real_keras, module), name), (module, name)     # Keras's own name
            assert hasattr(getattr(mr_keras, module), name), (module, name)


def test_every_layer_name_is_a_keras_layer_name():
    for name in mr_keras.layers.__all__:
        assert hasattr(real_keras.layers, name), name


def test_activation_functions_as_arguments_and_values():
    x = np.linspace(-3, 3, 7).astype("float32")
    for name in ["relu", "tanh", "sigmoid", "linear", "hard_sigmoid"]:
        np.testing.assert_allclose(getattr(mr_keras.activations, name)(x),
                                   np.asarray(getattr(real_keras.activations, name)(x)), rtol=1e-6, atol=1e-6)
        layer = mr_keras.layers.Dense(2, activation=getattr(mr_keras.activations, name))
        assert layer.get_config()["activation"] == name


def test_clear_session_restarts_layer_names():
    def names(keras):
        keras.backend.clear_session()
        first = keras.layers.LSTM(4).name
        second = keras.layers.LSTM(4).name
        keras.backend.clear_session()
        return first, second, keras.layers.LSTM(4).name

    assert names(mr_keras) == names(real_keras) == ("lstm", "lstm_1", "lstm")


# -- the course: Lambda + SimpleRNN, Huber, SGD momentum, LearningRateScheduler ------------------
def course_rnn(keras):
    keras.backend.clear_session()
    model = keras.models.Sequential([
        keras.Input(shape=[None]),
        keras.layers.Lambda(lambda x: keras.ops.expand_dims(x, axis=-1)),
        keras.layers.SimpleRNN(40, return_sequences=True),
        keras.layers.SimpleRNN(40),
        keras.layers.Dense(1),
        keras.layers.Lambda(lambda x: x * 100.0),
    ])
    lr_schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 1e-8 * 10 ** (epoch / 20))
    model.compile(loss=keras.losses.Huber(), optimizer=keras.optimizers.SGD(momentum=0.9), metrics=["mae"])
    return model, lr_schedule


def test_course_lambda_simple_rnn_huber_sgd_schedule():
    x, y = windows(series())
    (theirs, their_cb), (ours, our_cb) = course_rnn(real_keras), course_rnn(mr_keras)
    assert ours.count_params() == theirs.count_params() == 40 * 1 + 40 * 40 + 40 + 40 * 40 + 40 * 40 + 40 + 41
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert output_shapes(ours) == output_shapes(theirs)
    same_weights(theirs, ours)
    h_theirs = theirs.fit(x, y, epochs=3, batch_size=16, shuffle=False, callbacks=[their_cb], verbose=0).history
    h_ours = ours.fit(x, y, epochs=3, batch_size=16, shuffle=False, callbacks=[our_cb], verbose=0).history
    for key in ("loss", "mae", "learning_rate"):
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=1e-4)
    np.testing.assert_allclose(ours.predict(x[:5], verbose=0), theirs.predict(x[:5], verbose=0), rtol=1e-4, atol=1e-4)


def test_tensorflow_function_in_a_lambda_with_tensorflow_keras_import_changed():
    """``from tensorflow import keras`` -> ``from minirnn import keras``; the Lambda body keeps
    ``tf.expand_dims`` and still trains (its gradient comes from Lambda's index tracing)."""
    from minirnn import keras

    keras.backend.clear_session()
    model = keras.models.Sequential([keras.layers.Lambda(lambda x: tf.expand_dims(x, axis=-1), input_shape=[None]),
                                     keras.layers.SimpleRNN(4), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    x, y = windows(series(40))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=2, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


# -- the lecture: Embedding + SimpleRNN; a character-level language model -------------------------
def embedding_rnn(keras):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(shape=(12,)), keras.layers.Embedding(100, 8),
                              keras.layers.SimpleRNN(8), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def char_lm(keras, vocab=20):
    keras.backend.clear_session()
    inputs = keras.Input(shape=(None,))
    x = keras.layers.Embedding(vocab, 8)(inputs)
    x = keras.layers.GRU(16, return_sequences=True)(x)
    outputs = keras.layers.Dense(vocab, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("build, vocab, targets", [(embedding_rnn, 100, "binary"), (char_lm, 20, "next")])
def test_token_models_match_keras(build, vocab, targets):
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, vocab, size=(16, 12))
    y = (rng.random((16, 1)) > 0.5).astype("float32") if targets == "binary" else np.roll(tokens, -1, axis=1)
    theirs, ours = build(real_keras), build(mr_keras)
    assert ours.count_params() == theirs.count_params()
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    same_weights(theirs, ours)
    np.testing.assert_allclose(ours.evaluate(tokens, y, verbose=0), theirs.evaluate(tokens, y, verbose=0), rtol=1e-5)
    # Training compared with SGD: Keras's RMSprop/Adam square an Embedding's sparse gradient per
    # occurrence of a token (IndexedSlices), not per row, so adaptive steps differ by design.
    for model in (theirs, ours):
        model.compile(optimizer="sgd", loss=model.loss)
    loss_theirs = theirs.fit(tokens, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    loss_ours = ours.fit(tokens, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(loss_ours, loss_theirs, rtol=1e-4)


# -- data: timeseries_dataset_from_array, unknown-length datasets, PyDataset, generators ---------
def jena_like(keras, data, targets):
    keras.backend.clear_session()
    dataset = keras.utils.timeseries_dataset_from_array(data[:-5], targets=targets[5:], sequence_length=8,
                                                         batch_size=16)
    model = keras.Sequential([keras.Input(shape=(8, data.shape[1])), keras.layers.LSTM(6), keras.layers.Dense(1)])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model, dataset


def test_timeseries_dataset_from_array_fit_matches_keras():
    rng = np.random.default_rng(5)
    data = rng.standard_normal((80, 3)).astype("float32")
    targets = data[:, 0] * 0.5
    (theirs, their_ds), (ours, our_ds) = jena_like(real_keras, data, targets), jena_like(mr_keras, data, targets)
    assert len(our_ds) == int(their_ds.cardinality())
    same_weights(theirs, ours)
    h_theirs = theirs.fit(their_ds, epochs=2, verbose=0).history
    h_ours = ours.fit(our_ds, epochs=2, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)


def course_windowed_dataset(values, window_size, batch_size):
    """The course's tf.data pipeline: its length is unknown (len() raises TypeError)."""
    ds = tf.data.Dataset.from_tensor_slices(values)
    ds = ds.window(window_size + 1, shift=1, drop_remainder=True)
    ds = ds.flat_map(lambda w: w.batch(window_size + 1))
    ds = ds.map(lambda w: (w[:-1], w[-1]))
    return ds.batch(batch_size).prefetch(1)


def small_rnn(keras, window=10):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(shape=(window,)), keras.layers.Reshape((window, 1)),
                              keras.layers.SimpleRNN(6), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9), loss=keras.losses.Huber())
    return model


def test_tf_data_dataset_of_unknown_length_trains_like_keras():
    dataset = course_windowed_dataset(series(60), 10, 8)
    with pytest.raises(TypeError):
        len(dataset)
    theirs, ours = small_rnn(real_keras), small_rnn(mr_keras)
    same_weights(theirs, ours)
    h_theirs = theirs.fit(dataset, epochs=2, verbose=0).history
    h_ours = ours.fit(dataset, epochs=2, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)


def make_py_dataset(keras, x, y, batch_size):
    class Windows(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.epochs_ended = 0

        def __len__(self):
            return -(-len(x) // batch_size)

        def __getitem__(self, index):
            s = slice(index * batch_size, (index + 1) * batch_size)
            return x[s], y[s]

        def on_epoch_end(self):
            self.epochs_ended += 1
    return Windows()


def test_py_dataset_trains_like_keras():
    x, y = windows(series(60))
    theirs, ours = small_rnn(real_keras), small_rnn(mr_keras)
    same_weights(theirs, ours)
    their_data, our_data = make_py_dataset(real_keras, x, y, 8), make_py_dataset(mr_keras, x, y, 8)
    h_theirs = theirs.fit(their_data, epochs=2, shuffle=False, verbose=0).history
    h_ours = ours.fit(our_data, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)
    assert our_data.epochs_ended == 2


def test_generator_with_steps_per_epoch_trains_like_keras():
    x, y = windows(series(60))

    def batches():
        while True:
            for start in range(0, len(x), 10):
                yield x[start:start + 10], y[start:start + 10]

    theirs, ours = small_rnn(real_keras), small_rnn(mr_keras)
    same_weights(theirs, ours)
    h_theirs = theirs.fit(batches(), steps_per_epoch=3, epochs=3, verbose=0).history
    h_ours = ours.fit(batches(), steps_per_epoch=3, epochs=3, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)


def test_a_generator_that_runs_out_stops_training_with_keras_warning():
    x, y = windows(series(40))
    model = small_rnn(mr_keras)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(((x[k:k + 10], y[k:k + 10]) for k in range(0, 30, 10)), epochs=3, verbose=0).history
    assert len(history["loss"]) == 1                                   # epoch 2 would train 0 steps
    assert any("ran out of data" in str(w.message) for w in caught)


def test_validation_split_takes_the_last_samples_like_keras():
    x, y = windows(series(60))
    theirs, ours = small_rnn(real_keras), small_rnn(mr_keras)
    same_weights(theirs, ours)
    h_theirs = theirs.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, shuffle=False, verbose=0).history
    h_ours = ours.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, shuffle=False, verbose=0).history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=1e-4)


@pytest.mark.parametrize("kwargs", [{}, dict(maxlen=3), dict(maxlen=3, padding="post", truncating="post"),
                                    dict(maxlen=4, padding="post", value=-1, dtype="float32")])
def test_pad_sequences_like_keras(kwargs):
    sequences = [[1, 2, 3, 4, 5], [6], [], [7, 8]]
    from minirnn.keras.preprocessing.sequence import pad_sequences

    ours = pad_sequences(sequences, **kwargs)
    theirs = real_keras.preprocessing.sequence.pad_sequences(sequences, **kwargs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    steps = [np.ones((2, 3)), np.ones((1, 3)) * 2]                  # steps with features
    np.testing.assert_array_equal(mr_keras.utils.pad_sequences(steps, dtype="float32"),
                                  real_keras.utils.pad_sequences(steps, dtype="float32"))


def test_pad_sequences_refuses_strings_and_bad_arguments():
    with pytest.raises(ValueError, match="pad_sequences takes numbers; item 1 has dtype <U1"):
        mr_keras.utils.pad_sequences([[1], ["a"]])
    with pytest.raises(ValueError, match='padding must be "pre" or "post", received padding=\'left\''):
        mr_keras.utils.pad_sequences([[1]], padding="left")
    with pytest.raises(ValueError, match="maxlen must be an integer >= 0 or None, received maxlen=2.5"):
        mr_keras.utils.pad_sequences([[1]], maxlen=2.5)


def test_keras_random_draws_like_numpy_with_integer_seeds():
    import minirnn.keras as mk
    a = mk.random.normal((3, 4), mean=1.0, stddev=2.0, seed=7)
    assert a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, mk.random.normal((3, 4), mean=1.0, stddev=2.0, seed=7))
    np.testing.assert_allclose(a, 1.0 + 2.0 * np.random.default_rng(7).normal(size=(3, 4)), rtol=1e-6)
    u = mk.random.uniform((1000,), minval=-2, maxval=3, seed=1)
    assert u.min() >= -2 and u.max() < 3
    t = mk.random.truncated_normal((2000,), stddev=0.5, seed=2)
    assert np.abs(t).max() <= 1.0 and 0.3 < t.std() < 0.5          # cut at two standard deviations
    assert mk.random.randint((5,), 0, 3, seed=3).dtype == np.int32
    assert sorted(mk.random.shuffle(np.arange(6), seed=4)) == list(range(6))
    with pytest.raises(ValueError, match="seed must be an integer or None"):
        mk.random.normal((2,), seed="x")
    np.testing.assert_array_equal(mk.ops.full((2, 2), 3), np.full((2, 2), 3, "float32"))
    x = np.arange(6, dtype="int32").reshape(2, 3)
    for ours, theirs in ((mk.ops.zeros_like, real_keras.ops.zeros_like), (mk.ops.ones_like, real_keras.ops.ones_like)):
        for dtype in (None, "float64"):
            want = real_keras.ops.convert_to_numpy(theirs(x, dtype=dtype))
            got = ours(x, dtype=dtype)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
