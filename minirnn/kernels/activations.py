"""Activations for the fused loops: one element at a time, in place, by columns.

The reference loops call :func:`minirnn.activations.activate` and
:func:`~minirnn.activations.derivative` on whole arrays.  The fused loops work one
element at a time, so they need scalar forms of the same f and f':

    activate_element(a, code, exact)    f(a) for one element
    derivative_element(y, code)         f'(a) for one element, from y = f(a)
    activate_in_place(x, code, exact)   x[:] = f(x) for a 1-D array
    activate_by_columns(row, coef)      each block of columns with its own tanh/sigmoid
    derivative_polynomial(code, like)   f'(a) = p + y (q - r y): (p, q, r) for linear/tanh/sigmoid
    derivative_by_polynomial(y, poly)   that polynomial, without branches in an inner loop

libm's tanh and exp do not vectorise, so in float32 tanh is a rational function
(:func:`tanh_rational`) and sigmoid(a) = tanh(a/2)/2 + 1/2; float64 stays exact.
The constants are np.float32 so float32 arithmetic stays float32 (a Python float
would turn it into float64) and are exact in float32, so float64 stays exact.
"""
import math

import numpy as np

from ..activations import HARD_SIGMOID, LINEAR, RELU, SIGMOID, TANH
from ..backend import kernel

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
def activate_element(a, code, exact):
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
def activate_in_place(x, code, exact):
    """x[:] = f(x) for a 1-D array; the branches sit outside the element loops so each loop
    stays simple enough to vectorise."""
    if code == TANH and not exact:
        for k in range(x.size):
            x[k] = tanh_rational(x[k])
    elif code == SIGMOID and not exact:
        for k in range(x.size):
            x[k] = HALF * tanh_rational(HALF * x[k]) + HALF
    elif code != LINEAR:
        for k in range(x.size):
            x[k] = activate_element(x[k], code, exact)


@kernel
def column_coefficients(codes, n, like):
    """Coefficients (3, len(codes) * n) that write each block of n columns, activated by
    codes[g], as y = c1 tanh(c0 a) + c2: tanh (1, 1, 0), sigmoid (1/2, 1/2, 1/2).  With them a
    row of mixed gates is one loop that vectorises (:func:`activate_by_columns`).  Empty when a
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
def activate_by_columns(row, coef):
    """row[k] = coef[1, k] tanh(coef[0, k] row[k]) + coef[2, k] (coefficients from column_coefficients)."""
    for k in range(row.size):
        row[k] = coef[1, k] * tanh_rational(coef[0, k] * row[k]) + coef[2, k]


@kernel
def derivative_polynomial(code, like):
    """((p, q, r), True) with f'(a) = p + y (q - r y) from y = f(a): linear (1, 0, 0), tanh
    (1, 0, 1), sigmoid (0, 1, 1), the same numbers as :func:`derivative_element`; (zeros, False)
    for relu and hard_sigmoid.  Keeps the activation's branches out of the inner loops."""
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
def derivative_by_polynomial(y, poly):
    """f'(a) = p + y (q - r y) from y = f(a), with (p, q, r) = poly from derivative_polynomial."""
    return poly[0] + y * (poly[1] - poly[2] * y)


@kernel
def derivative_element(y, code):
    """f'(a) for one element, from y = f(a) (as :func:`minirnn.activations.derivative`)."""
    if code == TANH:
        return ONE - y * y
    if code == SIGMOID:
        return y * (ONE - y)
    if code == RELU:
        return ONE if y > ZERO else ZERO
    if code == HARD_SIGMOID:
        return (y - y + ONE) / SIX if ZERO < y < ONE else ZERO   # y - y + 1: a 1 of y's type
    return ONE
