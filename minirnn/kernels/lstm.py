"""The fused twins of cells/lstm.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B4 as in cells/lstm.py), same arguments and results,
and in float32 the same bits: the same products (one BLAS call per step into a buffer)
and the same arithmetic per element in the same order, written as loops over one row
(one sequence) at a time so Numba vectorises them.  In float32 the four gates of a row
are activated in one pass by per-column coefficients
(:func:`~minirnn.kernels.activations.column_coefficients`).
"""
import numpy as np

from ..cells.base import recurrent_grad_into, recurrent_product_into
from ..cells.lstm import backward_loop, forward_loop
from .activations import (ONE, activate_element, activate_sum, activate_sum_by_columns, column_coefficients,
                          derivative_by_polynomial, derivative_element, derivative_polynomial, tanh_rational)


@forward_loop.fused
def forward_loop_fused(XW, U, h0, c0, act, rec_act, mask, R):
    """forward_loop for Numba: h_{t-1} U by BLAS into a buffer, the rest in simple loops over
    one row (one sequence) at a time, which vectorise."""
    T, B, width = XW.shape
    n = width // 4
    masked = mask.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    coef = column_coefficients((rec_act, rec_act, act, rec_act), n, XW)   # all four gates in one pass
    fast = coef.shape[1] > 0
    phi = coef[:, 2 * n] if fast else np.zeros(3, XW.dtype)     # phi(c) = phi[1] tanh(phi[0] c) + phi[2]
    gates = XW
    C = np.empty((T, B, n), XW.dtype)
    phi_C = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    hU = np.empty((B, width), XW.dtype)
    h, c = h0, c0
    for t in range(T):
        recurrent_product_into(h, U, R, hU)                              # F1
        for b in range(B):
            row, hu = gates[t, b], hU[b]
            if fast:                                                # F1, F2: i, f, g, o
                activate_sum_by_columns(row, hu, coef)
            else:
                activate_sum(row[:2 * n], hu[:2 * n], rec_act, exact)
                activate_sum(row[2 * n:3 * n], hu[2 * n:3 * n], act, exact)
                activate_sum(row[3 * n:], hu[3 * n:], rec_act, exact)
            # One array written per loop: these vectorise (one loop writing C, phi(C) and H does not).
            C_row, phi_row, H_row, c_row, h_row = C[t, b], phi_C[t, b], H[t, b], c[b], h[b]
            for j in range(n):
                C_row[j] = row[n + j] * c_row[j] + row[j] * row[2 * n + j]      # F3
            if fast:
                for j in range(n):
                    phi_row[j] = phi[1] * tanh_rational(phi[0] * C_row[j]) + phi[2]
            else:
                for j in range(n):
                    phi_row[j] = activate_element(C_row[j], act, exact)
            for j in range(n):
                H_row[j] = row[3 * n + j] * phi_row[j]              # F4
            if masked:                                              # F5
                m = mask[t, b, 0]
                for j in range(n):
                    H_row[j] = h_row[j] + m * (H_row[j] - h_row[j])
                for j in range(n):
                    C_row[j] = c_row[j] + m * (C_row[j] - c_row[j])
        h, c = H[t], C[t]
    return gates, C, phi_C, H


@backward_loop.fused
def backward_loop_fused(gates, C, phi_C, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """backward_loop for Numba: one pass per step, then (da_t) U^T by BLAS."""
    T, B, n = C.shape
    masked = mask.shape[0] > 0
    dA = np.empty_like(gates)
    dh_next, dc_next = dh_T.copy(), dc_T.copy()
    carry = np.empty((B, n), C.dtype)         # (1 - m_t)(dL/dh_t + dh_next), passed straight back
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    dh_v, dc_v, dc_in_v = np.empty(n, C.dtype), np.empty(n, C.dtype), np.empty(n, C.dtype)   # one row's
    for t in range(T - 1, -1, -1):
        c_prev = C[t - 1] if t > 0 else c0
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            if poly:                  # one array written per loop: these vectorise (one loop writing all does not)
                row, phi_row, dH_row, dA_row = gates[t, b], phi_C[t, b], dH[t, b], dA[t, b]
                dh_next_row, dc_next_row, c_prev_row, carry_row = dh_next[b], dc_next[b], c_prev[b], carry[b]
                if masked:
                    for j in range(n):
                        carry_row[j] = dH_row[j] + dh_next_row[j]               # dh_out, for now
                    for j in range(n):
                        dh_v[j] = carry_row[j] * m                                # B1
                    for j in range(n):
                        carry_row[j] = carry_row[j] - dh_v[j]                     # (1 - m_t)(...), kept for dh_next
                    for j in range(n):
                        dc_in_v[j] = dc_next_row[j] * m
                else:
                    for j in range(n):
                        dh_v[j] = dH_row[j] + dh_next_row[j]                      # B1
                    for j in range(n):
                        dc_in_v[j] = dc_next_row[j]
                for j in range(n):                                              # B2
                    dc_v[j] = dc_in_v[j] + dh_v[j] * row[3 * n + j] * derivative_by_polynomial(phi_row[j], s_act)
                for j in range(n):                                              # B3
                    dA_row[j] = dc_v[j] * row[2 * n + j] * derivative_by_polynomial(row[j], s_rec)
                for j in range(n):
                    dA_row[n + j] = dc_v[j] * c_prev_row[j] * derivative_by_polynomial(row[n + j], s_rec)
                for j in range(n):
                    dA_row[2 * n + j] = dc_v[j] * row[j] * derivative_by_polynomial(row[2 * n + j], s_act)
                for j in range(n):
                    dA_row[3 * n + j] = dh_v[j] * phi_row[j] * derivative_by_polynomial(row[3 * n + j], s_rec)
                if masked:
                    for j in range(n):
                        dc_next_row[j] = dc_v[j] * row[n + j] + (dc_next_row[j] - dc_in_v[j])    # B4
                else:
                    for j in range(n):
                        dc_next_row[j] = dc_v[j] * row[n + j]
                continue
            for j in range(n):
                i = gates[t, b, j]
                f = gates[t, b, n + j]
                g = gates[t, b, 2 * n + j]
                o = gates[t, b, 3 * n + j]
                phi_c = phi_C[t, b, j]
                dh_out = dH[t, b, j] + dh_next[b, j]
                dh = dh_out * m if masked else dh_out               # B1
                dc_in = dc_next[b, j] * m if masked else dc_next[b, j]
                dc = dc_in + dh * o * derivative_element(phi_c, act)           # B2
                dA[t, b, j] = dc * g * derivative_element(i, rec_act)         # B3
                dA[t, b, n + j] = dc * c_prev[b, j] * derivative_element(f, rec_act)
                dA[t, b, 2 * n + j] = dc * i * derivative_element(g, act)
                dA[t, b, 3 * n + j] = dh * phi_c * derivative_element(o, rec_act)
                carry[b, j] = dh_out - dh                           # (1 - m_t)(...), B4
                dc_next[b, j] = dc * f + (dc_next[b, j] - dc_in) if masked else dc * f
        recurrent_grad_into(dA[t], U, R, dh_next)                        # B4
        if masked:
            for b in range(B):
                for j in range(n):
                    dh_next[b, j] += carry[b, j]
    return dA, dh_next, dc_next

