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

The fused compiled loops use the scalar forms :func:`value` and :func:`slope`.
libm's tanh and exp do not vectorise, so in float32 they use a rational tanh
(:func:`tanh_rational`) and sigmoid(a) = tanh(a/2)/2 + 1/2; float64 stays exact.
Their constants are np.float32 so float32 arithmetic stays float32 (a Python
float would turn it into float64) and are exact in float32, so float64 stays exact.
"""
import math

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


ZERO, HALF, ONE, SIX, NINE = (np.float32(v) for v in (0, 0.5, 1, 6, 9))
# Eigen's float32 tanh: odd degree-13 over even degree-6 polynomial, within 6 float32 ulps of tanh.
_P = tuple(np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                   5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                   -2.76076847742355e-16))
_Q = tuple(np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                   1.19825839466702e-06))
P1, P3, P5, P7, P9, P11, P13 = _P
Q0, Q2, Q4, Q6 = _Q


@kernel
def tanh_rational(x):
    """tanh(x) for one float32, as a rational function (vectorises; |x| >= 9 gives +-1 in float32)."""
    x = min(max(x, -NINE), NINE)
    x2 = x * x
    p = x * (P1 + x2 * (P3 + x2 * (P5 + x2 * (P7 + x2 * (P9 + x2 * (P11 + x2 * P13))))))
    q = Q0 + x2 * (Q2 + x2 * (Q4 + x2 * Q6))
    return p / q


@kernel
def value(a, code, exact):
    """y = f(a) for one element; tanh and sigmoid exact only when `exact` (float64)."""
    if code == TANH:
        return math.tanh(a) if exact else tanh_rational(a)
    if code == SIGMOID:
        return ONE / (ONE + math.exp(-a)) if exact else HALF * tanh_rational(HALF * a) + HALF
    if code == RELU:
        return max(a, ZERO)
    if code == HARD_SIGMOID:
        return min(max(a / SIX + HALF, ZERO), ONE)
    return a


@kernel
def activate_inplace(x, code, exact):
    """x[:] = f(x) for a 1-D array (compiled loops); the branches sit outside the element
    loops so each loop stays simple enough to vectorise."""
    if code == TANH and not exact:
        for k in range(x.size):
            x[k] = tanh_rational(x[k])
    elif code == SIGMOID and not exact:
        for k in range(x.size):
            x[k] = HALF * tanh_rational(HALF * x[k]) + HALF
    elif code != LINEAR:
        for k in range(x.size):
            x[k] = value(x[k], code, exact)


@kernel
def tanh_columns(codes, n, like):
    """Coefficients (3, len(codes) * n) that write each block of n columns, activated by
    codes[g], as y = c1 tanh(c0 a) + c2: tanh (1, 1, 0), sigmoid (1/2, 1/2, 1/2).  With them a
    row of mixed gates is one loop that vectorises (:func:`activate_columns`).  Empty when a
    code is neither tanh nor sigmoid or `like` is float64 (exact activations)."""
    width = len(codes) * n
    for code in codes:
        if code != TANH and code != SIGMOID:
            return np.empty((3, 0), like.dtype)
    if like.itemsize == 8:
        return np.empty((3, 0), like.dtype)
    coef = np.empty((3, width), like.dtype)
    for g in range(len(codes)):
        half = codes[g] == SIGMOID
        for j in range(g * n, (g + 1) * n):
            coef[0, j] = HALF if half else ONE
            coef[1, j] = HALF if half else ONE
            coef[2, j] = HALF if half else ZERO
    return coef


@kernel
def activate_columns(row, coef):
    """row[k] = coef[1, k] tanh(coef[0, k] row[k]) + coef[2, k] (coefficients from tanh_columns)."""
    for k in range(row.size):
        row[k] = coef[1, k] * tanh_rational(coef[0, k] * row[k]) + coef[2, k]


@kernel
def slope_polynomial(code, like):
    """((p, q, r), True) with f'(a) = p + y (q - r y) from y = f(a): linear (1, 0, 0), tanh
    (1, 0, 1), sigmoid (0, 1, 1), the same numbers as :func:`slope`; (zeros, False) for relu and
    hard_sigmoid.  Compiled loops use it to keep the activation's branches out of their inner loops."""
    poly = np.zeros(3, like.dtype)
    if code == LINEAR:
        poly[0] = 1
    elif code == TANH:
        poly[0] = 1
        poly[2] = 1
    elif code == SIGMOID:
        poly[1] = 1
        poly[2] = 1
    else:
        return poly, False
    return poly, True


@kernel
def polynomial_slope(y, poly):
    """f'(a) = p + y (q - r y) from y = f(a), with (p, q, r) = poly from slope_polynomial."""
    return poly[0] + y * (poly[1] - poly[2] * y)


@kernel
def slope(y, code):
    """f'(a) for one element, from y = f(a) (as :func:`derivative`)."""
    if code == TANH:
        return ONE - y * y
    if code == SIGMOID:
        return y * (ONE - y)
    if code == RELU:
        return ONE if y > ZERO else ZERO
    if code == HARD_SIGMOID:
        return (y - y + ONE) / SIX if ZERO < y < ONE else ZERO   # y - y + 1: a 1 of y's type
    return ONE


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
