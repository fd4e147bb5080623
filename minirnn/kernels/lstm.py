"""The fused twins of cells/lstm.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B4 as in cells/lstm.py), same arguments and
results; written as explicit loops over one row (one sequence) at a time so Numba
vectorises them, with h_{t-1} U and da_t U^T added by BLAS in place.  In float32 the
four gates of a row are activated in one pass by per-column coefficients
(:func:`~minirnn.kernels.activations.column_coefficients`).
"""
import numpy as np

from ..cells.lstm import backward_loop, forward_loop
from .activations import (ONE, activate_by_columns, activate_element, activate_in_place, column_coefficients,
                          derivative_by_polynomial, derivative_element, derivative_polynomial, tanh_rational)
from .products import add_recurrent_product, recurrent_grad_into


@forward_loop.fused
def forward_loop_fused(XW, U, h0, c0, act, rec_act, mask, R):
    """forward_loop for Numba: h_{t-1} U added by BLAS to (a copy of) x_t W + b, the rest in
    simple loops over one row (one sequence) at a time, which vectorise."""
    T, B, width = XW.shape
    n = width // 4
    masked = mask.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    coef = column_coefficients((rec_act, rec_act, act, rec_act), n, XW)   # all four gates in one pass
    fast = coef.shape[1] > 0
    phi = coef[:, 2 * n] if fast else np.zeros(3, XW.dtype)     # phi(c) = phi[1] tanh(phi[0] c) + phi[2]
    gates = XW.copy()                         # x_t W + b, then h_{t-1} U is added in place
    C = np.empty((T, B, n), XW.dtype)
    phi_C = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    h, c = h0, c0
    for t in range(T):
        add_recurrent_product(h, U, R, gates[t])                    # F1
        for b in range(B):
            row = gates[t, b]
            if fast:                                                # F2: i, f, g, o
                activate_by_columns(row, coef)
            else:
                activate_in_place(row[:2 * n], rec_act, exact)
                activate_in_place(row[2 * n:3 * n], act, exact)
                activate_in_place(row[3 * n:], rec_act, exact)
            for j in range(n):
                c_new = row[n + j] * c[b, j] + row[j] * row[2 * n + j]          # F3
                if fast:
                    phi_c = phi[1] * tanh_rational(phi[0] * c_new) + phi[2]
                else:
                    phi_c = activate_element(c_new, act, exact)
                C[t, b, j] = c_new
                phi_C[t, b, j] = phi_c
                H[t, b, j] = row[3 * n + j] * phi_c                 # F4
            if masked:                                              # F5
                m = mask[t, b, 0]
                for j in range(n):
                    C[t, b, j] = c[b, j] + m * (C[t, b, j] - c[b, j])
                    H[t, b, j] = h[b, j] + m * (H[t, b, j] - h[b, j])
        h, c = H[t], C[t]
    return gates, C, phi_C, H


@backward_loop.fused
def backward_loop_fused(gates, C, phi_C, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """backward_loop for Numba: one pass per step, then (da_t) U^T added by BLAS."""
    T, B, n = C.shape
    masked = mask.shape[0] > 0
    dA = np.empty_like(gates)
    dh_next, dc_next = dh_T.copy(), dc_T.copy()
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    for t in range(T - 1, -1, -1):
        c_prev = C[t - 1] if t > 0 else c0
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                i = gates[t, b, j]
                f = gates[t, b, n + j]
                g = gates[t, b, 2 * n + j]
                o = gates[t, b, 3 * n + j]
                phi_c = phi_C[t, b, j]
                dh_out = dH[t, b, j] + dh_next[b, j]
                dh = dh_out * m if masked else dh_out               # B1
                dc_in = dc_next[b, j] * m if masked else dc_next[b, j]
                d_phi_c = derivative_by_polynomial(phi_c, s_act) if poly else derivative_element(phi_c, act)
                d_i = derivative_by_polynomial(i, s_rec) if poly else derivative_element(i, rec_act)
                d_f = derivative_by_polynomial(f, s_rec) if poly else derivative_element(f, rec_act)
                d_g = derivative_by_polynomial(g, s_act) if poly else derivative_element(g, act)
                d_o = derivative_by_polynomial(o, s_rec) if poly else derivative_element(o, rec_act)
                dc = dc_in + dh * o * d_phi_c                       # B2
                dA[t, b, j] = dc * g * d_i                          # B3
                dA[t, b, n + j] = dc * c_prev[b, j] * d_f
                dA[t, b, 2 * n + j] = dc * i * d_g
                dA[t, b, 3 * n + j] = dh * phi_c * d_o
                dh_next[b, j] = dh_out - dh                         # (1 - m_t)(...), B4
                dc_next[b, j] = dc * f + (dc_next[b, j] - dc_in) if masked else dc * f
        recurrent_grad_into(dA[t], U, R, dh_next, 1.0 if masked else 0.0)   # B4
    return dA, dh_next, dc_next
