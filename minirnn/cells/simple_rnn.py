r"""SimpleRNN: the Elman recurrence.

What runs: ``forward_loop`` and ``backward_loop`` below are the reference, in NumPy.
With the default numba backend, Numba compiles their fused twins in
``minirnn/kernels/simple_rnn.py`` instead (the same equations, one element at a
time, products by BLAS in place; tests/test_backends.py checks both give the same
numbers).  ``minirnn.set_backend("numpy")`` runs the code below.

Forward, for t = 1..T (phi = ``activation``, tanh by default):

    F1  a_t = x_t W + h_{t-1} U + b
    F2  h_t = phi(a_t)
    F3  masked steps (m_t = 0) keep the state: h_t = h_{t-1} + m_t (phi(a_t) - h_{t-1})

Backward, for t = T..1, with dh_next = dL/dh_T from the final state:

    B1  dh_t  = dL/dh_t (output) + dh_next
    B2  da_t  = m_t dh_t * phi'(a_t)          phi' from phi(a_t) (see activations)
    B3  dh_next = da_t U^T + (1 - m_t) dh_t   carried to step t-1
    B4  dW = sum_t x_t^T da_t,  dU = sum_t h_{t-1}^T da_t,  db = sum_t da_t,
        dx_t = da_t W^T                       one product each, after the loop

Shapes (time-major): x_t (B, D), h_t and a_t (B, n), W (D, n), U (n, n), b (n,).
Without a mask m_t = 1; with recurrent dropout h_{t-1} U becomes (h_{t-1} * R) U
(see cells/base.py).
"""
from typing import NamedTuple

import numpy as np

from ..activations import activate, derivative
from ..backend import kernel
from .base import Cell, recurrent_grad_into, recurrent_product_into


@kernel(bitwise=True)
def forward_loop(XW, U, h0, act, mask, R):
    """F1-F3 over all steps; XW holds x_t W + b and is overwritten by phi(a_t).

    Returns (H, A): the carried states h_t and phi(a_t) (the same array unmasked)."""
    T, B, n = XW.shape
    masked = mask.shape[0] > 0
    A = XW                                    # phi(a_t) replaces x_t W + b, step by step
    H = np.empty_like(XW) if masked else A
    hU = np.empty((B, n), XW.dtype)
    h = h0
    for t in range(T):
        recurrent_product_into(h, U, R, hU)                    # F1: h_{t-1} U
        A[t] = activate(XW[t] + hU, act)                  # F1, F2
        if masked:
            H[t] = h + mask[t] * (A[t] - h)               # F3
        h = H[t]
    return H, A


@kernel(bitwise=True)
def backward_loop(A, U, dH, dh_T, act, mask, R):
    """B1-B3 over all steps, last to first.  Returns (dA, dh0)."""
    T, B, n = A.shape
    masked = mask.shape[0] > 0
    dA = np.empty_like(A)
    dh_next = dh_T.copy()
    for t in range(T - 1, -1, -1):
        dh = dH[t] + dh_next                              # B1
        dh_new = dh * mask[t] if masked else dh
        dA[t] = dh_new * derivative(A[t], act)            # B2
        recurrent_grad_into(dA[t], U, R, dh_next)              # B3
        if masked:
            dh_next += dh - dh_new
    return dA, dh_next


class SimpleRNNCache(NamedTuple):
    """What forward keeps for backward (time-major)."""
    X: np.ndarray             # (T, B, D) inputs
    h0: np.ndarray            # (B, n) initial state
    H: np.ndarray             # (T, B, n) carried h_t
    A: np.ndarray             # (T, B, n) phi(a_t); the same array as H without a mask
    mask: np.ndarray          # (T, B, 1) or empty
    R: np.ndarray             # (1, B, n) recurrent dropout or empty
    input_masks: list         # input dropout, or None


class SimpleRNNCell(Cell):
    """One SimpleRNN step, run over whole sequences by the loops above."""

    gates = 1
    skips_input_grad = True
    state_names = ("h",)

    def forward(self, X, states, mask, R, input_masks=None):
        (h0,) = states
        H, A = forward_loop(self.project(X, input_masks), self.recurrent_kernel, h0, self.activation, mask, R)
        return H, [H[-1]], SimpleRNNCache(X, h0, H, A, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates, input_grad=True):
        (dh_T,) = dstates
        dA, dh0 = backward_loop(cache.A, self.recurrent_kernel_by_columns(), dH, dh_T, self.activation,
                                cache.mask, cache.R)

        def weight_grads():                                                  # B4
            dW, db = self.kernel_grads(cache.X, dA, cache.input_masks)
            dU = self.recurrent_kernel_grad_from_states(cache.H, cache.h0, dA, cache.R)
            return dict(kernel=dW, recurrent_kernel=dU, bias=db)
        return self.input_grad(dA, cache.input_masks, input_grad), [dh0], weight_grads
