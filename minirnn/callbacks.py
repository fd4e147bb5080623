"""Training callbacks with the Keras hooks: History, LearningRateScheduler, ProgbarLogger,
ModelCheckpoint, EarlyStopping, ReduceLROnPlateau, TerminateOnNaN.

``fit`` calls, in order: ``set_model``, ``set_params({"epochs", "steps", "verbose"})``,
``on_train_begin``; per epoch ``on_epoch_begin``, per batch ``on_train_batch_begin`` /
``on_train_batch_end(batch, logs)`` with running means, then ``on_epoch_end(epoch, logs)``
with validation entries; finally ``on_train_end``.  A callback stops training by
setting ``self.model.stop_training = True``.
"""
import inspect
import numbers
import operator
import os
import re
import sys
import time
import warnings

import numpy as np

from . import backend


class Callback:
    """Base class: every hook does nothing."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    # Train-batch hooks default to the older on_batch_* names, as in Keras.
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


def _dispatcher(hook, indexed):
    # One logs dict is shared by all callbacks so that entries added by one
    # (e.g. "learning_rate") reach the later ones, History in particular.
    if indexed:
        def dispatch(self, index, logs=None):
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                getattr(callback, hook)(index, logs)
    else:
        def dispatch(self, logs=None):
            logs = {} if logs is None else logs
            for callback in self.callbacks:
                getattr(callback, hook)(logs)
    dispatch.__name__ = hook
    return dispatch


class CallbackList(Callback):
    """Calls each hook on every callback in order.

    ``add_history`` / ``add_progbar`` append a :class:`History` / :class:`ProgbarLogger`
    unless one is already in the list; they are available as ``.history`` / ``.progbar``.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        self.callbacks = list(callbacks or [])
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self.progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and self.progbar is None:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_model(self, model):
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


for _hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
              "on_predict_begin", "on_predict_end"):
    setattr(CallbackList, _hook, _dispatcher(_hook, indexed=False))
for _hook in ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
              "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
              "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(CallbackList, _hook, _dispatcher(_hook, indexed=True))


