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

from . import registry
from .utils import Configurable, Registry, float_dtype


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


def _step_mask(mask, y_pred, name):
    """The output mask as bools, one per prediction vector: shape y_pred.shape[:-1]."""
    mask = np.asarray(mask, bool)
    if mask.shape != np.shape(y_pred)[:-1]:
        raise ValueError(f"{name}: the output mask must have shape {np.shape(y_pred)[:-1]} for predictions "
                         f"of shape {np.shape(y_pred)}, received {mask.shape}")
    return mask


class Loss(Configurable):
    """Base class.  Subclasses define the elementwise ``_values`` and ``_derivative``.

    ``loss(y_true, y_pred)`` -> float, ``loss.gradient(y_true, y_pred)`` -> dL/dy_pred,
    ``loss.per_sample(y_true, y_pred)`` -> mean over the last axis.
    """

    name = "loss"

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def _derivative(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, mask=None):
        return self.value_and_gradient(y_true, y_pred, mask, with_grad=False)[0]

    def per_sample(self, y_true, y_pred):
        """Values averaged over the last axis; 1-D inputs count each element as a sample."""
        y_true, y_pred = align_shapes(y_true, y_pred, self.name)
        values = self._values(y_true, y_pred)
        return values if values.ndim <= 1 else values.mean(axis=-1)

    def value_and_gradient(self, y_true, y_pred, mask=None, with_grad=True):
        """(loss, dL/dy_pred) in one pass; the gradient has y_pred's shape.

        ``mask`` (y_pred.shape[:-1], e.g. (batch, time) for a masked sequence output)
        leaves padded steps out, as Keras does: L = sum(mask * values) / sum(mask)."""
        pred_shape = np.shape(y_pred)
        y_true, y_pred = align_shapes(y_true, y_pred, self.name)
        values = self._values(y_true, y_pred)
        if mask is None:      # one weight for all: a float64 scalar gives the products of an array of it
            weight = np.float64(1.0 / max(values.size, 1))
        else:
            keep = np.broadcast_to(_step_mask(mask, y_pred, self.name)[..., None], values.shape)
            weight = keep / max(int(keep.sum()), 1)
        loss = float(np.sum(values * weight))
        if not with_grad:
            return loss, None
        grad = self._derivative(y_true, y_pred) * np.asarray(weight).astype(y_pred.dtype)
        return loss, grad.astype(y_pred.dtype, copy=False).reshape(pred_shape)

    def gradient(self, y_true, y_pred):
        """dL/dy_pred, same shape and dtype as y_pred."""
        return self.value_and_gradient(y_true, y_pred)[1]

    def get_config(self):
        return {"name": self.name}


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


def _reject_plain_callable(function):
    """The function form of a loss minirnn has as a class (``keras.losses.mean_squared_error``,
    marked ``loss_class`` in minirnn.metrics) is that class; any other callable is refused."""
    name = getattr(function, "loss_class", None)
    if name in _CLASSES:
        return _CLASSES[name]()
    raise ValueError(f"Loss {function!r} is a plain callable; training needs its gradient, "
                     "so subclass minirnn.losses.Loss and define _values and _derivative")


_REGISTRY = Registry("loss", Loss, _BY_NAME, on_callable=_reject_plain_callable)
serialize, deserialize, get = _REGISTRY.serialize, _REGISTRY.deserialize, _REGISTRY.get


# -- probabilistic losses --------------------------------------------------------------------------
EPSILON = 1e-7      # keras.config.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON]


def _clip_bounds(dtype):
    return dtype.type(EPSILON), dtype.type(1.0 - EPSILON)


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _log_softmax(z):
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


