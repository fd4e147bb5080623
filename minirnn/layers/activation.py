r"""Activation layers: Activation, ReLU, LeakyReLU, ELU, Softmax.

Each is y = f(x) element by element (Softmax: over ``axis``), with its derivative
written beside it as a function of x and y.  Backward is dx = dy * f'(x), except:

    softmax      y_i = exp(x_i) / sum_j exp(x_j)        dx = y * (dy - sum(dy * y))
    log_softmax  y_i = x_i - log sum_j exp(x_j)         dx = dy - exp(y) * sum(dy)

At kinks the derivative is TensorFlow's (relu'(0) = 0).  Every one passes a mask on
unchanged; Softmax also takes one (``mask=``, broadcast against the input from the
right, as Keras): masked positions get probability 0 and no gradient.

ReLU(max_value, negative_slope, threshold), as keras.activations.relu:

    y  = clip(x [x > threshold], 0, max_value) - negative_slope * max(threshold - x, 0)
    y' = [x > threshold] [x < max_value] + negative_slope [x < threshold]
"""
import numpy as np
from scipy.special import erf

from .base import Layer


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5          # no overflow for large |x|


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

#: name -> (f(x), f'(x) from x and y = f(x)): the element-wise functions ``Activation`` runs.
ELEMENTWISE = {
    "linear": (lambda x: x, lambda x, y: np.ones_like(x)),
    "relu": (lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(x.dtype)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x, y: ((x > 0) & (x < 6)).astype(x.dtype)),
    "tanh": (np.tanh, lambda x, y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda x, y: y * (1 - y)),
    "hard_sigmoid": (lambda x: np.clip(x / 6 + 0.5, 0, 1), lambda x, y: ((x > -3) & (x < 3)) / x.dtype.type(6)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), lambda x, y: np.where(x > 0, 1, y + 1)),
    "selu": (lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
             lambda x, y: np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA)),
    "softplus": (lambda x: np.logaddexp(0, x), lambda x, y: _sigmoid(x)),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda x, y: 1 / (1 + np.abs(x)) ** 2),
    "silu": (lambda x: x * _sigmoid(x), lambda x, y: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    "gelu": (lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),                  # Keras 3: approximate=False
             lambda x, y: 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)),
    "exponential": (np.exp, lambda x, y: y),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), lambda x, y: np.where(x > 0, 1, 0.2)),
    "hard_silu": (lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x, y: np.where(x < -3, 0, np.where(x > 3, 1, (2 * x + 3) / 6))),
    "mish": (lambda x: x * np.tanh(np.logaddexp(0, x)),
             lambda x, y: np.tanh(np.logaddexp(0, x)) + x * _sigmoid(x) * (1 - np.tanh(np.logaddexp(0, x)) ** 2)),
}
ALIASES = {None: "linear", "swish": "silu", "hard_swish": "hard_silu"}
AXIS_FUNCTIONS = ("softmax", "log_softmax")


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def activation_name(identifier, layer):
    """The canonical name of an activation given by name, None or a function of that name."""
    name = getattr(identifier, "__name__", identifier)
    if isinstance(name, str):
        name = name.lower()
    name = ALIASES.get(name, name)
    if name in ELEMENTWISE or name in AXIS_FUNCTIONS:
        return name
    known = sorted(ELEMENTWISE) + list(AXIS_FUNCTIONS) + sorted(k for k in ALIASES if k)
    raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): unknown activation {identifier!r}; "
                     f"expected one of {known} or None")


class _Elementwise(Layer):
    """y = f(x) element by element; subclasses give ``f(x)`` and ``derivative(x, y)``."""

    supports_masking = True

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        y = np.asarray(self.f(x), self.dtype)
        self._cache = (x, y) if training else None
        return y

    def backward(self, dy):
        x, y = self.saved()
        dy = self.check_gradient(dy, x.shape)
        self.grads = []
        return np.asarray(dy * self.derivative(x, y), self.dtype)


