"""The fused twins of cells/simple_rnn.py's time loops (what the numba backend runs).

Same equations (tagged F1-F3, B1-B3 as in cells/simple_rnn.py), same arguments and
results; written as explicit loops over one element at a time so Numba vectorises
them, with h_{t-1} U and da_t U^T added by BLAS in place.
"""
import numpy as np

from ..cells.simple_rnn import backward_loop, forward_loop
from .activations import ONE, activate_in_place, derivative_by_polynomial, derivative_element, derivative_polynomial
from .products import add_recurrent_product, recurrent_grad_into


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
        activate_in_place(A[t].reshape(B * n), act, exact)          # F2
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
    s_act, poly = derivative_polynomial(act, A)                     # the slope without branches in the inner loop
    for t in range(T - 1, -1, -1):
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                dh = dH[t, b, j] + dh_next[b, j]                    # B1
                dh_new = dh * m if masked else dh
                y = A[t, b, j]
                d_a = derivative_by_polynomial(y, s_act) if poly else derivative_element(y, act)
                dA[t, b, j] = dh_new * d_a                          # B2
                dh_next[b, j] = dh - dh_new                         # (1 - m_t) dh_t, B3
        recurrent_grad_into(dA[t], U, R, dh_next, 1.0 if masked else 0.0)   # B3
    return dA, dh_next
