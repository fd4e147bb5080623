"""ModelCheckpoint, EarlyStopping, ReduceLROnPlateau and TerminateOnNaN against Keras 3.

Both libraries' callbacks are driven by the same sequences of logs through their hooks
(with stand-in models recording what is asked of them), then checked in real fits."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn import callbacks, optimizers  # noqa: E402
from minirnn.layers import Dense, Input, LSTM  # noqa: E402
from minirnn.models import Sequential, load_model  # noqa: E402


class StandIn:
    """What the callbacks touch on a model: stop flag, weights, optimizer, save methods."""

    def __init__(self, optimizer=None):
        self.optimizer = optimizer
        self.stop_training = False
        self.epoch = -1                       # the "weights" are the epoch they were taken at
        self.restored = None
        self.saved = []

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])

    def save(self, filepath, overwrite=True):
        self.saved.append(("model", filepath))

    def save_weights(self, filepath, overwrite=True):
        self.saved.append(("weights", filepath))


def drive(callback, model, values, monitor="val_loss", batches=0):
    """fit's call sequence with `values` as the monitored log; stops like fit does."""
    callback.set_model(model)
    callback.on_train_begin({})
    lrs, logged = [], []
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_begin(epoch, {})
        for batch in range(batches):
            callback.on_train_batch_end(batch, {"loss": float(value), "batch_value": batch})
        logs = {"loss": float(value) + 1.0, monitor: float(value)}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs.get("learning_rate"))
        if model.optimizer is not None:
            lrs.append(float(np.asarray(model.optimizer.learning_rate)))
        if model.stop_training:
            break
    callback.on_train_end({})
    return {"epochs": epoch + 1, "lrs": lrs, "logged": logged}


NOISY = [1.0, 0.8, 0.79995, 0.85, 0.7, 0.71, 0.72, 0.69, 0.70, 0.75, 0.76, 0.77, 0.5, 0.6, 0.61, 0.62, 0.63]
RISING = [0.2, 0.1, 0.3, 0.5, 0.4, 0.6, 0.55, 0.61, 0.5, 0.5, 0.7, 0.65, 0.64, 0.62]

EARLY_STOPPING_CASES = [
    dict(),
    dict(patience=2),
    dict(patience=3, min_delta=0.05),
    dict(patience=2, restore_best_weights=True),
    dict(patience=1, restore_best_weights=True, start_from_epoch=4),
    dict(patience=2, baseline=0.75),
    dict(patience=3, baseline=0.1, restore_best_weights=True),
    dict(patience=2, mode="max", monitor="val_accuracy", values=RISING),
    dict(patience=3, mode="max", monitor="val_accuracy", values=RISING, restore_best_weights=True,
         min_delta=0.02),
    dict(patience=20, restore_best_weights=True),                 # never stops
]


@pytest.mark.parametrize("case", EARLY_STOPPING_CASES, ids=lambda c: str(c.get("patience")) + str(sorted(c)))
def test_early_stopping_matches_keras(case):
    case = dict(case)
    values = case.pop("values", NOISY)
    monitor = case.get("monitor", "val_loss")
    ours, theirs = callbacks.EarlyStopping(**case), keras.callbacks.EarlyStopping(**case)
    ours_model, their_model = StandIn(), StandIn()
    ours_run = drive(ours, ours_model, values, monitor)
    their_run = drive(theirs, their_model, values, monitor)
    assert ours_run["epochs"] == their_run["epochs"]
    assert ours.stopped_epoch == theirs.stopped_epoch and ours.best_epoch == theirs.best_epoch
    assert ours.wait == theirs.wait
    assert ours_model.restored == their_model.restored
    if case.get("restore_best_weights"):
        assert ours_model.restored is not None


