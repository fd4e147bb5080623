"""Training callbacks with the Keras hooks: History, LearningRateScheduler, ProgbarLogger.

``fit`` calls, in order: ``set_model``, ``set_params({"epochs", "steps", "verbose"})``,
``on_train_begin``; per epoch ``on_epoch_begin``, per batch ``on_train_batch_begin`` /
``on_train_batch_end(batch, logs)`` with running means, then ``on_epoch_end(epoch, logs)``
with validation entries; finally ``on_train_end``.  A callback stops training by
setting ``self.model.stop_training = True``.
"""
import inspect
import numbers
import re
import sys
import time

import numpy as np


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
    """

    width = 20
    interval = 0.05  # seconds between redraws, so printing never slows training down

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.verbose, self.epochs, self.target = 1, 1, None
        self._reset()

    def _reset(self):
        self._seen, self._logs, self._line_width = 0, {}, 0
        self._start = self._last_draw = time.time()
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

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()
        if self.verbose and self.epochs > 1:
            self._write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        now = time.time()
        if self._seen == 1:
            self._after_first_step = now
        self._logs = dict(logs or {})
        if self.verbose == 1 and self._dynamic() and now - self._last_draw >= self.interval:
            self._draw(final=False, now=now)
            self._last_draw = now

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose == 0:
            return
        self._logs = dict(logs or self._logs)
        if self.target is None:
            self.target = self._seen or None
        if self.verbose == 1:
            self._draw(final=True, now=time.time())
        else:
            elapsed = time.time() - self._start
            line = (f"{self._count()} - {elapsed:.0f}s - "
                    f"{_format_step_time(self._step_time(time.time()))}{self._metrics()}")
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
            bar = f" \x1b[32m{done}\x1b[37m{todo}\x1b[0m" if dynamic else f" {done}{todo}"
        step_time = self._step_time(now)
        if final or not self.target:
            timing = f"{now - self._start:.0f}s"
        else:
            timing = _format_eta(step_time * (self.target - self._seen))
        line = f"{self._count()}{bar} {timing} {_format_step_time(step_time)}{self._metrics()}"
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
