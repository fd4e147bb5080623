"""Activation functions, each with its derivative written from its *output*.

Backpropagation only keeps activated values, so every derivative is a
function of y = f(a):

    linear        y = a                          dy/da = 1
    tanh          y = tanh(a)                    dy/da = 1 - y^2
    sigmoid       y = 1 / (1 + exp(-a))          dy/da = y (1 - y)
    relu          y = max(a, 0)                  dy/da = [y > 0]
    hard_sigmoid  y = clip(a / 6 + 1/2, 0, 1)    dy/da = [0 < y < 1] / 6

Functions are referred to by a small integer code so the compiled time loops
can take them as plain arguments.
"""
import numpy as np

from .backend import kernel

LINEAR, TANH, SIGMOID, RELU, HARD_SIGMOID = 0, 1, 2, 3, 4
CODES = {"linear": LINEAR, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU,
         "hard_sigmoid": HARD_SIGMOID}


@kernel
def activate(a, code):
    """y = f(a) for the activation with this code (same dtype and shape as a)."""
    x = a.ravel()
    y = np.empty_like(x)  # assigning into y keeps a's dtype under Numba's casting rules
    if code == TANH:
        y[:] = np.tanh(x)
    elif code == SIGMOID:
        y[:] = 1 / (1 + np.exp(-x))
    elif code == RELU:
        y[:] = np.maximum(x, 0)
    elif code == HARD_SIGMOID:
        y[:] = np.minimum(np.maximum(x / 6 + 0.5, 0), 1)
    else:
        y[:] = x
    return y.reshape(a.shape)


@kernel
def derivative(y, code):
    """f'(a) computed from y = f(a)."""
    v = y.ravel()
    d = np.empty_like(v)
    if code == TANH:
        d[:] = 1 - v * v
    elif code == SIGMOID:
        d[:] = v * (1 - v)
    elif code == RELU:
        d[:] = v > 0
    elif code == HARD_SIGMOID:
        d[:] = ((v > 0) & (v < 1)) / 6
    else:
        d[:] = 1
    return d.reshape(y.shape)


def get(identifier):
    """The code of an activation given by name, code or ``None`` (linear)."""
    if identifier is None:
        return LINEAR
    if isinstance(identifier, (int, np.integer)) and identifier in CODES.values():
        return int(identifier)
    name = getattr(identifier, "__name__", identifier)
    if isinstance(name, str) and name.lower() in CODES:
        return CODES[name.lower()]
    raise ValueError(f"Unknown activation {identifier!r}; expected one of {sorted(CODES)} or None")


def name(code):
    """The Keras name of an activation code."""
    return {v: k for k, v in CODES.items()}[code]
