"""Activations for the fused loops: one element at a time, in place, by columns.

The reference loops call :func:`minirnn.activations.activate` and
:func:`~minirnn.activations.derivative` on whole arrays.  The fused loops work one
element at a time, so they need scalar forms of the same f and f':

    activate_element(a, code, exact)    f(a) for one element
    derivative_element(y, code)         f'(a) for one element, from y = f(a)
    activate_sum(x, y, code, exact)     x[:] = f(x + y) for 1-D arrays
    activate_sum_by_columns(x, y, coef) the same, each block of columns with its own tanh/sigmoid
    derivative_polynomial(code, like)   f'(a) = p + y (q - r y): (p, q, r) for linear/tanh/sigmoid
    derivative_by_polynomial(y, poly)   that polynomial, without branches in an inner loop

In float32, tanh is :func:`minirnn.activations.tanh_rational` and sigmoid(a) =
tanh(a/2)/2 + 1/2, the same formulas as the whole-array :func:`~minirnn.activations.activate`,
so the fused loops give the reference loops' bits; float64 stays exact.
"""
import math

import numpy as np

from ..activations import HALF, HARD_SIGMOID, LINEAR, ONE, RELU, SIGMOID, SIX, TANH, ZERO, tanh_rational
from ..backend import kernel


@kernel
def activate_element(a, code, exact):
    """y = f(a) for one element; tanh and sigmoid exact only when `exact` (float64)."""
    if code == TANH:
        return math.tanh(a) if exact else tanh_rational(a)
    if code == SIGMOID:
        return ONE / (ONE + math.exp(-a)) if exact else HALF * tanh_rational(HALF * a) + HALF
    if code == RELU:
        return np.maximum(a, ZERO)
    if code == HARD_SIGMOID:
        return np.minimum(np.maximum(a / SIX + HALF, ZERO), ONE)
    return a


@kernel
def activate_sum(x, y, code, exact):
    """x[:] = f(x + y) for 1-D arrays: a pre-activation completed and activated in one pass."""
    if code == TANH and not exact:
        for k in range(x.size):
            x[k] = tanh_rational(x[k] + y[k])
    elif code == SIGMOID and not exact:
        for k in range(x.size):
            x[k] = HALF * tanh_rational(HALF * (x[k] + y[k])) + HALF
    else:
        for k in range(x.size):
            x[k] = activate_element(x[k] + y[k], code, exact)


@kernel
def column_coefficients(codes, n, like):
    """Coefficients (3, len(codes) * n) that write each block of n columns, activated by
    codes[g], as y = c1 tanh(c0 a) + c2: tanh (1, 1, 0), sigmoid (1/2, 1/2, 1/2).  With them a
    row of mixed gates is one loop that vectorises (:func:`activate_sum_by_columns`).  Empty when a
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
def activate_sum_by_columns(x, y, coef):
    """x[k] = coef[1, k] tanh(coef[0, k] (x[k] + y[k])) + coef[2, k] (coefficients from
    column_coefficients): sigmoid(a) as tanh(a/2)/2 + 1/2, exactly as activate computes it."""
    for k in range(x.size):
        x[k] = coef[1, k] * tanh_rational(coef[0, k] * (x[k] + y[k])) + coef[2, k]


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