def test_early_stopping_auto_mode_maximises_accuracy_like_monitors():
    for monitor, op in (("val_accuracy", np.greater), ("acc", np.greater), ("val_loss", np.less),
                        ("val_mae", np.less), ("mse", np.less)):
        stopper = callbacks.EarlyStopping(monitor=monitor, min_delta=0.1)
        assert stopper._is_improvement(1.0, 0.5) == bool(op(1.0, 0.5))
    with pytest.warns(UserWarning, match="unknown"):
        assert callbacks.EarlyStopping(mode="maximum").mode == "auto"
    stopper = callbacks.EarlyStopping(monitor="val_missing")
    stopper.set_model(StandIn())
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match="val_missing"):
        stopper.on_epoch_end(0, {"loss": 1.0})


REDUCE_CASES = [
    dict(values=NOISY + [0.6] * 12),
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2),
    dict(patience=1, factor=0.2, min_lr=0.001),
    dict(patience=2, factor=0.5, min_delta=0.05, cooldown=1, min_lr=0.01),
    dict(patience=0, factor=0.3),
    dict(patience=1, factor=0.5, mode="max", monitor="val_accuracy", values=RISING),
    dict(patience=2, factor=0.1, min_lr=0.7, start_lr=1.0),      # min_lr not representable in float32
]


@pytest.mark.parametrize("case", REDUCE_CASES, ids=lambda c: str(sorted(c.items())))
def test_reduce_lr_on_plateau_gives_keras_learning_rates(case):
    case = dict(case)
    values = case.pop("values", NOISY)
    start = case.pop("start_lr", 0.1)
    monitor = case.get("monitor", "val_loss")
    ours = callbacks.ReduceLROnPlateau(**case)
    theirs = keras.callbacks.ReduceLROnPlateau(**case)
    ours_run = drive(ours, StandIn(optimizers.SGD(start)), values, monitor)
    their_run = drive(theirs, StandIn(keras.optimizers.SGD(start)), values, monitor)
    np.testing.assert_allclose(ours_run["lrs"], their_run["lrs"], rtol=1e-6)
    np.testing.assert_allclose(ours_run["logged"], their_run["logged"], rtol=1e-6)
    assert ours.wait == theirs.wait and ours.cooldown_counter == theirs.cooldown_counter
    assert len(set(np.round(ours_run["lrs"], 12))) > 1          # every case does reduce the rate
    with pytest.raises(ValueError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.0)


CHECKPOINT_CASES = [
    dict(filepath="ckpt-{epoch:02d}-{val_loss:.2f}"),
    dict(filepath="best", save_best_only=True),
    dict(filepath="best-{epoch}", save_best_only=True, save_weights_only=True),
    dict(filepath="max-{epoch}", save_best_only=True, mode="max"),
    dict(filepath="thr-{epoch}", save_best_only=True, initial_value_threshold=0.75),
    dict(filepath="b-{epoch}-{batch}", save_freq=3),
    dict(filepath="b-{epoch}", save_freq=2, save_best_only=True, monitor="loss"),
]


