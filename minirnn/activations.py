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

In float32, tanh is a rational function (:func:`tanh_rational`, within 6 ulps of
tanh) and sigmoid(a) = tanh(a/2)/2 + 1/2, in NumPy and in the compiled loops alike:
libm's tanh and exp do not vectorise, and one formula gives both backends the same
bits.  float64 stays exact.  The constants are np.float32 so float32 arithmetic stays
float32 (a Python float would turn it into float64 in Numba) and are exact in float32.

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


ZERO, HALF, ONE, SIX, NINE = (np.float32(v) for v in (0, 0.5, 1, 6, 9))
# Eigen's float32 tanh: odd degree-13 over even degree-6 polynomial, within 6 float32 ulps of tanh.
P1, P3, P5, P7, P9, P11, P13 = (np.float32(v) for v in (
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
Q0, Q2, Q4, Q6 = (np.float32(v) for v in (
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))


@kernel(bitwise=True)
def tanh_rational(x):
    """tanh(x) in float32 as a rational function of a whole array (|x| >= 9 gives +-1 in
    float32; NaN stays NaN).  In place on new arrays, the same operations in the same order
    as :func:`tanh_rational_element`."""
    x = np.minimum(np.maximum(x, -NINE), NINE)
    x2 = x * x
    p = x2 * P13
    for c in (P11, P9, P7, P5, P3):
        p += c
        p *= x2
    p += P1
    p *= x
    q = x2 * Q6
    for c in (Q4, Q2):
        q += c
        q *= x2
    q += Q0
    p /= q
    return p


@tanh_rational.fused
def tanh_rational_element(x):
    """tanh_rational for one number (or an array) in Numba, Horner's rule written out."""
    x = np.minimum(np.maximum(x, -NINE), NINE)
    x2 = x * x
    p = x * (P1 + x2 * (P3 + x2 * (P5 + x2 * (P7 + x2 * (P9 + x2 * (P11 + x2 * P13))))))
    q = Q0 + x2 * (Q2 + x2 * (Q4 + x2 * Q6))
    return p / q


@kernel(bitwise=True)
def activate(a, code):
    """y = f(a) for the activation with this code (a new array, same dtype and shape as a)."""
    exact = a.itemsize == 8
    if code == TANH:
        return np.tanh(a) if exact else tanh_rational(a)
    if code == SIGMOID:
        if exact:
            return ONE / (ONE + np.exp(-a))
        y = tanh_rational(HALF * a)
        y *= HALF
        y += HALF
        return y
    if code == RELU:
        return np.maximum(a, ZERO)
    if code == HARD_SIGMOID:
        return np.minimum(np.maximum(a / SIX + HALF, ZERO), ONE)
    return a.copy()


@activate.fused
def activate_compiled(a, code):
    """activate for Numba: the same formulas, written into one new array of a's dtype."""
    x = a.ravel()
    y = np.empty_like(x)  # assigning into y keeps a's dtype under Numba's casting rules
    exact = a.itemsize == 8
    if code == TANH:
        y[:] = np.tanh(x) if exact else tanh_rational(x)
    elif code == SIGMOID:
        y[:] = ONE / (ONE + np.exp(-x)) if exact else HALF * tanh_rational(HALF * x) + HALF
    elif code == RELU:
        y[:] = np.maximum(x, ZERO)
    elif code == HARD_SIGMOID:
        y[:] = np.minimum(np.maximum(x / SIX + HALF, ZERO), ONE)
    else:
        y[:] = x
    return y.reshape(a.shape)


@kernel(bitwise=True)
def derivative(y, code):
    """f'(a) computed from y = f(a)."""
    v = y.ravel()
    d = np.empty_like(v)
    if code == TANH:
        d[:] = ONE - v * v
    elif code == SIGMOID:
        d[:] = v * (ONE - v)
    elif code == RELU:
        d[:] = v > ZERO
    elif code == HARD_SIGMOID:
        d[:] = (v > ZERO) & (v < ONE)
        d /= SIX                          # 1/6 rounded in v's type
    else:
        d[:] = ONE
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
