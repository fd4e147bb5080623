"""The fused twins of cells/simple_rnn.py's time loops (what the numba backend runs).

Same equations (tagged F1-F3, B1-B3 as in cells/simple_rnn.py), same arguments and
results, and in float32 the same bits: the same products (one BLAS call per step into
a buffer) and the same arithmetic per element in the same order, written as loops
over one element at a time so Numba vectorises them and nothing is allocated per step.
"""
import numpy as np

from ..cells.base import recurrent_grad_into, recurrent_product_into
from ..cells.simple_rnn import backward_loop, forward_loop
from .activations import ONE, activate_sum, derivative_by_polynomial, derivative_element, derivative_polynomial


@forward_loop.fused
def forward_loop_fused(XW, U, h0, act, mask, R):
    """forward_loop for Numba: one BLAS call for h_{t-1} U, then one pass over the step."""
    T, B, n = XW.shape
    masked = mask.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    A = XW
    H = np.empty_like(XW) if masked else A
    hU = np.empty((B, n), XW.dtype)
    h = h0
    for t in range(T):
        recurrent_product_into(h, U, R, hU)                              # F1
        activate_sum(A[t].reshape(1, B * n), hU.reshape(1, B * n), 0, B * n, act, exact)   # F1, F2
        if masked:
            for b in range(B):
                m = mask[t, b, 0]
                for j in range(n):
                    H[t, b, j] = h[b, j] + m * (A[t, b, j] - h[b, j])   # F3
        h = H[t]
    return H, A


@backward_loop.fused
def backward_loop_fused(A, U, dH, dh_T, act, mask, R):
    """backward_loop for Numba: one pass per step, then (da_t) U^T by BLAS."""
    T, B, n = A.shape
    masked = mask.shape[0] > 0
    A, dH = np.ascontiguousarray(A), np.ascontiguousarray(dH)     # themselves, from the cell
    dA = np.empty_like(A)
    dh_next = dh_T.copy()
    carry = np.empty((B, n), A.dtype)         # (1 - m_t) dh_t, passed straight back
    s_act, poly = derivative_polynomial(act, A)                     # the slope without branches in the inner loop
    s_act = (s_act[0], s_act[1], s_act[2])    # numbers kept in registers, not loaded again per element
    for t in range(T - 1, -1, -1):
        if poly and not masked:   # the whole step as one loop over B * n numbers, writing one array: it vectorises
            A_t, dA_t, dH_t, dh_n = A[t].reshape(B * n), dA[t].reshape(B * n), dH[t].reshape(B * n), dh_next.reshape(B * n)
            for k in range(B * n):
                dA_t[k] = (dH_t[k] + dh_n[k]) * derivative_by_polynomial(A_t[k], s_act)   # B1, B2
        else:
            for b in range(B):
                m = mask[t, b, 0] if masked else ONE
                for j in range(n):
                    dh = dH[t, b, j] + dh_next[b, j]                # B1
                    dh_new = dh * m if masked else dh
                    y = A[t, b, j]
                    d_a = derivative_by_polynomial(y, s_act) if poly else derivative_element(y, act)
                    dA[t, b, j] = dh_new * d_a                      # B2
                    carry[b, j] = dh - dh_new
        recurrent_grad_into(dA[t], U, R, dh_next)                        # B3
        if masked:
            for b in range(B):
                for j in range(n):
                    dh_next[b, j] += carry[b, j]
    return dA, dh_next
