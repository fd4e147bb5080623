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

softmax (over the last axis) is not element-wise: its Jacobian is
dy_i/da_j = y_i (δ_ij - y_j), so da = y * (dy - sum(dy * y, -1)).  It has a code
(SOFTMAX) that the kernels never receive: ``get`` returns it only to layers that
ask for it (``allow_softmax=True``), which go through :func:`apply` and
:func:`backprop` instead of the kernels.

f is :func:`activate`, f' is :func:`derivative` (both kernels, whole arrays).
:func:`apply` and :func:`backprop` are the same two for layers whose activation may
be softmax.  The fused loops' element-wise forms of f and f' live in
:mod:`minirnn.kernels.activations`.
"""
import numpy as np

from . import registry
from .backend import kernel

LINEAR, TANH, SIGMOID, RELU, HARD_SIGMOID = 0, 1, 2, 3, 4
CODES = {"linear": LINEAR, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU,
         "hard_sigmoid": HARD_SIGMOID}
SOFTMAX = 5              # not element-wise: never passed to a kernel (see apply / backprop)
SPECIAL = {"softmax": SOFTMAX}


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


def get(identifier, allow_softmax=False):
    """The code of an activation given by name, code or ``None`` (linear).

    ``softmax`` is accepted only with ``allow_softmax=True`` (layers that back-propagate
    through its Jacobian themselves: Dense, Conv1D); elsewhere it raises a clear error."""
    if identifier is None:
        return LINEAR
    name = getattr(identifier, "__name__", identifier)
    if (isinstance(identifier, (int, np.integer)) and identifier == SOFTMAX) or (
            isinstance(name, str) and name.lower() in SPECIAL):
        if not allow_softmax:
            raise ValueError(f"Activation {identifier!r} is not element-wise and is not supported here; "
                             f"use one of {sorted(CODES)} or None (softmax works in Dense and Conv1D)")
        return SOFTMAX
    if isinstance(identifier, (int, np.integer)) and identifier in CODES.values():
        return int(identifier)
    if isinstance(name, str) and name.lower() in CODES:
        return CODES[name.lower()]
    valid = sorted(CODES) + (sorted(SPECIAL) if allow_softmax else [])
    raise ValueError(f"Unknown activation {identifier!r}; expected one of {valid} or None")


def name(code):
    """The Keras name of an activation code."""
    return {v: k for k, v in {**CODES, **SPECIAL}.items()}[code]


def softmax(a):
    """exp(a - max) / sum(exp(a - max)) over the last axis (same dtype as a)."""
    e = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def apply(a, code):
    """y = f(a) for any code, softmax included (element-wise codes run the kernel)."""
    if code == SOFTMAX:
        return softmax(a)
    if code == LINEAR:
        return a
    return activate(a, code)


def backprop(y, dy, code):
    """dL/da from dL/dy and y = f(a) for any code: dy * f'(a), or the softmax Jacobian product."""
    if code == SOFTMAX:
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    if code == LINEAR:
        return dy
    return dy * derivative(y, code)


registry.register(softmax, "softmax", "minirnn.activations")
