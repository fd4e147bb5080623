"""Metrics: per-sample functions and running means over an epoch, as in Keras.

A metric function maps (y_true, y_pred) to one value per sample (mean over the
last axis).  :class:`Mean` accumulates ``total = Σ w·v`` and ``count = Σ w`` so
``result() = total / count`` is the mean over every sample seen, whatever the
batch sizes.
"""
import numpy as np

from . import losses, registry


def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true)², axis=-1) per sample."""
    return losses.MeanSquaredError().per_sample(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|, axis=-1) per sample."""
    return losses.MeanAbsoluteError().per_sample(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss (see :class:`minirnn.losses.Huber`) per sample."""
    return losses.Huber(delta).per_sample(y_true, y_pred)


class Mean:
    """Running (weighted) mean: result() = Σ w·v / Σ w."""

    def __init__(self, name="mean"):
        self.name = name
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        """Add ``values`` (scalar or array), each weighted by ``sample_weight`` (default 1).

        A scalar weight with a scalar value counts the value that many times, e.g. a
        batch loss with ``sample_weight=batch_size``.
        """
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
            return
        weights = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), values.shape)
        self.total += float((values * weights).sum())
        self.count += float(weights.sum())

    def result(self):
        """The mean so far (0.0 before any update, like Keras)."""
        return self.total / self.count if self.count else 0.0

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, result={self.result():.6g})"


class MeanMetricWrapper(Mean):
    """Running mean of a per-sample metric function: ``update_state(y_true, y_pred)``."""

    def __init__(self, fn, name=None, **fn_kwargs):
        self.fn, self.fn_kwargs = fn, fn_kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


_FUNCTIONS = {
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "huber": huber, "huber_loss": huber,
}
_CLASSES = {"MeanSquaredError": MeanSquaredError, "MeanAbsoluteError": MeanAbsoluteError}


def get(identifier):
    """A per-sample metric function from a Keras name or a callable; class names give a tracker."""
    if isinstance(identifier, Mean):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return Accuracy(name=identifier)      # Keras 3 picks its kind from the data's shapes
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"Unknown metric: {identifier!r}. Valid names are: "
                         f"{', '.join(sorted({**_FUNCTIONS, **_CLASSES}))}")
    if isinstance(identifier, type) and issubclass(identifier, Mean):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def tracker(identifier):
    """A :class:`MeanMetricWrapper` named as Keras names the log entry (the string given)."""
    metric = get(identifier)
    if isinstance(metric, Mean):
        return metric
    name = identifier if isinstance(identifier, str) else getattr(metric, "__name__", "metric")
    return MeanMetricWrapper(metric, name)


# -- classification metrics -------------------------------------------------------------------------
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Binary cross-entropy per sample (mean over the last axis)."""
    return losses.BinaryCrossentropy(from_logits, label_smoothing).per_sample(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Categorical cross-entropy per sample (summed over the class axis)."""
    return losses.CategoricalCrossentropy(from_logits, label_smoothing).per_sample(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Sparse categorical cross-entropy per sample."""
    return losses.SparseCategoricalCrossentropy(from_logits).per_sample(y_true, y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where (y_pred > threshold) equals y_true, else 0.0 (Keras's rank rule for shapes)."""
    y_true, y_pred = losses.align_shapes(y_true, y_pred, "binary_accuracy")
    return (y_true == (y_pred > threshold)).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot targets), else 0.0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_accuracy: y_true must be one-hot with the shape of y_pred "
                         f"{y_pred.shape}, received {y_true.shape}")
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, else 0.0."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_accuracy: y_true must hold one class id per prediction, "
                         f"expected shape {y_pred.shape[:-1]}, received {y_true.shape}")
    return (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


def accuracy_kind(y_true_shape, y_pred_shape):
    """Keras 3's choice for ``metrics=["accuracy"]`` (compile_utils.is_binary_or_sparse_categorical):
    "binary" if y_pred's last axis has size 1, else "sparse" if y_true has a lower rank or a
    last axis of 1, else "categorical".  (1-D y_pred, which Keras never sees, counts as binary.)"""
    if len(y_pred_shape) <= 1 or y_pred_shape[-1] == 1:
        return "binary"
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
        return "sparse"
    return "categorical"


_ACCURACY_FUNCTIONS = {"binary": binary_accuracy, "sparse": sparse_categorical_accuracy,
                       "categorical": categorical_accuracy}


class Accuracy(MeanMetricWrapper):
    """``metrics=["accuracy"]`` (or "acc"): binary, sparse categorical or categorical accuracy,
    chosen like Keras 3 from the shapes of the first (y_true, y_pred) it sees, then kept
    (``reset_state`` clears the running mean, not the choice).  ``kind`` forces a choice."""

    def __init__(self, name="accuracy", kind=None):
        if kind is not None and kind not in _ACCURACY_FUNCTIONS:
            raise ValueError(f"Accuracy kind must be one of {sorted(_ACCURACY_FUNCTIONS)} or None, "
                             f"received {kind!r}")
        self.kind = kind
        super().__init__(None if kind is None else _ACCURACY_FUNCTIONS[kind], name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.fn is None:
            self.kind = accuracy_kind(np.shape(y_true), np.shape(y_pred))
            self.fn = _ACCURACY_FUNCTIONS[self.kind]
        super().update_state(y_true, y_pred, sample_weight)


_FUNCTIONS.update({
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
})
_CLASSES.update({"Accuracy": Accuracy, "BinaryAccuracy": BinaryAccuracy,
                 "CategoricalAccuracy": CategoricalAccuracy, "SparseCategoricalAccuracy": SparseCategoricalAccuracy})

for _function in set(_FUNCTIONS.values()):
    registry.register(_function, _function.__name__, "minirnn.metrics")
for _cls in _CLASSES.values():
    registry.register(_cls, _cls.__name__, "minirnn.metrics")
