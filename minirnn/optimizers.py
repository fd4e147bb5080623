"""Gradient-descent optimizers following Keras 3's update rules.

``opt.apply_gradients(params, grads)`` updates each ndarray in ``params`` in
place.  Per-parameter state ("slots", e.g. momentum) is created at the first
update of a parameter, with its shape and dtype, and is tied to that array
object.  Arithmetic happens in each parameter's dtype, so float64 stays float64.

Gradient clipping is done before the update, as in Keras (at most one kind):

    clipvalue        g <- clip(g, -clipvalue, clipvalue)
    clipnorm         g <- g * clipnorm / max(‖g‖, clipnorm)          per tensor
    global_clipnorm  g <- g * global_clipnorm / max(‖G‖, global_clipnorm),
                     ‖G‖ = sqrt(Σ ‖g_i‖²) over all tensors
"""
import numbers

import numpy as np

from . import registry
from .backend import FLOAT_DTYPES, kernel
from .utils import Configurable, Registry


class Optimizer(Configurable):
    """Base class: subclasses name their slots in ``_slot_names`` and define ``_update``."""

    _slot_names = ()

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None):
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set, "
                             f"received clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        for arg, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
            if value is not None and not value > 0:
                raise ValueError(f"{arg} must be positive, received {arg}={value!r}")
        self.learning_rate = learning_rate
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots = {}  # id(param) -> (param, {slot name: array})

    @property
    def learning_rate(self):
        """Current learning rate (a float); a callable schedule is evaluated at ``iterations``."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if not callable(value):
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                value = np.asarray(value)
                if value.shape != () or not np.issubdtype(value.dtype, np.number):
                    raise ValueError(f"learning_rate must be a number, received {value!r}")
            value = float(value)
            if not value >= 0:
                raise ValueError(f"learning_rate must be non-negative, received {value!r}")
        self._learning_rate = value

    def apply_gradients(self, params, grads):
        """Update every ndarray of ``params`` in place with its gradient (None = skip)."""
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{len(params)} params but {len(grads)} gradients were given")
        pairs = [(p, g) for p, g in zip(params, grads) if g is not None]
        for p, g in pairs:
            if np.shape(g) != p.shape:
                raise ValueError(f"gradient of shape {np.shape(g)} does not match its parameter "
                                 f"of shape {p.shape}")
        grads = self._clip([np.asarray(g, dtype=p.dtype) for p, g in pairs])
        lr = self.learning_rate
        for (p, _), g in zip(pairs, grads):
            self._update(p, g, p.dtype.type(lr), self._slots_for(p))
        self.iterations += 1

    def _slots_for(self, param):
        entry = self._slots.get(id(param))
        # The stored reference guards against a new array reusing a freed array's id.
        if entry is None or entry[0] is not param:
            entry = (param, {name: np.zeros_like(param) for name in self._slot_names})
            self._slots[id(param)] = entry
        return entry[1]

    def _clip(self, grads):
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue).astype(g.dtype, copy=False)
                    for g in grads]
        if self.clipnorm is not None:
            return [self._scale_to_norm(g, np.sqrt(np.sum(np.square(g))), self.clipnorm)
                    for g in grads]
        if self.global_clipnorm is not None:
            norm = np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
            return [self._scale_to_norm(g, norm, self.global_clipnorm) for g in grads]
        return grads

    @staticmethod
    def _scale_to_norm(g, norm, clip):
        return (g * g.dtype.type(clip / max(float(norm), clip))).astype(g.dtype, copy=False)

    def _update(self, param, grad, lr, slots):
        raise NotImplementedError

    def variables(self):
        """Every slot array, for inspection or saving."""
        return [slot for _, slots in self._slots.values() for slot in slots.values()]

    def get_config(self):
        lr = self._learning_rate
        return {"name": self.name, "learning_rate": None if callable(lr) else lr,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.learning_rate!r})"


@kernel(bitwise=True)
def momentum_step(param, grad, m, lr, momentum, nesterov):
    """SGD's update with momentum, in place: m <- momentum m - lr g, then p <- p + m, or with
    Nesterov p <- p + momentum m - lr g.  (Compiled, kernels/optimizers.py: one pass over the
    numbers instead of four, for the many small weights of the course's models.)"""
    m *= momentum
    m -= lr * grad
    if nesterov:
        param += momentum * m - lr * grad
    else:
        param += m


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    momentum = 0:  p <- p - lr g
    otherwise:     m <- momentum m - lr g       (m starts at 0)
                   p <- p + m                    or, Nesterov,  p <- p + momentum m - lr g
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], received momentum={momentum!r}")
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum else ()

    def _update(self, param, grad, lr, slots):
        if not self.momentum:
            param -= lr * grad
            return
        momentum, m = param.dtype.type(self.momentum), slots["momentum"]
        # Compiled on flat views, updated in place (a reshape of another layout would copy),
        # in the float types the kernels compile.
        if param.flags.c_contiguous and param.dtype in FLOAT_DTYPES:
            grad = np.ascontiguousarray(grad)
            momentum_step(param.reshape(-1), grad.reshape(-1), m.reshape(-1), lr, momentum, self.nesterov)
        else:
            momentum_step.py(param, grad, m, lr, momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with the bias correction folded into the step size (t = iterations + 1):

    m <- m + (1 - β1)(g - m),   v <- v + (1 - β2)(g² - v)
    p <- p - α m / (sqrt(v) + ε),   α = lr sqrt(1 - β2ᵗ) / (1 - β1ᵗ)
    """

    _slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, param, grad, lr, slots):
        t = self.iterations + 1
        cast = param.dtype.type
        alpha = lr * cast(np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
        m, v = slots["m"], slots["v"]
        m += (grad - m) * cast(1 - self.beta_1)
        v += (np.square(grad) - v) * cast(1 - self.beta_2)
        param -= (m * alpha) / (np.sqrt(v) + cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop: v <- ρ v + (1 - ρ) g²;  step = lr g / sqrt(v + ε).

    centered: also a <- ρ a + (1 - ρ) g and step = lr g / sqrt(v - a² + ε).
    With momentum: m <- momentum m + step, p <- p - m; else p <- p - step.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self._slot_names = (("velocity",) + (("momentum",) if self.momentum else ())
                            + (("average_gradient",) if self.centered else ()))

    def _update(self, param, grad, lr, slots):
        cast = param.dtype.type
        rho = cast(self.rho)
        v = slots["velocity"]
        v[...] = rho * v + cast(1 - self.rho) * np.square(grad)
        if self.centered:
            a = slots["average_gradient"]
            a[...] = rho * a + cast(1 - self.rho) * grad
            denominator = v - np.square(a) + cast(self.epsilon)
        else:
            denominator = v + cast(self.epsilon)
        step = lr * grad / np.sqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m[...] = cast(self.momentum) * m + step
            step = m
        param -= step

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


_CLASSES = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop}
_BY_NAME = {**_CLASSES, "sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


_REGISTRY = Registry("optimizer", Optimizer, _BY_NAME)
serialize, deserialize, get = _REGISTRY.serialize, _REGISTRY.deserialize, _REGISTRY.get

for _cls in _CLASSES.values():
    registry.register(_cls, _cls.__name__, "minirnn.optimizers")
