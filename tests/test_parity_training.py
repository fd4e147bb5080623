"""Training parity with Keras 3 (TensorFlow backend).

The same model is built in both libraries, Keras's initial weights are copied into
minirnn, both are compiled alike and trained with ``fit(shuffle=False)`` on the same
arrays; the History entries, the final weights, ``evaluate`` and ``predict`` must agree.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402, F401  (the Keras backend)

import minirnn as mr  # noqa: E402

WINDOW = 10
N_SAMPLES = 64


def series_windows(n=N_SAMPLES, window=WINDOW, offset=0):
    """Windows of the course's synthetic series and the value after each."""
    _, series = mr.data.synthetic_series()
    series = series[offset:offset + n + window]
    x = np.stack([series[i:i + window] for i in range(n)]).astype("float32")
    return x, series[window:window + n].astype("float32")


# -- models, built alike in both libraries -------------------------------------------
def course_rnn(lib):
    return [lib.layers.Lambda(lambda x: x[..., None]),
            lib.layers.SimpleRNN(8, return_sequences=True),
            lib.layers.SimpleRNN(8),
            lib.layers.Dense(1),
            lib.layers.Lambda(lambda x: x * 100.0)]


def course_bidirectional_lstm(lib):
    return [lib.layers.Lambda(lambda x: x[..., None]),
            lib.layers.Bidirectional(lib.layers.LSTM(6, return_sequences=True)),
            lib.layers.Bidirectional(lib.layers.LSTM(6)),
            lib.layers.Dense(1),
            lib.layers.Lambda(lambda x: x * 100.0)]


def lstm_model(lib):
    return [lib.layers.Lambda(lambda x: x[..., None]), lib.layers.LSTM(8), lib.layers.Dense(1)]


def gru_model(reset_after):
    def build(lib):
        return [lib.layers.Lambda(lambda x: x[..., None]),
                lib.layers.GRU(8, reset_after=reset_after, go_backwards=not reset_after),
                lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(1)]
    return build


def model_pair(build, seed=0):
    keras.utils.set_random_seed(seed)     # Keras's initial weights, the same on every run
    kmodel = keras.Sequential([keras.Input(shape=(WINDOW,))] + build(keras))
    mmodel = mr.Sequential([mr.Input(shape=(WINDOW,))] + build(mr))
    mmodel.build()
    mmodel.set_weights(kmodel.get_weights())
    return kmodel, mmodel


def optimizer_pair(name, **kw):
    return getattr(keras.optimizers, name)(**kw), getattr(mr.optimizers, name)(**kw)


def compile_pair(kmodel, mmodel, optimizer, loss, metrics=None, **opt_kw):
    kopt, mopt = optimizer_pair(optimizer, **opt_kw)
    kmodel.compile(optimizer=kopt, loss=loss, metrics=metrics, jit_compile=False)
    mmodel.compile(optimizer=mopt, loss=loss, metrics=metrics)


def fit_pair(kmodel, mmodel, x, y, make_callbacks=lambda lib: [], **kw):
    kw = dict(shuffle=False, verbose=0, **kw)
    khist = kmodel.fit(x, y, callbacks=make_callbacks(keras), **kw).history
    mhist = mmodel.fit(x, y, callbacks=make_callbacks(mr), **kw).history
    return khist, mhist


# -- assertions -------------------------------------------------------------------------
def assert_weights_match(mmodel, kmodel, initial, rtol=1e-4):
    """Final weights agree, and so do the updates w - w0 (which the learning rate scales)."""
    mine, theirs = mmodel.get_weights(), kmodel.get_weights()
    assert len(mine) == len(theirs) == len(initial)
    moved = False
    for k, (m, t, w0) in enumerate(zip(mine, theirs, initial)):
        assert m.dtype == t.dtype and m.shape == t.shape
        np.testing.assert_allclose(m, t, rtol=rtol, atol=rtol * max(1.0, np.abs(t).max()),
                                   err_msg=f"weight {k}")
        step = t - w0
        scale = np.abs(step).max()
        roundoff = 4 * np.finfo(t.dtype).eps * np.abs(t).max()
        if scale > 1e-4 * max(1.0, np.abs(w0).max()):   # updates well above float32 round-off
            moved = True
            np.testing.assert_allclose(m - w0, step, rtol=0, atol=1e-3 * scale + roundoff,
                                       err_msg=f"update of weight {k}")
    assert moved, "training changed no weight noticeably: the test would not see a wrong update"


