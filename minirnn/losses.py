"""Regression losses with their gradients, reduced like Keras ("sum_over_batch_size").

For elementwise values ℓ(e), e = y_pred - y_true, of shape (B, ..., D):

    per_sample = mean over the last axis      -> shape (B, ...)
    loss       = mean of per_sample           = mean of all ℓ
    dL/dy_pred = ℓ'(e) / N                    (N = number of elements)

Shapes follow Keras 3: when the ranks differ by one and the longer one ends in
a size-1 axis, the shorter is expanded (if rank 1) or the longer squeezed.
Everything is computed in y_pred's float dtype.
"""
import numpy as np

from .utils import float_dtype


def align_shapes(y_true, y_pred, name="loss"):
    """(y_true, y_pred) as same-shape arrays in y_pred's float dtype (Keras's rank rule)."""
    dtype = float_dtype(y_pred)
    y_true = np.asarray(y_true, dtype=dtype)
    y_pred = np.asarray(y_pred, dtype=dtype)
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        else:
            y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        else:
            y_pred = y_pred[..., 0]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true and y_pred shapes are incompatible: expected y_true "
                         f"of shape {y_pred.shape} (the shape of y_pred), received {y_true.shape}")
    return y_true, y_pred


class Loss:
    """Base class.  Subclasses define the elementwise ``_values`` and ``_derivative``.

    ``loss(y_true, y_pred)`` -> float, ``loss.gradient(y_true, y_pred)`` -> dL/dy_pred,
    ``loss.per_sample(y_true, y_pred)`` -> mean over the last axis.
    """

    name = "loss"

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def _derivative(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred):
        y_true, y_pred = align_shapes(y_true, y_pred, self.name)
        return float(np.mean(self._values(y_true, y_pred)))

    def per_sample(self, y_true, y_pred):
        """Values averaged over the last axis; 1-D inputs count each element as a sample."""
        y_true, y_pred = align_shapes(y_true, y_pred, self.name)
        values = self._values(y_true, y_pred)
        return values if values.ndim <= 1 else values.mean(axis=-1)

    def value_and_gradient(self, y_true, y_pred):
        """(loss, dL/dy_pred) in one pass; the gradient has y_pred's shape."""
        pred_shape = np.shape(y_pred)
        y_true, y_pred = align_shapes(y_true, y_pred, self.name)
        loss = float(np.mean(self._values(y_true, y_pred)))
        grad = self._derivative(y_true, y_pred) / y_pred.dtype.type(max(y_pred.size, 1))
        return loss, grad.astype(y_pred.dtype, copy=False).reshape(pred_shape)

    def gradient(self, y_true, y_pred):
        """dL/dy_pred, same shape and dtype as y_pred."""
        return self.value_and_gradient(y_true, y_pred)[1]

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """ℓ = e², ℓ' = 2e."""

    def __init__(self, name="mean_squared_error"):
        self.name = name

    def _values(self, y_true, y_pred):
        return np.square(y_pred - y_true)

    def _derivative(self, y_true, y_pred):
        return 2 * (y_pred - y_true)


class MeanAbsoluteError(Loss):
    """ℓ = |e|, ℓ' = sign(e) (0 at e = 0, as TensorFlow)."""

    def __init__(self, name="mean_absolute_error"):
        self.name = name

    def _values(self, y_true, y_pred):
        return np.abs(y_pred - y_true)

    def _derivative(self, y_true, y_pred):
        return np.sign(y_pred - y_true)


class Huber(Loss):
    """ℓ = e²/2 if |e| <= delta else delta |e| - delta²/2;  ℓ' = clip(e, -delta, delta)."""

    def __init__(self, delta=1.0, name="huber_loss"):
        if delta < 0:
            raise ValueError(f"Huber delta must be non-negative, received delta={delta!r}")
        self.delta, self.name = float(delta), name

    def _values(self, y_true, y_pred):
        e = y_pred - y_true
        abs_e = np.abs(e)
        delta = e.dtype.type(self.delta)
        half = e.dtype.type(0.5)
        return np.where(abs_e <= delta, half * e * e, delta * abs_e - half * delta * delta)

    def _derivative(self, y_true, y_pred):
        delta = y_pred.dtype.type(self.delta)
        return np.clip(y_pred - y_true, -delta, delta)

    def get_config(self):
        return {"delta": self.delta, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, Huber)}
_ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_BY_NAME = {**_CLASSES, **_ALIASES}


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    return _lookup(config["class_name"]).from_config(dict(config.get("config") or {}))


def _lookup(name):
    cls = _BY_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown loss: {name!r}. Valid names are: {', '.join(sorted(_BY_NAME))}")
    return cls


def get(identifier):
    """A :class:`Loss` from an instance, a class, a Keras name or a serialized dict."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        raise ValueError(f"Loss {identifier!r} is a plain callable; training needs its gradient, "
                         "so subclass minirnn.losses.Loss and define _values and _derivative")
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}. Valid names are: "
                     f"{', '.join(sorted(_BY_NAME))}")