class BinaryCrossentropy(Loss):
    """Keras's binary cross-entropy, element-wise then averaged (like the regression losses).

    t = y_true (1 - label_smoothing) + label_smoothing / 2.
    Probabilities: p = clip(y_pred, eps, 1 - eps), ℓ = -(t log p + (1 - t) log(1 - p)),
    ℓ' = (p - t) / (p (1 - p)) where y_pred is inside the clip range, 0 outside (clip's gradient).
    Logits z (from_logits=True): ℓ = max(z, 0) - z t + log(1 + exp(-|z|)),  ℓ' = sigmoid(z) - t.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"{name}: label_smoothing must be in [0, 1], received {label_smoothing!r}")
        self.from_logits, self.label_smoothing, self.name = bool(from_logits), float(label_smoothing), name

    def _targets(self, y_true):
        if not self.label_smoothing:
            return y_true
        ls = y_true.dtype.type(self.label_smoothing)
        return y_true * (1 - ls) + y_true.dtype.type(0.5) * ls

    def _values(self, y_true, y_pred):
        t = self._targets(y_true)
        if self.from_logits:
            z = y_pred
            return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        lo, hi = _clip_bounds(y_pred.dtype)
        p = np.clip(y_pred, lo, hi)
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    def _derivative(self, y_true, y_pred):
        t = self._targets(y_true)
        if self.from_logits:
            return _sigmoid(y_pred) - t
        lo, hi = _clip_bounds(y_pred.dtype)
        p = np.clip(y_pred, lo, hi)
        inside = (y_pred >= lo) & (y_pred <= hi)
        return np.where(inside, (1 - t) / (1 - p) - t / p, 0)

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "name": self.name}


class _ClassAxisLoss(Loss):
    """Losses that reduce the class (last) axis themselves: one value per sample (and step),
    averaged over the valid ones (all of them unless ``ignore_class`` excludes some)."""

    def _prepare(self, y_true, y_pred):
        raise NotImplementedError

    def _forward(self, y_true, y_pred, with_grad):
        """(values, dvalues/dy_pred or None, valid mask or None)."""
        raise NotImplementedError

    def _reduce(self, values, valid):
        count = values.size if valid is None else int(valid.sum())
        return float(values.sum(dtype=values.dtype) / values.dtype.type(count)) if count else 0.0, count

    def __call__(self, y_true, y_pred, mask=None):
        return self.value_and_gradient(y_true, y_pred, mask, with_grad=False)[0]

    def per_sample(self, y_true, y_pred):
        """One value per sample (and step): the loss with the class axis summed over."""
        return self._forward(*self._prepare(y_true, y_pred), False)[0]

    def value_and_gradient(self, y_true, y_pred, mask=None, with_grad=True):
        pred_shape = np.shape(y_pred)
        y_true, y_pred = self._prepare(y_true, y_pred)
        values, grad, valid = self._forward(y_true, y_pred, with_grad)
        if mask is not None:                   # padded steps count like ignored classes
            keep = _step_mask(mask, y_pred, self.name)
            valid = keep if valid is None else valid & keep
            values = np.where(valid, values, 0)
            if grad is not None:
                grad = np.where(valid[..., None], grad, 0)
        loss, count = self._reduce(values, valid)
        if not with_grad:
            return loss, None
        grad = grad / y_pred.dtype.type(max(count, 1))
        return loss, grad.astype(y_pred.dtype, copy=False).reshape(pred_shape)


class CategoricalCrossentropy(_ClassAxisLoss):
    """Keras's categorical cross-entropy for one-hot (or soft) targets over the last axis.

    t = y_true (1 - label_smoothing) + label_smoothing / C.
    Probabilities (Keras renormalises first): q = p / sum(p), c = clip(q, eps, 1 - eps),
    ℓ = -Σ t log c;  g = -t / c inside the clip range (0 outside),  dℓ/dp = (g - Σ g q) / sum(p).
    Logits z: ℓ = -Σ t log_softmax(z),  dℓ/dz = softmax(z) Σt - t.
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy"):
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"{name}: label_smoothing must be in [0, 1], received {label_smoothing!r}")
        self.from_logits, self.label_smoothing, self.name = bool(from_logits), float(label_smoothing), name

    def _prepare(self, y_true, y_pred):
        y_true, y_pred = align_shapes(y_true, y_pred, self.name)
        if y_pred.ndim < 1:
            raise ValueError(f"{self.name}: y_pred must have a class axis, received a scalar")
        if self.label_smoothing:
            ls = y_pred.dtype.type(self.label_smoothing)
            y_true = y_true * (1 - ls) + ls / y_pred.dtype.type(y_pred.shape[-1])
        return y_true, y_pred

    def _forward(self, t, y_pred, with_grad):
        if self.from_logits:
            log_p = _log_softmax(y_pred)
            values = -np.sum(t * log_p, axis=-1)
            grad = np.exp(log_p) * np.sum(t, axis=-1, keepdims=True) - t if with_grad else None
            return values, grad, None
        total = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / total
        lo, hi = _clip_bounds(y_pred.dtype)
        c = np.clip(q, lo, hi)
        values = -np.sum(t * np.log(c), axis=-1)
        if not with_grad:
            return values, None, None
        g = np.where((q >= lo) & (q <= hi), -t / c, 0)
        return values, (g - np.sum(g * q, axis=-1, keepdims=True)) / total, None

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "name": self.name}