class Activation(_Elementwise):
    """``Activation(activation)``: one of :data:`ELEMENTWISE` by name (or a function of that
    name, such as ``keras.activations.relu``), ``"softmax"`` or ``"log_softmax"`` (last axis)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation_name(activation, self)

    def f(self, x):
        if self.activation == "softmax":
            return _softmax(x, -1)
        if self.activation == "log_softmax":
            return _log_softmax(x, -1)
        return ELEMENTWISE[self.activation][0](x)

    def derivative(self, x, y):
        return ELEMENTWISE[self.activation][1](x, y)

    def backward(self, dy):
        if self.activation not in AXIS_FUNCTIONS:
            return super().backward(dy)
        x, y = self.saved()
        dy = self.check_gradient(dy, x.shape)
        self.grads = []
        if self.activation == "softmax":
            return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
        return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation
        return config


def _non_negative(value, argument, layer, allow_none=False):
    if value is None and allow_none:
        return None
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not number or not value >= 0:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): {argument} must be a number >= 0"
                         f"{' or None' if allow_none else ''}, received {argument}={value!r}")
    return float(value)


class ReLU(_Elementwise):
    """``ReLU(max_value=None, negative_slope=0.0, threshold=0.0)`` (see the module docstring)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", self, allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", self)
        self.threshold = _non_negative(threshold, "threshold", self)

    def f(self, x):
        y = x * (x > self.threshold)
        if self.max_value is not None:
            y = np.clip(y, 0, self.max_value)
        return y - self.negative_slope * np.maximum(self.threshold - x, 0)

    def derivative(self, x, y):
        d = (x > self.threshold).astype(x.dtype)
        if self.max_value is not None:
            d *= x < self.max_value
        return d + self.negative_slope * (x < self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return config


class LeakyReLU(_Elementwise):
    """``LeakyReLU(negative_slope=0.3)``: y = x for x > 0, negative_slope * x otherwise
    (Keras 3's default slope; ``alpha=`` is its older name)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope", self)

    def f(self, x):
        return np.where(x > 0, x, self.negative_slope * x)

    def derivative(self, x, y):
        return np.where(x > 0, 1, self.negative_slope)

    def get_config(self):
        config = super().get_config()
        config["negative_slope"] = self.negative_slope
        return config


class ELU(_Elementwise):
    """``ELU(alpha=1.0)``: y = x for x > 0, alpha (exp(x) - 1) otherwise; y' = 1 or y + alpha."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        number = isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(alpha, bool)
        if not number:
            raise ValueError(f"Layer '{self.name}' (ELU): alpha must be a number, received {alpha!r}")
        self.alpha = float(alpha)

    def f(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def derivative(self, x, y):
        return np.where(x > 0, 1, y + self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class Softmax(Layer):
    """``Softmax(axis=-1)``, called as ``layer(x, mask=None)``: probabilities over ``axis``
    (an int or a list of ints); with a mask, masked positions get 0."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"Layer '{self.name}' (Softmax): axis must be an integer or a list of integers, "
                             f"received {axis!r}")
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self.axes = tuple(int(a) for a in axes)

    def _mask(self, mask, shape):
        mask = np.asarray(mask)
        broadcastable = mask.ndim <= len(shape) and all(
            m in (1, s) for m, s in zip(mask.shape[::-1], shape[::-1]))
        if not broadcastable:
            raise ValueError(f"Layer '{self.name}' (Softmax) expects a mask broadcastable to the input "
                             f"{shape} (matched from the last axis), received {mask.shape}")
        if mask.dtype.kind not in "biuf":
            raise ValueError(f"Layer '{self.name}' (Softmax) expects a numeric or boolean mask, "
                             f"received dtype {mask.dtype}")
        return mask if mask.dtype == bool else mask > 0.5

    def __call__(self, inputs, training=False, mask=None):
        x = self.check_input(inputs)
        if not all(-x.ndim <= a < x.ndim for a in self.axes):
            raise ValueError(f"Layer '{self.name}' (Softmax): axis={self.axis!r} is out of bounds for input "
                             f"of shape {x.shape}")
        self.ensure_built(x.shape)
        return self.call(x, training=training, mask=mask)

    def call(self, x, training=False, mask=None):
        if mask is not None:
            mask = self._mask(mask, x.shape)
            x = np.where(mask, x, x.dtype.type(-1e9))          # Keras's large negative number
        y = _softmax(x, self.axes)
        if mask is not None:
            y = np.where(mask, y, 0).astype(self.dtype)
        self._cache = y if training else None
        return y

    def backward(self, dy):
        y = self.saved()
        dy = self.check_gradient(dy, y.shape)
        self.grads = []
        return y * (dy - np.sum(dy * y, axis=self.axes, keepdims=True))     # y = 0 where masked

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
