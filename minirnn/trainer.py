"""Training: ``compile``, ``fit``, ``evaluate``, ``predict`` and ``train_on_batch``, the loops
over batches and the callbacks' plumbing, apart from the graph they train (as Keras keeps its
trainer apart from its models).  :class:`minirnn.models.Model` inherits them.

One training step is forward, loss, backward, update:

    y_hat = graph(x)                       forward, node by node, each layer keeping its cache
    L = sum_k w_k L_k(y_k, y_hat_k)        one loss per output (loss_weights w_k)
    dL/dx = graph.backward(dL/dy_hat)      nodes in reverse order; grads land in layer.grads
    optimizer.apply_gradients(weights, grads)

What the trainer asks of the model: ``_forward(flat inputs, training)`` -> (outputs, output
masks), ``_backward(output gradients)``, ``_param_grad_pairs()``, ``_checked_inputs(x)``,
``_flatten(data, names, what)``, ``_pack(outputs)``, ``output_names`` and
``_require_layers(what)``.

Threads: ``fit``, ``train_on_batch``, ``evaluate`` and ``predict`` on one model may run in
different threads: each takes the model's lock for one batch at a time, so a ``predict`` while
``fit`` runs waits for the current training step and sees whole updates.  Calling the model or
its layers directly (``model(x)``, ``layer(x)``, ``backward``) takes no lock, and a layer shared
by two models is not protected across them.
"""
import copy
import threading

import numpy as np

from . import callbacks as callbacks_module
from . import losses, metrics as metrics_module, optimizers
from .data_adapters import check_epochs, check_verbose, checked_arrays, get_data_adapter, train_validation_split
from .layers.base import trusted_inputs
from .parallel import limits_blas_threads