@pytest.mark.parametrize("case", CHECKPOINT_CASES, ids=lambda c: c["filepath"])
def test_model_checkpoint_saves_when_keras_does(case, tmp_path):
    case = dict(case)
    name = os.path.join(str(tmp_path), case.pop("filepath"))
    weights_only = case.get("save_weights_only", False)
    ours = callbacks.ModelCheckpoint(name + (".weights.npz" if weights_only else ".minirnn"), **case)
    theirs = keras.callbacks.ModelCheckpoint(name + (".weights.h5" if weights_only else ".keras"), **case)
    # Keras picks the comparison lazily, at the first epoch end: too late for the batch saves of the
    # first epoch.  Its private setter is the only way to pick it earlier.
    theirs._set_monitor_op()
    ours_model, their_model = StandIn(), StandIn()
    batches = 4 if "save_freq" in case else 0
    monitor = case.get("monitor", "val_loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drive(ours, ours_model, NOISY[:8], monitor, batches)
        drive(theirs, their_model, NOISY[:8], monitor, batches)

    def strip(saved):
        return [(kind, path.rsplit(".weights.", 1)[0].rsplit(".", 1)[0]) for kind, path in saved]

    assert strip(ours_model.saved) == strip(their_model.saved)
    assert ours_model.saved                          # every case saves at least once


def test_model_checkpoint_checks_its_arguments():
    with pytest.raises(ValueError, match=r"\.minirnn"):
        callbacks.ModelCheckpoint("model.txt")
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        callbacks.ModelCheckpoint("model.minirnn", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("model.minirnn", save_freq="batch")


def toy(n=24, t=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, t, 1)).astype("float32")
    return x, x.sum(axis=1) * 0.5


def small_model(seed=0):
    mr.set_random_seed(seed)
    model = Sequential([Input(shape=(None, 1)), LSTM(3), Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.05), loss="mse")
    return model


class WeightLog(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_checkpoints_and_early_stopping_in_a_real_fit(tmp_path):
    x, y = toy()
    xv, yv = toy(8, seed=1)
    model = small_model()
    log = WeightLog()
    every = callbacks.ModelCheckpoint(str(tmp_path / "sub" / "e{epoch:02d}.minirnn"))
    best = callbacks.ModelCheckpoint(str(tmp_path / "best.weights.npz"), save_best_only=True,
                                     save_weights_only=True)
    # An impossible min_delta: no epoch after the first counts as an improvement.
    stopper = callbacks.EarlyStopping(patience=2, min_delta=100.0, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=8, validation_data=(xv, yv), verbose=0,
                        callbacks=[log, every, best, stopper])
    assert len(history.history["loss"]) == 3 and stopper.stopped_epoch == 2
    assert sorted(os.listdir(tmp_path / "sub")) == ["e01.minirnn", "e02.minirnn", "e03.minirnn"]
    for epoch in range(3):                            # each checkpoint holds that epoch's weights
        saved = load_model(tmp_path / "sub" / f"e{epoch + 1:02d}.minirnn").get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(saved, log.weights[epoch]))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), log.weights[0]))   # restored
    fresh = small_model(seed=9)
    fresh.load_weights(tmp_path / "best.weights.npz")     # the epoch of the lowest val_loss
    best_epoch = int(np.argmin(history.history["val_loss"]))
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), log.weights[best_epoch]))


def test_reduce_lr_on_plateau_in_a_real_fit_sets_the_optimizer_rate():
    x, y = toy()
    model = small_model()
    reducer = callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5, min_delta=100.0)
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[reducer])
    # Logged before the reduction (as Keras); epoch 0 sets the best, later ones never beat it by 100.
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.05, 0.025, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.00625)


class BatchLog:
    """Records batch and epoch ends, as a minirnn or a Keras callback."""

    def __init__(self, base):
        log = self.log = []

        class Recorder(base):
            def on_train_batch_end(self, batch, logs=None):
                log.append(("batch", batch))

            def on_epoch_end(self, epoch, logs=None):
                log.append(("epoch", epoch))

        self.callback = Recorder()


def test_terminate_on_nan_stops_mid_epoch_like_keras(capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3)).astype("float32")
    y = rng.standard_normal((20, 1)).astype("float32")
    y[9] = 1e30            # third batch of 4: a finite target whose float32 squared error overflows

    ours = BatchLog(callbacks.Callback)
    mr.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN(), ours.callback])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out

    theirs = BatchLog(keras.callbacks.Callback)
    keras.utils.set_random_seed(0)
    kmodel = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    kmodel.compile(optimizer="sgd", loss="mse")
    kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0,
               callbacks=[keras.callbacks.TerminateOnNaN(), theirs.callback])
    assert ours.log == theirs.log == [("batch", 0), ("batch", 1), ("batch", 2), ("epoch", 0)]
    assert len(history.history["loss"]) == 1 and not np.isfinite(history.history["loss"][0])


def test_terminate_on_nan_hook():
    stopper = callbacks.TerminateOnNaN()
    model = StandIn()
    stopper.set_model(model)
    stopper.on_train_batch_end(0, {"loss": 1.0})
    assert not model.stop_training
    stopper.on_train_batch_end(1, {"loss": np.inf})
    assert model.stop_training
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        callbacks.TerminateOnNaN(raise_error=True).on_batch_end(3, {"loss": float("nan")})
