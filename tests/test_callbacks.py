import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minirnn import callbacks, optimizers  # noqa: E402


class FakeModel:
    def __init__(self, learning_rate=0.1):
        self.optimizer = optimizers.SGD(learning_rate=learning_rate)
        self.stop_training = False


def run_fit(callback_list, model, epochs, steps, verbose=0, batch_logs=None, epoch_logs=None):
    """The call sequence of fit, with fixed logs."""
    callback_list.set_model(model)
    callback_list.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
    callback_list.on_train_begin()
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        for batch in range(steps or 3):
            callback_list.on_train_batch_begin(batch)
            callback_list.on_train_batch_end(batch, dict(batch_logs or {"loss": 1.0}))
        logs = dict(epoch_logs or {"loss": float(epoch)})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()


class Recorder(callbacks.Callback):
    def __init__(self, events):
        super().__init__()
        self.events = events

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_batch_end(self, batch, logs=None):  # reached through on_train_batch_end
        self.events.append(("batch_end", batch))


class StopAfter(callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


def test_callback_list_dispatch_order_and_shared_logs():
    events = []
    model = FakeModel()
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.5)
    callback_list = callbacks.CallbackList([scheduler, Recorder(events)], add_history=True)
    run_fit(callback_list, model, epochs=2, steps=2)
    assert events[:3] == [("batch_end", 0), ("batch_end", 1),
                          ("epoch_end", 0, {"loss": 0.0, "learning_rate": 0.5})]
    assert callback_list.history.history == {"loss": [0.0, 1.0], "learning_rate": [0.5, 0.5]}
    assert all(c.model is model for c in callback_list)
    assert model.history is callback_list.history


def test_history_and_stop_training():
    model = FakeModel()
    history = callbacks.History()
    run_fit(callbacks.CallbackList([StopAfter(3), history], add_history=True), model, 10, 2,
            epoch_logs={"loss": 2.0, "val_loss": 3.0})
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [2.0] * 3, "val_loss": [3.0] * 3}


def keras_learning_rates(schedule, epochs, initial=0.1):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=initial), loss="mse")
    history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=epochs, verbose=0,
                        callbacks=[keras.callbacks.LearningRateScheduler(schedule)])
    return history.history["learning_rate"]


@pytest.mark.parametrize("schedule", [
    lambda epoch: 1e-8 * 10 ** (epoch / 20),
    lambda epoch, lr: lr * 0.5 if epoch else lr,
])
def test_learning_rate_scheduler_matches_keras(schedule):
    model = FakeModel(learning_rate=0.1)
    history = callbacks.History()
    run_fit(callbacks.CallbackList([callbacks.LearningRateScheduler(schedule), history]),
            model, epochs=4, steps=1)
    # Keras stores the rate as float32, hence the tolerance.
    np.testing.assert_allclose(history.history["learning_rate"],
                               keras_learning_rates(schedule, 4), rtol=1e-6)
    assert model.optimizer.learning_rate == history.history["learning_rate"][-1]


def test_scheduler_value_is_used_by_the_optimizer_during_the_epoch():
    model = FakeModel(learning_rate=1.0)
    param = np.zeros(1)

    class Step(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.optimizer.apply_gradients([param], [np.ones(1)])

    run_fit(callbacks.CallbackList([callbacks.LearningRateScheduler(lambda e, lr: 0.1 * (e + 1)),
                                    Step()]), model, epochs=2, steps=1)
    np.testing.assert_allclose(param, [-(0.1 + 0.2)])


def test_scheduler_signature_detection():
    def with_default(epoch, lr=0.3):
        return lr / 2

    def varargs(*args):
        return float(len(args))

    model = FakeModel(learning_rate=0.8)
    halve = functools.partial(lambda scale, epoch, lr: scale * lr, 0.5)
    for schedule, expected in [(with_default, 0.4), (varargs, 2.0), (halve, 1.0), (abs, 0.0)]:
        scheduler = callbacks.LearningRateScheduler(schedule)
        scheduler.set_model(model)
        scheduler.on_epoch_begin(0)
        assert model.optimizer.learning_rate == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["0.1", None, [0.1], True])
def test_scheduler_rejects_non_numbers(bad):
    scheduler = callbacks.LearningRateScheduler(lambda epoch: bad)
    scheduler.set_model(FakeModel())
    with pytest.raises(ValueError, match="schedule.*number"):
        scheduler.on_epoch_begin(0)


def test_scheduler_needs_a_learning_rate():
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.1)
    scheduler.set_model(object())
    with pytest.raises(ValueError, match="learning_rate"):
        scheduler.on_epoch_begin(0)


def test_scheduler_verbose_message(capsys):
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.25, verbose=1)
    scheduler.set_model(FakeModel())
    scheduler.on_epoch_begin(2)
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.25." in capsys.readouterr().out


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def final_lines(text):
    """What stays on screen: last \\r segment of each line, ANSI codes removed, times masked."""
    lines = []
    for line in ANSI.sub("", text).replace("\b", "").split("\n"):
        line = line.split("\r")[-1].rstrip()
        line = re.sub(r"\d+(us|ms|s)/step", "T/step", line)
        line = re.sub(r"(?<= )\d+s(?= )", "Ns", line)
        if line:
            lines.append(line)
    return lines


LOGS = {"loss": 12.345678, "mae": 0.0001234, "val_loss": 3.0}