class Trainer:
    """The training half of a model (mixed into :class:`minirnn.models.Model`)."""

    def __init__(self):
        self.optimizer = self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.metrics = []
        self._lock = threading.RLock()

    # -- compiling ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, run_eagerly=False,
                jit_compile="auto"):
        """Set the optimizer, the loss (one for every output, or a list / dict by output name),
        ``loss_weights`` and ``metrics`` (a list, or per output a list of lists / a dict).
        ``run_eagerly`` and ``jit_compile`` are Keras's choices of how its graph runs: minirnn has
        one way (NumPy and compiled kernels), so they are accepted and change nothing."""
        if loss is None:
            raise ValueError(f"Model '{self.name}': compile() needs a loss, e.g. loss='mse'")
        names = self.output_names
        try:
            self.optimizer = optimizers.get(optimizer)
            per_output = self._per_output(loss, names, "loss", allow_none=True)
            self._losses = [None if spec is None else losses.get(spec) for spec in per_output]
            weights = self._per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
            self._loss_weights = [1.0 if w is None else float(w) for w in weights]
            self._output_metrics = self._metric_trackers(metrics, names)
        except ValueError as error:
            raise ValueError(f"Model '{self.name}' compile(): {error}") from None
        if all(fn is None for fn in self._losses):
            raise ValueError(f"Model '{self.name}' compile(): every output's loss is None")
        self.loss = self._losses[0] if len(self._losses) == 1 else list(self._losses)
        self.loss_weights = list(self._loss_weights)
        self.metrics = [m for _, m, _ in self._output_metrics]
        self.compiled = True

    @property
    def metrics_names(self):
        """Keras 3's list, name for name: empty before compile, then ``"loss"``, then one
        ``"compile_metrics"`` for all compiled metrics (Keras 3 has one tracker for them; the
        values of ``evaluate`` name each, see ``return_dict=True``), then ``"<output>_loss"`` for
        each output with a loss when there are several."""
        if not self.compiled:
            return []
        names = ["loss"] + (["compile_metrics"] if self.metrics else [])
        return names + [f"{name}_loss" for name, _ in self._loss_trackers()[1]]

    def metrics_per_output(self):
        """The compiled metric trackers, one list per output."""
        return [[m for _, m, k in self._output_metrics if k == i] for i in range(len(self._losses))]

    @staticmethod
    def _per_output(spec, names, what, allow_none=False):
        """One entry per output from one value (used for all), a list, or a dict by output name."""
        if isinstance(spec, dict):
            unknown = [k for k in spec if k not in names]
            if unknown:
                raise ValueError(f"{what} names {unknown}, which are not outputs {names}")
            return [spec.get(n) for n in names]
        if isinstance(spec, (list, tuple)) and not (what == "loss" and len(names) == 1 and len(spec) != 1):
            if len(spec) != len(names):
                raise ValueError(f"{what} has {len(spec)} entries for {len(names)} outputs {names}")
            return list(spec)
        return [spec] * len(names)

    def _metric_trackers(self, metrics, names):
        """[(log name, tracker, output index)]: Keras's names, ``mae`` or ``<output>_mae``."""
        if metrics is None:
            return []
        if isinstance(metrics, (str, metrics_module.Mean)) or callable(metrics):
            raise ValueError(f"metrics must be a list such as ['mae'], received {metrics!r}")
        if isinstance(metrics, dict):
            per_output = self._per_output(metrics, names, "metrics")
        elif len(names) > 1 and any(isinstance(m, (list, tuple)) for m in metrics):
            per_output = self._per_output(list(metrics), names, "metrics")
        else:
            per_output = [metrics] * len(names)
        trackers = []
        for k, (name, specs) in enumerate(zip(names, per_output)):
            if specs is None:
                continue
            for spec in (specs if isinstance(specs, (list, tuple)) else [specs]):
                tracker = metrics_module.tracker(spec)
                if len(names) > 1 and any(t is tracker for _, t, _ in trackers):
                    tracker = copy.deepcopy(tracker)
                log = tracker.name if len(names) == 1 else f"{name}_{tracker.name}"
                trackers.append((log, tracker, k))
        return trackers

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"Model '{self.name}' must be compiled before {what}(): "
                               f"call model.compile(optimizer=..., loss=...) first")

    # -- one batch ------------------------------------------------------------------------
    def _losses_of(self, y_flat, outputs, out_masks, with_grad):
        """(total loss, per-output losses, per-output gradients)."""
        total, parts, d_outputs = 0.0, [], []
        for loss_fn, weight, y, y_pred, mask in zip(self._losses, self._loss_weights, y_flat, outputs, out_masks):
            if loss_fn is None:
                parts.append(None)
                d_outputs.append(None)
                continue
            value, grad = loss_fn.value_and_gradient(y, y_pred, **({} if mask is None else {"mask": mask}),
                                                     with_grad=with_grad)
            parts.append(value)
            total += weight * value
            d_outputs.append(grad if weight == 1.0 or grad is None else grad * grad.dtype.type(weight))
        return total, parts, d_outputs

    def _regularized(self):
        """([(weight, regularizer)], [(weight, constraint)]) over every layer of the model."""
        penalties, limits, seen = [], [], set()
        if not self.penalties_anywhere():
            return penalties, limits
        for holder in self.cache_holders():
            for w, reg in holder.weight_penalties():
                if (id(w), "r") not in seen:
                    seen.add((id(w), "r"))
                    penalties.append((w, reg))
            for w, con in holder.weight_constraints():
                if (id(w), "c") not in seen:
                    seen.add((id(w), "c"))
                    limits.append((w, con))
        return penalties, limits

    def _penalty(self):
        """The regularization losses Keras adds to the loss: weight penalties and the activity
        penalties of the last forward pass."""
        return sum(reg(w) for w, reg in self._regularized()[0]) + self.__dict__.get("_activity_loss", 0.0)

    def _update_metrics(self, y_flat, outputs, out_masks):
        for _, metric, k in self._output_metrics:
            metric.update_state(y_flat[k], outputs[k], sample_weight=out_masks[k])

    def _train_step(self, x_flat, y_flat):
        """Forward, loss, backward, update on checked arrays: (total loss, per-output losses)."""
        with self._lock:
            outputs, out_masks = self._forward(x_flat, True)
            total, parts, d_outputs = self._losses_of(y_flat, outputs, out_masks, True)
            self._backward(d_outputs, input_grads=False)
            pairs = self._param_grad_pairs()
            penalties, limits = self._regularized()
            grads = [g for _, g in pairs]
            if penalties:                              # dR/dw joins dL/dw of the penalized weights
                total += self._penalty()
                extra = {}
                for w, reg in penalties:
                    extra[id(w)] = extra.get(id(w), 0) + reg.gradient(w)
                grads = [g + extra[id(p)] if id(p) in extra else g for p, g in pairs]
            elif self.__dict__.get("_activity_loss"):
                total += self._activity_loss
            self.optimizer.apply_gradients([p for p, _ in pairs], grads)
            for w, constraint in limits:               # Keras applies constraints after each update
                w[...] = constraint(w)
            self._update_metrics(y_flat, outputs, out_masks)
        return total, parts

    def _test_step(self, x_flat, y_flat):
        """Forward and loss (with the penalties), metrics updated: (total loss, per-output losses)."""
        with self._lock:
            outputs, out_masks = self._forward(x_flat, False)
            loss, parts, _ = self._losses_of(y_flat, outputs, out_masks, False)
            loss += self._penalty()
            self._update_metrics(y_flat, outputs, out_masks)
        return loss, parts

    def _on_batch(self, step, x, y, what, return_dict):
        """train_on_batch / test_on_batch: `step` on one batch, the batch's loss and metrics
        returned as Keras returns them (see :meth:`_returned`)."""
        self._require_compiled(what)
        x, y = checked_arrays(x, y, what, self.name)
        x_flat, y_flat = self._batch_arrays(x, y)
        self.reset_metrics()               # this batch's values, as Keras 3 returns
        loss_tracker, part_trackers = self._loss_trackers()
        self._track(loss_tracker, part_trackers, *step(x_flat, y_flat), len(x_flat[0]))
        return self._returned(self._logs(loss_tracker, part_trackers), return_dict)

    @limits_blas_threads
    def train_on_batch(self, x, y, return_dict=False):
        """One step: forward, loss, backward, update.  Returns the batch's loss (computed before
        the update), or [loss, *metrics] when there are metrics or several losses, or with
        `return_dict` {name: value}, as Keras does."""
        return self._on_batch(self._train_step, x, y, "train_on_batch", return_dict)

    @limits_blas_threads
    def test_on_batch(self, x, y, return_dict=False):
        """Loss and metrics of one batch, no update; returned as :meth:`train_on_batch` does."""
        return self._on_batch(self._test_step, x, y, "test_on_batch", return_dict)

    def reset_metrics(self):
        """Reset the state of every metric (Keras's ``reset_metrics``; fit, evaluate and the
        ``*_on_batch`` calls start from reset metrics anyway)."""
        for metric in self.metrics:
            metric.reset_state()

    @staticmethod
    def _track(loss_tracker, part_trackers, loss, parts, n):
        """Add a batch of `n` samples' losses to the running means."""
        loss_tracker.update_state(loss, sample_weight=n)
        for (_, tracker), value in zip(part_trackers, [p for p in parts if p is not None]):
            tracker.update_state(value, sample_weight=n)

    @staticmethod
    def _returned(logs, return_dict):
        """Keras's return value of evaluate and *_on_batch: the dict, else the one value or the list."""
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _logs(self, loss_tracker, part_trackers):
        logs = {"loss": loss_tracker.result()}
        for name, tracker in part_trackers:
            logs[f"{name}_loss"] = tracker.result()
        logs.update((log, metric.result()) for log, metric, _ in self._output_metrics)
        return logs

    def _loss_trackers(self):
        names = self.output_names
        parts = [(n, metrics_module.Mean(f"{n}_loss")) for n, fn in zip(names, self._losses)
                 if fn is not None] if len(names) > 1 else []
        return metrics_module.Mean("loss"), parts

    # -- data ----------------------------------------------------------------------------
    def _batch_arrays(self, xb, yb):
        """Flat input and target arrays of a batch the data adapter has checked already
        (numbers, finite, one sample count): the Input layers check rank and shape."""
        with trusted_inputs():
            x_flat = self._checked_inputs(xb)
        if yb is None:
            return x_flat, None
        return x_flat, [np.asarray(t) for t in self._flatten(yb, self.output_names, "target")]

    def _adapter(self, x, y, batch_size, shuffle, steps, what):
        self._require_layers(what)
        return get_data_adapter(x, y, batch_size=batch_size, shuffle=shuffle, steps_per_epoch=steps,
                                what=what, owner=self.name)

    # -- training --------------------------------------------------------------------------
    @limits_blas_threads
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None):
        """Train; returns the History.  `x` may be arrays (or a list / dict of them) with `y`,
        or a dataset, PyDataset or generator of (x, y) batches (see minirnn.data_adapters).

        A loss that becomes NaN or inf stops training with an error naming the epoch and batch,
        unless a callback (TerminateOnNaN) is there to handle it."""
        self._require_compiled("fit")
        verbose = check_verbose(verbose, "fit", self.name)
        epochs, initial_epoch = check_epochs(epochs, initial_epoch, "fit", self.name)
        if validation_split:
            (x, y), validation_data = train_validation_split(x, y, validation_split)
        adapter = self._adapter(x, y, batch_size, shuffle, steps_per_epoch, "fit")
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose > 0, model=self,
                                            epochs=epochs, steps=adapter.num_batches, verbose=verbose)
        handles_nan = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in cbs)
        self.stop_training = False
        loss_tracker, part_trackers = self._loss_trackers()
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            if adapter.exhausted:               # a generator used up: Keras's warning, then stop
                adapter.warn_ran_out()
                break
            loss_tracker.reset_state()
            for _, tracker in part_trackers:
                tracker.reset_state()
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs = {}
            for step, (xb, yb) in enumerate(adapter):
                x_flat, y_flat = self._batch_arrays(xb, yb)
                cbs.on_train_batch_begin(step)
                loss, parts = self._train_step(x_flat, y_flat)
                self._track(loss_tracker, part_trackers, loss, parts, len(x_flat[0]))
                logs = self._logs(loss_tracker, part_trackers)
                if not handles_nan and not np.isfinite(loss):
                    raise FloatingPointError(
                        f"Model '{self.name}': the loss became {loss} at epoch {epoch + 1}, batch {step + 1} "
                        f"(the inputs and targets are finite, so the model computed it: lower the learning "
                        f"rate, clip gradients (clipnorm=...) or check the activations); pass "
                        f"callbacks=[TerminateOnNaN()] to stop training quietly instead")
                cbs.on_train_batch_end(step, logs)
                if self.stop_training:          # e.g. TerminateOnNaN, mid-epoch as in Keras
                    break
            if validation_data is not None:
                val = self.evaluate(*self._split_validation(validation_data), batch_size=batch_size,
                                    verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        self.history = cbs.history
        return cbs.history

    @staticmethod
    def _split_validation(validation_data):
        if isinstance(validation_data, tuple):
            if len(validation_data) != 2:
                raise ValueError(f"validation_data must be (x_val, y_val) or a dataset, "
                                 f"received a tuple of {len(validation_data)}")
            return validation_data
        return validation_data, None

    @limits_blas_threads
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", steps=None, return_dict=False):
        """Loss (and metrics) over the data: a float, a list, or a dict with return_dict;
        ``verbose=1`` prints Keras's progress bar."""
        self._require_compiled("evaluate")
        verbose = check_verbose(verbose, "evaluate", self.name)
        adapter = self._adapter(x, y, batch_size, False, steps, "evaluate")
        loss_tracker, part_trackers = self._loss_trackers()
        self.reset_metrics()
        progbar = callbacks_module.progbar_for(verbose, adapter.num_batches)
        logs = None
        for step, (xb, yb) in enumerate(adapter):
            x_flat, y_flat = self._batch_arrays(xb, yb)
            self._track(loss_tracker, part_trackers, *self._test_step(x_flat, y_flat), len(x_flat[0]))
            logs = self._logs(loss_tracker, part_trackers)
            if progbar is not None:
                progbar.on_train_batch_end(step, logs)
        if logs is None:
            raise ValueError(f"Model '{self.name}' evaluate() received no samples")
        if progbar is not None:
            progbar.on_epoch_end(0, logs)
        return self._returned(logs, return_dict)

    @limits_blas_threads
    def predict_on_batch(self, x):
        """Outputs for `x` computed as one batch (Keras's ``predict_on_batch``): arrays, not a
        dataset or generator."""
        x = checked_arrays(x, None, "predict_on_batch", self.name)[0]
        x_flat, _ = self._batch_arrays(x, None)
        with self._lock:
            return self._pack(self._forward(x_flat, False)[0])

    @limits_blas_threads
    def predict(self, x, batch_size=None, verbose="auto", steps=None):
        """Outputs for every sample, computed in batches (32 by default); ``verbose=1`` prints
        Keras's progress bar."""
        verbose = check_verbose(verbose, "predict", self.name)
        adapter = self._adapter(x, None, batch_size, False, steps, "predict")
        progbar = callbacks_module.progbar_for(verbose, adapter.num_batches)
        outputs = []
        for step, (xb, _) in enumerate(adapter):
            x_flat, _ = self._batch_arrays(xb, None)
            with self._lock:
                outputs.append(self._forward(x_flat, False)[0])
            if progbar is not None:
                progbar.on_train_batch_end(step)
        if not outputs:
            raise ValueError(f"Model '{self.name}' predict() received no samples")
        if progbar is not None:
            progbar.on_epoch_end(0)
        return self._pack([np.concatenate(parts, axis=0) for parts in zip(*outputs)])
