"""Sequential: a stack of layers with Keras's compile / fit / evaluate / predict.

One training step is forward, loss, backward, update:

    y_hat = layers(x)                      forward, each layer keeping its cache
    L, dL/dy_hat = loss(y, y_hat)
    dL/dx = layers.backward(dL/dy_hat)     last layer first; grads land in layer.grads
    optimizer.apply_gradients(weights, grads)
"""
import functools
import inspect

import numpy as np

from . import callbacks as callbacks_module
from . import losses, metrics as metrics_module, optimizers
from .parallel import limits_blas_threads
from .layers.base import Layer, format_shape, unique_name
from .layers.core import InputLayer
from .utils import get_rng


@functools.lru_cache(maxsize=None)
def _takes_mask(layer_class):
    """Whether the class's __call__ has a `mask` argument (inspect is slow: once per class)."""
    return "mask" in inspect.signature(layer_class.__call__).parameters


def _batches(x, y, batch_size, shuffle):
    """Mini-batches of arrays, reshuffled on every call."""
    n = len(x)
    order = get_rng().permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if not shuffle:
            idx = slice(start, start + batch_size)
        yield x[idx], (None if y is None else y[idx])


class Sequential:
    """A linear stack of layers: ``Sequential([Input(shape=(None, 1)), LSTM(32), Dense(1)])``."""

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self.layers = []
        self.input_layer = None
        self.optimizer = self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.output_mask = None
        for layer in layers or []:
            self.add(layer)

    # -- structure --------------------------------------------------------------
    def add(self, layer):
        if isinstance(layer, InputLayer):
            if self.layers or self.input_layer is not None:
                raise ValueError(f"Model '{self.name}': an Input must come first")
            self.input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Model '{self.name}' can only add minirnn layers, received {layer!r}")
        if not self.layers and self.input_layer is None and layer.input_shape_hint is not None:
            self.input_layer = InputLayer(layer.input_shape_hint[1:], dtype=layer.dtype)
        self.layers.append(layer)
        if self.input_layer is not None:
            self.output_shapes()              # build now, like Keras, when the input shape is known

    @property
    def input_shape(self):
        return None if self.input_layer is None else self.input_layer.shape

    def build(self, input_shape=None):
        """Create every layer's weights from the input shape (batch axis first)."""
        if input_shape is not None:
            self.input_layer = InputLayer(tuple(input_shape)[1:], batch_size=input_shape[0])
        if self.input_layer is None:
            raise ValueError(f"Model '{self.name}' has no input shape: start it with Input(shape=...), "
                             f"call build(input_shape) or call it on data")
        return self.output_shapes()[-1]

    def output_shapes(self):
        shape, shapes = self.input_layer.shape, []
        for layer in self.layers:
            layer.ensure_built(shape)
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        expected = len(self.weights)
        if len(weights) != expected:
            raise ValueError(f"Model '{self.name}' expects {expected} weight arrays, received {len(weights)}")
        offset = 0
        for layer in self.layers:                          # check all before changing any
            for k, w in enumerate(layer.weights):
                if np.shape(weights[offset + k]) != w.shape:
                    raise ValueError(f"Model '{self.name}': layer '{layer.name}' weight {k} expects shape "
                                     f"{w.shape}, received {np.shape(weights[offset + k])}")
            offset += len(layer.weights)
        for layer in self.layers:
            k = len(layer.weights)
            layer.set_weights(weights[:k])
            weights = weights[k:]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    # -- forward and backward ---------------------------------------------------
    @limits_blas_threads
    def __call__(self, x, training=False):
        if self.input_layer is None:
            self.input_layer = InputLayer((None,) * (np.ndim(x) - 1), dtype=self.layers[0].dtype)
        x, mask = self.input_layer(x), None
        for layer in self.layers:
            kwargs = {"mask": mask} if mask is not None and _takes_mask(type(layer)) else {}
            y = layer(x, training=training, **kwargs)
            if isinstance(y, list):
                raise ValueError(f"Model '{self.name}': layer '{layer.name}' returns several arrays "
                                 f"(return_state=True or merge_mode=None), which Sequential cannot pass on")
            x, mask = y, layer.compute_mask(x, mask)
        self.output_mask = mask           # padded steps of a sequence output: left out of loss and metrics
        return x

    def _masked(self):
        """Keyword arguments that hand the output mask to a loss, if the output has one."""
        return {} if self.output_mask is None else {"mask": self.output_mask}

    def _update_metrics(self, y, y_pred):
        for metric in self.metrics:
            metric.update_state(y, y_pred, sample_weight=self.output_mask)

    @limits_blas_threads
    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    # -- training ---------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        if loss is None:
            raise ValueError(f"Model '{self.name}': compile() needs a loss, e.g. loss='mse'")
        try:
            self.optimizer = optimizers.get(optimizer)
            self.loss = losses.get(loss)
            self.metrics = [metrics_module.tracker(m) for m in (metrics or [])]
        except ValueError as error:
            raise ValueError(f"Model '{self.name}' compile(): {error}") from None
        self.compiled = True

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"Model '{self.name}' must be compiled before {what}(): "
                               f"call model.compile(optimizer=..., loss=...) first")

    @limits_blas_threads
    def train_on_batch(self, x, y):
        """One step: forward, loss, backward, update.  Returns the batch loss."""
        self._require_compiled("train_on_batch")
        y_pred = self(x, training=True)
        loss, d_pred = self.loss.value_and_gradient(y, y_pred, **self._masked())
        self.backward(d_pred)
        params, grads = [], []
        for layer in self.layers:
            if layer.trainable and layer.weights:
                params += layer.weights
                grads += layer.grads
        self.optimizer.apply_gradients(params, grads)
        self._update_metrics(y, y_pred)
        return loss

    def _data(self, x, y, batch_size, shuffle, what):
        """(batch iterable factory, number of steps) for arrays or a dataset of (x, y) batches."""
        if y is None and not isinstance(x, np.ndarray):
            steps = len(x) if hasattr(x, "__len__") else None
            return (lambda: iter(x)), steps
        x = np.asarray(x)
        if y is not None:
            y = np.asarray(y)
            if len(x) != len(y):
                raise ValueError(f"Model '{self.name}' {what}(): x and y must have the same number of "
                                 f"samples, received {len(x)} and {len(y)}")
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"Model '{self.name}' {what}(): batch_size must be >= 1, received {batch_size}")
        return (lambda: _batches(x, y, batch_size, shuffle)), -(-len(x) // batch_size)

    @limits_blas_threads
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_data=None, shuffle=True, initial_epoch=0):
        """Train; returns the History.  `x` may be arrays with `y`, or a dataset of (x, y) batches."""
        self._require_compiled("fit")
        batches, steps = self._data(x, y, batch_size, shuffle, "fit")
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose > 0, model=self,
                                            epochs=epochs, steps=steps, verbose=verbose)
        self.stop_training = False
        loss_tracker = metrics_module.Mean("loss")
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            loss_tracker.reset_state()
            for metric in self.metrics:
                metric.reset_state()
            cbs.on_epoch_begin(epoch)
            logs = {}
            for step, (xb, yb) in enumerate(batches()):
                cbs.on_train_batch_begin(step)
                loss_tracker.update_state(self.train_on_batch(xb, yb), sample_weight=len(xb))
                logs = {"loss": loss_tracker.result(), **{m.name: m.result() for m in self.metrics}}
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
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss (and metrics) over the data: a float, a list, or a dict with return_dict."""
        self._require_compiled("evaluate")
        batches, _ = self._data(x, y, batch_size, False, "evaluate")
        loss_tracker = metrics_module.Mean("loss")
        for metric in self.metrics:
            metric.reset_state()
        for xb, yb in batches():
            y_pred = self(xb)
            loss_tracker.update_state(self.loss(yb, y_pred, **self._masked()), sample_weight=len(xb))
            self._update_metrics(yb, y_pred)
        results = {"loss": loss_tracker.result(), **{m.name: m.result() for m in self.metrics}}
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    @limits_blas_threads
    def predict(self, x, batch_size=None, verbose="auto"):
        """Outputs for every sample, computed in batches (32 by default)."""
        batches, _ = self._data(x, None, batch_size, False, "predict")
        outputs = [self(batch[0] if isinstance(batch, tuple) else batch) for batch in batches()]
        if not outputs:
            raise ValueError(f"Model '{self.name}' predict() received no samples")
        return np.concatenate(outputs, axis=0)

    # -- saving (format: see minirnn/saving.py) --------------------------------
    def get_config(self):
        """``{"name", "layers": [{"class_name", "module", "config", "build_config"}, ...]}``,
        the Input first when the model has one."""
        from .saving import serialize_layer

        layers = ([self.input_layer] if self.input_layer is not None else []) + self.layers
        return {"name": self.name, "layers": [serialize_layer(layer, build_config=True) for layer in layers]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        from .saving import deserialize_layer, loading_options

        with loading_options(custom_objects):
            layers = [deserialize_layer(entry) for entry in config.get("layers", [])]
        return cls(layers=layers, name=config.get("name"))

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save architecture, weights and compile state (optimizer included) to a ``.minirnn`` file."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights (and optimizer state, if compiled) to a ``.weights.npz`` file."""
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from a ``.weights.npz`` or ``.minirnn`` file (and the optimizer state,
        if the model is compiled with the same optimizer); counts and shapes are checked."""
        from .saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    # -- description ------------------------------------------------------------
    def summary(self, print_fn=print):
        """Print a Keras-style table: layer, output shape, parameter count."""
        if self.input_layer is None:
            raise ValueError(f"Model '{self.name}' has not been built: start it with Input(shape=...), "
                             f"call build(input_shape) or call it on data first")
        shapes = self.output_shapes()
        rows = [(f"{layer.name} ({type(layer).__name__})",
                 ", ".join(format_shape(s) for s in shape) if isinstance(shape, list) else format_shape(shape),
                 f"{layer.count_params():,}") for layer, shape in zip(self.layers, shapes)]
        widths = [max(31, *(len(r[0]) for r in rows)), max(22, *(len(r[1]) for r in rows)), 13]

        def line(left, mid, right, fill):
            return left + mid.join(fill * (w + 2) for w in widths) + right

        def row(cells, align=("<", "<", ">")):
            return "│" + "│".join(f" {c:{a}{w}} " for c, a, w in zip(cells, align, widths)) + "│"

        total = self.count_params()
        trainable = sum(layer.count_params() for layer in self.layers if layer.trainable)
        itemsize = np.dtype(self.layers[0].dtype).itemsize if self.layers else 4
        lines = [f'Model: "{self.name}"', line("┏", "┳", "┓", "━"),
                 "┃" + "┃".join(f" {h:{a}{w}} " for h, a, w in
                               zip(("Layer (type)", "Output Shape", "Param #"), ("<", "<", ">"), widths)) + "┃",
                 line("┡", "╇", "┩", "━")]
        for k, r in enumerate(rows):
            lines.append(row(r))
            if k < len(rows) - 1:
                lines.append(line("├", "┼", "┤", "─"))
        lines.append(line("└", "┴", "┘", "─"))
        for label, count in (("Total", total), ("Trainable", trainable), ("Non-trainable", total - trainable)):
            lines.append(f" {label} params: {count:,} ({_human_bytes(count * itemsize)})")
        print_fn("\n".join(lines))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved by ``model.save``; see :func:`minirnn.saving.load_model`."""
    from .saving import load_model as _load_model

    return _load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def _human_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