class SparseCategoricalCrossentropy(_ClassAxisLoss):
    """Keras's cross-entropy for integer class ids: y_true (B,), (B, 1), (B, T) or (B, T, 1)
    against y_pred (B, C) or (B, T, C).

    Probabilities: c = clip(p, eps, 1 - eps), ℓ = -log(c_y / Σ c) (Keras takes log_softmax of
    log c), dℓ/dp_j = (1 / Σc - [j = y] / c_y) inside the clip range, 0 outside.
    Logits z: ℓ = -log_softmax(z)_y,  dℓ/dz = softmax(z) - onehot(y).
    ``ignore_class``: positions whose label equals it give no loss and no gradient, and the
    mean is taken over the other positions (Keras's masked "sum_over_batch_size").
    """

    def __init__(self, from_logits=False, ignore_class=None, name="sparse_categorical_crossentropy"):
        self.from_logits, self.name = bool(from_logits), name
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _prepare(self, y_true, y_pred):
        dtype = np.dtype(float_dtype(y_pred))
        y_pred = np.asarray(y_pred, dtype)
        labels = np.asarray(y_true)
        if labels.dtype.kind not in "biuf":
            raise ValueError(f"{self.name}: y_true must hold integer class ids, received dtype {labels.dtype}")
        if y_pred.ndim < 1:
            raise ValueError(f"{self.name}: y_pred must have a class axis, received a scalar")
        # Keras: squeeze_or_expand_to_same_rank, then a trailing size-1 label axis is dropped.
        if y_pred.ndim == labels.ndim + 1 and y_pred.shape[-1] == 1 and labels.ndim == 1:
            labels = labels[:, None]
        if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
            labels = labels[..., 0]
        if labels.shape != y_pred.shape[:-1]:
            raise ValueError(f"{self.name}: y_true must hold one class id per prediction, expected shape "
                             f"{y_pred.shape[:-1]} (or with a trailing 1) for y_pred of shape {y_pred.shape}, "
                             f"received {np.shape(y_true)}")
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise ValueError(f"{self.name}: y_true must hold integer class ids, received non-integer values")
        labels = labels.astype(np.int64)
        classes = y_pred.shape[-1]
        checked = labels if self.ignore_class is None else labels[labels != self.ignore_class]
        if checked.size and (checked.min() < 0 or checked.max() >= classes):
            raise ValueError(f"{self.name}: class ids must be in [0, {classes}) for y_pred with {classes} "
                             f"classes, received ids from {checked.min()} to {checked.max()}")
        return labels, y_pred

    def _forward(self, labels, y_pred, with_grad):
        valid = None
        if self.ignore_class is not None:
            valid = labels != self.ignore_class
            labels = np.where(valid, labels, 0)
        picked = labels[..., None]
        if self.from_logits:
            log_p = _log_softmax(y_pred)
            values = -np.take_along_axis(log_p, picked, axis=-1)[..., 0]
            grad = None
            if with_grad:
                grad = np.exp(log_p)
                np.put_along_axis(grad, picked, np.take_along_axis(grad, picked, axis=-1) - 1, axis=-1)
        else:
            lo, hi = _clip_bounds(y_pred.dtype)
            c = np.clip(y_pred, lo, hi)
            total = np.sum(c, axis=-1, keepdims=True)
            c_y = np.take_along_axis(c, picked, axis=-1)
            values = (np.log(total) - np.log(c_y))[..., 0]
            grad = None
            if with_grad:
                grad = np.broadcast_to(1 / total, y_pred.shape).copy()
                np.put_along_axis(grad, picked, 1 / total - 1 / c_y, axis=-1)
                grad = np.where((y_pred >= lo) & (y_pred <= hi), grad, 0)
        if valid is not None:
            values = np.where(valid, values, 0)
            if grad is not None:
                grad = np.where(valid[..., None], grad, 0)
        return values, grad, valid

    def get_config(self):
        return {"from_logits": self.from_logits, "ignore_class": self.ignore_class, "name": self.name}


_PROBABILISTIC = (BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
_CLASSES.update({cls.__name__: cls for cls in _PROBABILISTIC})
_ALIASES.update({
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
})
_BY_NAME.update({**_CLASSES, **_ALIASES})

for _cls in _CLASSES.values():
    registry.register(_cls, _cls.__name__, "minirnn.losses")