class History(Callback):
    """Records epoch logs: ``history[name]`` lists the per-epoch values, ``epoch`` the indices."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        if self.model is not None:
            self.model.history = self


def _is_number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    array = np.asarray(value) if hasattr(value, "__array__") else None
    return array is not None and array.shape == () and np.issubdtype(array.dtype, np.number)


def _takes_learning_rate(schedule):
    """Whether ``schedule`` accepts (epoch, lr) rather than only (epoch)."""
    try:
        parameters = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume the Keras form
        return True
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters) or len(positional) >= 2:
        return True
    if len(positional) == 1:
        return False
    raise ValueError(f"The schedule {schedule!r} must take (epoch) or (epoch, learning_rate)")


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate to ``schedule(epoch, lr)`` (or ``schedule(epoch)``)
    at the start of every epoch, and logs it as ``"learning_rate"`` at the end."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"schedule must be callable, received {schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        self._two_args = _takes_learning_rate(schedule)

    def _optimizer(self):
        optimizer = getattr(self.model, "optimizer", None)
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('LearningRateScheduler needs model.optimizer with a "learning_rate" '
                             f"attribute, received optimizer={optimizer!r}")
        return optimizer

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self._optimizer()
        if self._two_args:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            learning_rate = self.schedule(epoch)
        if not _is_number(learning_rate):
            raise ValueError("The output of the schedule function should be a number, "
                             f"received {learning_rate!r} at epoch {epoch}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(learning_rate)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self._optimizer().learning_rate)


_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _format_value(value):
    if not _is_number(value):
        return f" {value}"
    value = float(value)
    return f" {value:.4f}" if abs(value) > 1e-3 else f" {value:.4e}"


def _format_step_time(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_eta(seconds):
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


class ProgbarLogger(Callback):
    """Prints progress like Keras.

    verbose=1: "Epoch e/E" (when E > 1), then a bar
    ``31/31 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - loss: 12.3456 - mae: 12.8000``, redrawn
    in place with \\r on a terminal, printed once per epoch otherwise.
    verbose=2: one line per epoch, ``31/31 - 0s - 2ms/step - loss: ...``.  verbose=0: silent.
    The first kernel compilation of the process is announced on its own line, and times
    leave compilation out (its clock, :func:`minirnn.backend.compile_seconds`, stops the bar's).
    """

    width = 20
    interval = 0.05  # seconds between redraws, so printing never slows training down

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.verbose, self.epochs, self.target = 1, 1, None
        self._previous_notice = None
        self._reset()

    @staticmethod
    def _clock():
        return time.perf_counter() - backend.compile_seconds()

    def _reset(self):
        self._seen, self._logs, self._line_width = 0, {}, 0
        self._start = self._last_draw = self._clock()
        self._after_first_step = None

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    @property
    def _out(self):
        return self.stream if self.stream is not None else sys.stdout

    def _dynamic(self):
        isatty = getattr(self._out, "isatty", None)
        return bool(isatty and isatty()) or "ipykernel" in sys.modules

    def _announce_compiling(self):
        self._write(("\n" if self._line_width else "") + backend.COMPILING_MESSAGE + "\n")
        self._line_width = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        if self.verbose:
            self._previous_notice = backend.compile_notice(self._announce_compiling)
        if self.verbose and self.epochs > 1:
            self._write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        now = self._clock()
        if self._seen == 1:
            self._after_first_step = now
        self._logs = dict(logs or {})
        if self.verbose == 1 and self._dynamic() and now - self._last_draw >= self.interval:
            self._draw(final=False, now=now)
            self._last_draw = now

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose == 0:
            return
        backend.compile_notice(self._previous_notice)
        self._logs = dict(logs or self._logs)
        if self.target is None:
            self.target = self._seen or None
        now = self._clock()
        if self.verbose == 1:
            self._draw(final=True, now=now)
        else:
            line = (f"{self._count()} - {now - self._start:.0f}s - "
                    f"{_format_step_time(self._step_time(now))}{self._metrics()}")
            self._write(line + "\n")

    def _step_time(self, now):
        # The first step includes compilation and warm-up, so leave it out when possible.
        if self._seen > 1 and self._after_first_step is not None:
            return (now - self._after_first_step) / (self._seen - 1)
        return (now - self._start) / self._seen if self._seen else 0.0

    def _count(self):
        target = self.target
        if not target:
            return f"{self._seen:7d}/Unknown"
        return f"{self._seen:{len(str(target))}d}/{target}"

    def _metrics(self):
        return "".join(f" - {name}:{_format_value(value)}" for name, value in self._logs.items())

    def _draw(self, final, now):
        dynamic = self._dynamic()
        bar = ""
        if self.target:
            filled = int(self.width * min(self._seen / self.target, 1.0))
            done, todo = "━" * filled, "━" * (self.width - filled)
            bar = f" \x1b[32m{done}\x1b[0m\x1b[37m{todo}\x1b[0m" if dynamic else f" {done}{todo}"
        step_time = self._step_time(now)
        if final or not self.target:
            timing = f"{now - self._start:.0f}s"
        else:
            timing = _format_eta(step_time * (self.target - self._seen))
        count = self._count()
        if dynamic:          # Keras's terminal bar: count and time in bold
            count, timing = f"\x1b[1m{count}\x1b[0m", f"\x1b[1m{timing}\x1b[0m"
        line = f"{count}{bar} {timing} {_format_step_time(step_time)}{self._metrics()}"
        if dynamic:
            visible = len(_ANSI_CODE.sub("", line))
            padding = " " * max(self._line_width - visible, 0)
            self._line_width = visible
            self._write("\r" + line + padding + ("\n" if final else ""))
        else:
            self._write(line + "\n")

    def _write(self, text):
        self._out.write(text)
        self._out.flush()


def progbar_for(verbose, steps):
    """The bar of one pass over the data (``evaluate``, ``predict``), started; None at verbose 0."""
    if not verbose:
        return None
    progbar = ProgbarLogger()
    progbar.set_params({"verbose": verbose, "epochs": 1, "steps": steps})
    progbar.on_epoch_begin(0)
    return progbar


# -- monitoring callbacks ---------------------------------------------------------
_INCREASING = ("acc", "auc", "precision", "recall", "r2", "f1", "fbeta", "iou", "cosine_similarity")


def _increasing(monitor):
    """Whether a higher value of `monitor` is better: accuracy-like names (``accuracy``,
    ``val_acc``, ``auc``, ``precision``, ``recall``, ``r2_score``...); losses and errors are not."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return any(token in name for token in _INCREASING)


class MonitorCallback(Callback):
    """Shared by the callbacks that watch a logged quantity (Keras's MonitorCallback).

    ``mode``: "min", "max", or "auto" ("max" for accuracy-like monitors, else "min"; an
    unknown mode warns and falls back to "auto").  An improvement over a reference r is
    ``value - min_delta < r`` in "min" mode and ``value - min_delta > r`` in "max" mode,
    with min_delta made negative in "min" mode, i.e. it must beat r by ``|min_delta|``.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.best = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None
        self._set_monitor_op()

    def _set_monitor_op(self):
        increasing = self.mode == "max" or (self.mode == "auto" and _increasing(self.monitor))
        self.monitor_op = operator.gt if increasing else operator.lt
        if not increasing:
            self.min_delta *= -1

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))

    def _monitor_value(self, logs, what):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"{what} conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=3)
        return value


class EarlyStopping(MonitorCallback):
    """Stop training when `monitor` has not improved for `patience` epochs (Keras semantics).

    An epoch improves if it beats the best so far by ``min_delta``; ``wait`` counts epochs
    since then (restarted only if it also beats ``baseline``).  Training stops at the end of
    an epoch > 0 once ``wait >= patience``.  Epochs before ``start_from_epoch`` are ignored.
    With ``restore_best_weights`` the weights of the best epoch are put back at the end of
    training (those of the first monitored epoch if none improved).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
    epochs (Keras semantics): then wait `cooldown` epochs before counting again, and never go
    below `min_lr`.  Logs the current rate as ``"learning_rate"`` every epoch."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor, self.min_lr, self.patience = factor, min_lr, patience
        self.verbose, self.cooldown = verbose, cooldown
        self.cooldown_counter = self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _reduce_lr(self, epoch):
        optimizer = self.model.optimizer
        old_lr = float(optimizer.learning_rate)
        # Keras keeps the rate in float32, hence the float32 comparison with min_lr.
        if np.float32(old_lr) > np.float32(self.min_lr):
            if callable(getattr(optimizer, "_learning_rate", None)):
                raise TypeError("The optimizer's learning_rate is a schedule (a callable), so "
                                "ReduceLROnPlateau cannot set it")
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                          f"not available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's logged loss is NaN or infinite: sets
    ``model.stop_training`` (fit stops after that batch; on_epoch_end and on_train_end still
    run), or with ``raise_error=True`` raises a RuntimeError at once."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   f"Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``: a ``.minirnn``, Keras ``.keras`` or legacy Keras ``.h5`` path) or
    its weights (``save_weights_only``: ``.weights.npz``, Keras ``.weights.h5`` or legacy ``.h5``) every
    epoch, or every `save_freq` batches (Keras semantics).

    `filepath` may hold format fields filled from the epoch (1-based), the batch (1-based,
    batch saving) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.minirnn"``.  With
    ``save_best_only`` it saves only when `monitor` improves on the best so far (starting
    from ``initial_value_threshold``).  Missing directories are created; files are written
    atomically.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool)):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or "
                             f"integer values")
        suffix = (".weights.npz", ".weights.h5", ".h5") if save_weights_only else (".minirnn", ".keras", ".h5", ".hdf5")
        if not self.filepath.endswith(suffix):
            kind = "with save_weights_only=True " if save_weights_only else ""
            raise ValueError(f"ModelCheckpoint {kind}needs a filepath ending in {' or '.join(map(repr, suffix))}. "
                             f"Received: filepath={self.filepath}")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1                                   # a new epoch
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _file_path(self, epoch, batch, logs):
        logs = logs or {}
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: "
                          f"{current}. Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IOError(f"Please specify a non-directory filepath for ModelCheckpoint. Filepath used "
                          f"is an existing directory: {filepath}")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")
