"""Metrics: per-sample functions and running means over an epoch, as in Keras.

A metric function maps (y_true, y_pred) to one value per sample (mean over the
last axis).  :class:`Mean` accumulates ``total = Σ w·v`` and ``count = Σ w`` so
``result() = total / count`` is the mean over every sample seen, whatever the
batch sizes.
"""
import numpy as np

from . import losses


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