def run_progbar(callback, verbose, epochs=2, steps=31):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        callback.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
        callback.on_train_begin()
        for epoch in range(epochs):
            callback.on_epoch_begin(epoch)
            for batch in range(steps or 5):
                callback.on_train_batch_begin(batch)
                callback.on_train_batch_end(batch, {"loss": 12.345678, "mae": 0.0001234})
            callback.on_epoch_end(epoch, dict(LOGS))
        callback.on_train_end()
    return buffer.getvalue()


@pytest.mark.parametrize("verbose", [1, 2])
def test_progbar_matches_keras_text(verbose):
    ours = run_progbar(callbacks.ProgbarLogger(), verbose)
    theirs = run_progbar(keras.callbacks.ProgbarLogger(), verbose)
    assert final_lines(ours) == final_lines(theirs)
    assert final_lines(ours)[:2] == [
        "Epoch 1/2",
        "31/31 ━━━━━━━━━━━━━━━━━━━━ Ns T/step - loss: 12.3457 - mae: 1.2340e-04 - val_loss: 3.0000"
        if verbose == 1 else
        "31/31 - Ns - T/step - loss: 12.3457 - mae: 1.2340e-04 - val_loss: 3.0000"]


def test_progbar_without_a_terminal_prints_one_line_per_epoch():
    text = run_progbar(callbacks.ProgbarLogger(), verbose=1, epochs=3)
    assert "\r" not in text and "\x1b" not in text
    assert len(text.splitlines()) == 6


def test_progbar_silent_at_verbose_0():
    assert run_progbar(callbacks.ProgbarLogger(), verbose=0) == ""


def test_progbar_unknown_steps_uses_count_seen():
    lines = final_lines(run_progbar(callbacks.ProgbarLogger(), verbose=1, epochs=2, steps=None))
    assert lines[1].startswith("5/5 ━━━━━━━━━━━━━━━━━━━━ ")


def test_progbar_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progbar = callbacks.ProgbarLogger(stream=stream)
    progbar.interval = 0.0  # draw at every batch
    progbar.set_params({"epochs": 1, "steps": 4, "verbose": 1})
    progbar.on_epoch_begin(0)
    for batch in range(4):
        progbar.on_train_batch_end(batch, {"loss": 100.0 / (batch + 1)})
    progbar.on_epoch_end(0, {"loss": 25.0})
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.count("\n") == 1  # no "Epoch" line for one epoch
    screen = final_lines(text)
    assert screen == ["4/4 ━━━━━━━━━━━━━━━━━━━━ Ns T/step - loss: 25.0000"]
    assert "2/4 ━━━━━━━━━━━━━━━━━━━━" in ANSI.sub("", text)


@pytest.mark.parametrize("verbose", [1, 2])
def test_predict_and_evaluate_print_keras_bars(verbose):
    """Keras 3 prints a bar for predict and evaluate too (steps, time per step; evaluate adds
    the metrics)."""
    import minirnn as mr

    x = np.linspace(0, 1, 100 * 5, dtype="float32").reshape(100, 5)
    y = x.sum(axis=1, keepdims=True) + 1          # off by one everywhere: loss 1, mae 1
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, kernel_initializer="ones")])
    mmodel = mr.Sequential([mr.Input((5,)), mr.layers.Dense(1, kernel_initializer="ones")])
    printed = {}
    for name, model in (("keras", kmodel), ("minirnn", mmodel)):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        model.evaluate(x, y, verbose=0)                   # kernels compiled (and announced) before
        for call in ("predict", "evaluate"):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                getattr(model, call)(x, *([] if call == "predict" else [y]), verbose=verbose)
            printed[name, call] = final_lines(buffer.getvalue())
    for call in ("predict", "evaluate"):
        assert printed["minirnn", call] == printed["keras", call][-1:], call
    assert printed["minirnn", "predict"] == ["4/4 ━━━━━━━━━━━━━━━━━━━━ Ns T/step" if verbose == 1 else
                                             "4/4 - Ns - T/step"]


def test_first_compilation_is_announced_once_and_left_out_of_step_times(monkeypatch):
    """A kernel compiled during an epoch: the bar's stream says so once, on its own line, and
    the bar's clock stops while it compiles."""
    import numba

    from minirnn import backend

    backend.kernel(lambda x: x).jit                     # the compile clock listens from here on (any backend)
    monkeypatch.setitem(backend._compiling, "announced", False)
    stream = io.StringIO()
    progbar = callbacks.ProgbarLogger(stream=stream)
    progbar.set_params({"epochs": 2, "steps": 2, "verbose": 2})
    progbar.on_epoch_begin(0)
    clock, compiling = progbar._clock(), backend.compile_seconds()
    for k in range(2):            # two fresh functions, compiled (not cached) one after the other
        numba.njit(cache=False)(lambda x, k=k: x + k)(1.0)
    assert backend.compile_seconds() > compiling
    assert progbar._clock() - clock < backend.compile_seconds() - compiling
    progbar.on_train_batch_end(0)
    progbar.on_train_batch_end(1)
    progbar.on_epoch_end(0)
    assert stream.getvalue().splitlines()[:2] == ["Epoch 1/2", backend.COMPILING_MESSAGE]
    assert stream.getvalue().count(backend.COMPILING_MESSAGE) == 1
    numba.njit(cache=False)(lambda x: x - 1)(1.0)          # after the epoch: nobody to tell
    assert stream.getvalue().count(backend.COMPILING_MESSAGE) == 1
