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


# -- more per-sample functions, as keras.losses / keras.metrics define them -----------------------
EPSILON = losses.EPSILON


def _pair(y_true, y_pred, name):
    """y_pred as floats (floatx for non-floats) and y_true in its dtype, aligned as Keras aligns them."""
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    return losses.align_shapes(np.asarray(y_true, y_pred.dtype), y_pred, name)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_percentage_error")
    return 100 * np.mean(np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    return np.mean(np.square(np.log1p(np.maximum(y_pred, EPSILON)) - np.log1p(np.maximum(y_true, EPSILON))),
                   axis=-1)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true)), axis=-1), as x + softplus(-2x) - log 2 (no overflow)."""
    y_true, y_pred = _pair(y_true, y_pred, "log_cosh")
    x = y_pred - y_true
    return np.mean(x + np.logaddexp(0, -2 * x) - np.log(2).astype(x.dtype), axis=-1)


def kl_divergence(y_true, y_pred):
    """sum(y_true log(y_true / y_pred), axis=-1), both clipped to [eps, 1]."""
    y_true, y_pred = _pair(y_true, y_pred, "kl_divergence")
    y_true, y_pred = np.clip(y_true, EPSILON, 1), np.clip(y_pred, EPSILON, 1)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true log(y_pred + eps), axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "poisson")
    return np.mean(y_pred - y_true * np.log(y_pred + EPSILON), axis=-1)


def _hinge_labels(y_true):
    """Labels in {0, 1} become {-1, 1}, as Keras converts them; others stay."""
    return 2 * y_true - 1 if np.all((y_true == 0) | (y_true == 1)) else y_true


def hinge(y_true, y_pred):
    """mean(max(1 - y_true y_pred, 0), axis=-1), labels {0, 1} taken as {-1, 1}."""
    y_true, y_pred = _pair(y_true, y_pred, "hinge")
    return np.mean(np.maximum(1 - _hinge_labels(y_true) * y_pred, 0), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true y_pred, 0)^2, axis=-1), labels {0, 1} taken as {-1, 1}."""
    y_true, y_pred = _pair(y_true, y_pred, "squared_hinge")
    return np.mean(np.square(np.maximum(1 - _hinge_labels(y_true) * y_pred, 0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) y_pred) - sum(y_true y_pred) + 1, 0) per sample."""
    y_true, y_pred = _pair(y_true, y_pred, "categorical_hinge")
    return np.maximum(np.max((1 - y_true) * y_pred, axis=-1) - np.sum(y_true * y_pred, axis=-1) + 1, 0)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) l2_normalize(y_pred), axis) (the loss form: -1 is best)."""
    y_true, y_pred = _pair(y_true, y_pred, "cosine_similarity")

    def normalize(v):
        return v / np.sqrt(np.maximum(np.sum(v * v, axis=axis, keepdims=True), 1e-12))
    return -np.sum(normalize(y_true) * normalize(y_pred), axis=axis)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class (argmax of one-hot y_true) is among the k largest predictions."""
    return sparse_top_k_categorical_accuracy(np.argmax(np.asarray(y_true), axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k largest predictions (ties count as in)."""
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true).astype(np.int64)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if k >= y_pred.shape[-1]:
        return np.ones(y_true.shape, np.float32)
    score = np.take_along_axis(y_pred, y_true[..., None], axis=-1)
    return (np.sum(y_pred > score, axis=-1) < k).astype(np.float32)


_FUNCTIONS.update({
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "log_cosh": log_cosh, "logcosh": log_cosh, "kl_divergence": kl_divergence, "kld": kl_divergence,
    "poisson": poisson, "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
})
# The function forms of the losses minirnn has as classes: compile(loss=fn) takes them as that class.
for _function, _loss in ((mean_squared_error, "MeanSquaredError"), (mean_absolute_error, "MeanAbsoluteError"),
                         (huber, "Huber"), (binary_crossentropy, "BinaryCrossentropy"),
                         (categorical_crossentropy, "CategoricalCrossentropy"),
                         (sparse_categorical_crossentropy, "SparseCategoricalCrossentropy")):
    _function.loss_class = _loss

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