def assert_history_match(mhist, khist, keys, rtol=1e-5):
    for key in keys:
        assert key in khist and key in mhist, f"{key}: Keras has {sorted(khist)}, minirnn {sorted(mhist)}"
        assert len(mhist[key]) == len(khist[key])
        np.testing.assert_allclose(np.asarray(mhist[key], np.float64), np.asarray(khist[key], np.float64),
                                   rtol=rtol, err_msg=key)
    assert set(mhist) == set(khist)


# -- tests ---------------------------------------------------------------------------------
def test_course_rnn_huber_sgd_momentum():
    x, y = series_windows()
    kmodel, mmodel = model_pair(course_rnn)
    initial = kmodel.get_weights()
    compile_pair(kmodel, mmodel, "SGD", "huber", metrics=["mae"], learning_rate=1e-5, momentum=0.9)
    khist, mhist = fit_pair(kmodel, mmodel, x, y, epochs=4, batch_size=16)
    assert_history_match(mhist, khist, ["loss", "mae"])
    assert_weights_match(mmodel, kmodel, initial)
    np.testing.assert_allclose(mmodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-5, atol=1e-3)


def permuted_batches(x, y, batch_size, epochs, seed=0):
    """A new permutation every epoch, cut into batches (the last one short): what fit(shuffle=True)
    does, fed alike to both libraries."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            yield x[order[start:start + batch_size]], y[order[start:start + batch_size]]


def test_course_rnn_on_shuffled_batches_with_a_short_last_batch():
    """Shuffled epochs, batch by batch: sizes, the mean over a short last batch, momentum carried
    across epochs; the same batches in both libraries give the same losses and weights."""
    x, y = series_windows(n=58)                      # batches of 16: 16, 16, 16, 10
    kmodel, mmodel = model_pair(course_rnn)
    initial = kmodel.get_weights()
    compile_pair(kmodel, mmodel, "SGD", "huber", metrics=["mae"], learning_rate=1e-5, momentum=0.9)
    kw = dict(epochs=4, steps_per_epoch=4, shuffle=False, verbose=0)    # the generator shuffles
    khist = kmodel.fit(permuted_batches(x, y, 16, 4), **kw).history
    mhist = mmodel.fit(permuted_batches(x, y, 16, 4), **kw).history
    assert_history_match(mhist, khist, ["loss", "mae"])
    assert_weights_match(mmodel, kmodel, initial)


@pytest.mark.parametrize("build, optimizer, opt_kw, loss", [
    (lstm_model, "SGD", {"learning_rate": 1e-2}, "mse"),
    (gru_model(True), "SGD", {"learning_rate": 1e-4, "momentum": 0.9, "nesterov": True}, "mse"),
    (gru_model(False), "SGD", {"learning_rate": 1e-4, "momentum": 0.5}, "huber"),
    (course_bidirectional_lstm, "SGD", {"learning_rate": 1e-5, "momentum": 0.9}, "huber"),
    (lstm_model, "Adam", {"learning_rate": 1e-3}, "mae"),
], ids=["lstm-sgd-mse", "gru-nesterov-mse", "gru-v1-momentum-huber", "bilstm-huber", "lstm-adam-mae"])
def test_training_matches_keras(build, optimizer, opt_kw, loss):
    x, y = series_windows()
    x, y = x / 50.0, y / 50.0            # keep an unscaled output layer in a useful range
    if build is course_bidirectional_lstm:
        x, y = x * 50.0, y * 50.0
    kmodel, mmodel = model_pair(build)
    initial = kmodel.get_weights()
    compile_pair(kmodel, mmodel, optimizer, loss, metrics=["mae"], **opt_kw)
    # batch_size 24 does not divide 64: the last batch (16) weighs less in the epoch mean.
    khist, mhist = fit_pair(kmodel, mmodel, x, y, epochs=3, batch_size=24)
    assert_history_match(mhist, khist, ["loss", "mae"])
    assert_weights_match(mmodel, kmodel, initial)


@pytest.mark.parametrize("base_lr", [1e-8, 1e-5])
def test_learning_rate_scheduler(base_lr):
    x, y = series_windows()
    kmodel, mmodel = model_pair(course_rnn)
    initial = kmodel.get_weights()
    compile_pair(kmodel, mmodel, "SGD", "huber", learning_rate=0.1, momentum=0.9)

    def callbacks(lib):
        return [lib.callbacks.LearningRateScheduler(lambda epoch: base_lr * 10 ** (epoch / 20))]

    epochs = 5
    khist, mhist = fit_pair(kmodel, mmodel, x, y, make_callbacks=callbacks, epochs=epochs, batch_size=32)
    expected = [base_lr * 10 ** (epoch / 20) for epoch in range(epochs)]
    # Keras logs its float32 learning-rate variable, so equal to float32 round-off.
    np.testing.assert_allclose(khist["learning_rate"], expected, rtol=1e-6)
    np.testing.assert_allclose(mhist["learning_rate"], khist["learning_rate"], rtol=1e-6)
    assert_history_match(mhist, khist, ["loss", "learning_rate"])
    if base_lr >= 1e-5:
        assert_weights_match(mmodel, kmodel, initial)
    else:   # the updates are below float32 round-off of the weights: only the weights can be compared
        for m, t in zip(mmodel.get_weights(), kmodel.get_weights()):
            np.testing.assert_allclose(m, t, rtol=1e-6, atol=1e-7)


def test_initial_epoch_resumes_the_epoch_count_like_keras():
    """fit(initial_epoch=2, epochs=5) runs epochs 2, 3, 4: callbacks, the schedule and History
    see those indices."""
    x, y = series_windows()
    kmodel, mmodel = model_pair(course_rnn)
    initial = kmodel.get_weights()
    compile_pair(kmodel, mmodel, "SGD", "huber", learning_rate=0.1, momentum=0.9)
    seen = {keras: [], mr: []}

    def callbacks(lib):
        class EpochRecorder(lib.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                seen[lib].append(epoch)
        return [lib.callbacks.LearningRateScheduler(lambda epoch: 1e-5 * 10 ** (epoch / 2)), EpochRecorder()]

    khist, mhist = fit_pair(kmodel, mmodel, x, y, make_callbacks=callbacks, epochs=5, initial_epoch=2,
                            batch_size=32)
    assert seen[keras] == seen[mr] == [2, 3, 4]
    np.testing.assert_allclose(mhist["learning_rate"], [1e-5 * 10 ** (epoch / 2) for epoch in (2, 3, 4)],
                               rtol=1e-6)
    assert_history_match(mhist, khist, ["loss", "learning_rate"])
    assert_weights_match(mmodel, kmodel, initial)


def test_evaluate_and_predict_match_keras():
    x, y = series_windows()
    x_val, y_val = series_windows(n=40, offset=500)
    kmodel, mmodel = model_pair(course_rnn)
    compile_pair(kmodel, mmodel, "SGD", "huber", metrics=["mae"], learning_rate=1e-5, momentum=0.9)
    for batch_size in (None, 24, 64):
        kres = kmodel.evaluate(x, y, batch_size=batch_size, verbose=0)
        mres = mmodel.evaluate(x, y, batch_size=batch_size, verbose=0)
        np.testing.assert_allclose(mres, kres, rtol=1e-5)
        kpred = kmodel.predict(x, batch_size=batch_size, verbose=0)
        mpred = mmodel.predict(x, batch_size=batch_size, verbose=0)
        assert mpred.shape == kpred.shape == (N_SAMPLES, 1) and mpred.dtype == np.float32
        np.testing.assert_allclose(mpred, kpred, rtol=1e-5, atol=1e-4)
    kdict = kmodel.evaluate(x, y, batch_size=24, verbose=0, return_dict=True)
    mdict = mmodel.evaluate(x, y, batch_size=24, verbose=0, return_dict=True)
    assert set(mdict) == set(kdict)
    for key in kdict:
        np.testing.assert_allclose(mdict[key], kdict[key], rtol=1e-5, err_msg=key)

    # After training, with validation data: val_loss and val_mae like Keras's.
    initial = kmodel.get_weights()
    khist, mhist = fit_pair(kmodel, mmodel, x, y, epochs=2, batch_size=24, validation_data=(x_val, y_val))
    assert_history_match(mhist, khist, ["loss", "mae", "val_loss", "val_mae"])
    assert_weights_match(mmodel, kmodel, initial)
    np.testing.assert_allclose(mmodel.evaluate(x_val, y_val, verbose=0), kmodel.evaluate(x_val, y_val, verbose=0),
                               rtol=1e-4)
