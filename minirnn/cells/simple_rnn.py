r"""SimpleRNN: the Elman recurrence.

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
import numpy as np

from ..activations import (ONE, activate, activate_inplace, derivative, polynomial_slope, slope,
                           slope_polynomial)
from ..backend import kernel
from .base import Cell, add_recurrent_product, recurrent_grad, recurrent_grad_into, recurrent_product


@kernel
def forward_loop(XW, U, h0, act, mask, R):
    """F1-F3 over all steps; XW already holds x_t W + b.

    Returns (H, A): the carried states h_t and phi(a_t) (the same array unmasked)."""
    masked = mask.shape[0] > 0
    H = np.empty_like(XW)
    A = np.empty_like(XW) if masked else H
    h = h0
    for t in range(XW.shape[0]):
        h_new = activate(XW[t] + recurrent_product(h, U, R), act)   # F1, F2
        A[t] = h_new
        h = h + mask[t] * (h_new - h) if masked else h_new           # F3
        H[t] = h
    return H, A


@kernel
def backward_loop(A, U, dH, dh_T, act, mask, R):
    """B1-B3 over all steps, last to first.  Returns (dA, dh0)."""
    masked = mask.shape[0] > 0
    dA = np.empty_like(A)
    UT = np.ascontiguousarray(U.T)
    dh_next = dh_T
    for t in range(A.shape[0] - 1, -1, -1):
        dh = dH[t] + dh_next                              # B1
        dh_new = dh * mask[t] if masked else dh
        da = dh_new * derivative(A[t], act)               # B2
        dA[t] = da
        dh_next = recurrent_grad(da, UT, R)                # B3
        if masked:
            dh_next += dh - dh_new
    return dA, dh_next


@forward_loop.fused
def forward_loop_fused(XW, U, h0, act, mask, R):
    """forward_loop for Numba: h_{t-1} U added by BLAS to (a copy of) x_t W + b, then one
    activation pass over the whole step, which vectorises."""
    T, B, n = XW.shape
    masked = mask.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    A = XW.copy()                             # x_t W + b, then h_{t-1} U is added in place
    H = np.empty_like(XW) if masked else A
    h = h0
    for t in range(T):
        add_recurrent_product(h, U, R, A[t])                        # F1
        activate_inplace(A[t].reshape(B * n), act, exact)           # F2
        if masked:
            for b in range(B):
                m = mask[t, b, 0]
                for j in range(n):
                    H[t, b, j] = h[b, j] + m * (A[t, b, j] - h[b, j])   # F3
        h = H[t]
    return H, A


@backward_loop.fused
def backward_loop_fused(A, U, dH, dh_T, act, mask, R):
    """backward_loop for Numba: one pass per step, then (da_t) U^T added by BLAS."""
    T, B, n = A.shape
    masked = mask.shape[0] > 0
    dA = np.empty_like(A)
    dh_next = dh_T.copy()
    s_act, poly = slope_polynomial(act, A)    # the slope without branches in the inner loop
    for t in range(T - 1, -1, -1):
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                dh = dH[t, b, j] + dh_next[b, j]                    # B1
                dh_new = dh * m if masked else dh
                y = A[t, b, j]
                dA[t, b, j] = dh_new * (polynomial_slope(y, s_act) if poly else slope(y, act))   # B2
                dh_next[b, j] = dh - dh_new                         # (1 - m_t) dh_t, B3
        recurrent_grad_into(dA[t], U, R, dh_next, 1.0 if masked else 0.0)   # B3
    return dA, dh_next


class SimpleRNNCell(Cell):
    """One SimpleRNN step, run over whole sequences by the kernels above."""

    gates = 1
    gate_names = ("h",)
    state_names = ("h",)

    def forward(self, X, states, mask, R, input_masks=None):
        (h0,) = states
        H, A = forward_loop(self.project(X, input_masks), self.recurrent_kernel, h0, self.activation, mask, R)
        return H, [H[-1]], (X, h0, H, A, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates):
        X, h0, H, A, mask, R, input_masks = cache
        (dh_T,) = dstates
        dA, dh0 = backward_loop(A, self.recurrent_kernel, dH, dh_T, self.activation, mask, R)

        def weight_grads():                                                  # B4
            dW, db = self.kernel_grads(X, dA, input_masks)
            dU = self.recurrent_kernel_grad(self.previous(H, h0), dA, R)
            return [dW, dU, db] if self.use_bias else [dW, dU]
        return self.input_grad(dA, input_masks), [dh0], weight_grads
