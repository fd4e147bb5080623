"""Activations for the fused loops: one element at a time, in place, row by row.

The reference loops call :func:`minirnn.activations.activate` and
:func:`~minirnn.activations.derivative` on whole arrays.  The fused loops work one
element at a time, so they need scalar forms of the same f and f':

    activate_element(a, code, exact)    f(a) for one element
    derivative_element(y, code)         f'(a) for one element, from y = f(a)
    activate_sum(X, Y, lo, hi, code, exact)   X[:, lo:hi] = f(X + Y) over those columns of 2-D arrays
    tanh_form(code, like)               f(a) = c1 tanh(c0 a) + c2: (c0, c1, c2) for tanh/sigmoid
    activate_by_tanh(a, form)           that form, without branches in an inner loop
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
def activate_sum(X, Y, lo, hi, code, exact):
    """X[:, lo:hi] = f(X[:, lo:hi] + Y[:, lo:hi]) for 2-D arrays: pre-activations completed and
    activated in one pass, a block of columns of every row in one call (a call per row costs
    more than a short row; a flat array is one row: ``x.reshape(1, x.size)``)."""
    for b in range(X.shape[0]):
        x, y = X[b, lo:hi], Y[b, lo:hi]      # loops from 0 to size: indices provably >= 0, they vectorise
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
def tanh_form(code, like):
    """((c0, c1, c2), True) with f(a) = c1 tanh(c0 a) + c2, as the float32 activations compute
    tanh (1, 1, 0) and sigmoid (1/2, 1/2, 1/2: tanh(a/2)/2 + 1/2); ((0, 0, 0), False) for
    any other activation or when `like` is float64 (exact activations).  One loop then
    activates any of a cell's gates, with no branch or call in it (a call per row costs more
    than the row).  A tuple: nothing is allocated."""
    if like.itemsize == 8 or (code != TANH and code != SIGMOID):
        return (ZERO, ZERO, ZERO), False
    if code == SIGMOID:
        return (HALF, HALF, HALF), True
    return (ONE, ONE, ZERO), True


@kernel
def activate_by_tanh(a, form):
    """f(a) = c1 tanh(c0 a) + c2, with (c0, c1, c2) = form from tanh_form."""
    return form[1] * tanh_rational(form[0] * a) + form[2]


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
