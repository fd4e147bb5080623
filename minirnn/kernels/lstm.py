"""The fused twins of cells/lstm.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B4 as in cells/lstm.py), same arguments and results,
and in float32 the same bits: the same products (one BLAS call per step into a buffer)
and the same arithmetic per element in the same order.  Each sequence is a column (the
cell's layout), so every inner loop runs along one gate unit's row over the whole batch:
long loops of one written array each, which Numba vectorises.
"""
import numpy as np

from ..cells.base import recurrent_grad_into, recurrent_product_into
from ..cells.lstm import backward_loop, forward_loop
from .activations import (activate_by_tanh, activate_element, activate_sum, derivative_by_polynomial,
                          derivative_element, derivative_polynomial, tanh_form)


@forward_loop.fused
def forward_loop_fused(XW, U, h0, c0, act, rec_act, mask, R):
    """forward_loop for Numba: (h_{t-1} U)^T by BLAS into a buffer, the rest row by row."""
    T, width, B = XW.shape
    n = width // 4
    masked = mask.shape[0] > 0
    steps = mask.reshape(mask.shape[0], mask.shape[1])   # m_t per column, contiguous
    exact = XW.itemsize == 8                  # float64: exact activations
    form_act, fast_act = tanh_form(act, XW)
    form_rec, fast_rec = tanh_form(rec_act, XW)
    fast = fast_act and fast_rec              # float32 tanh/sigmoid: every row by one formula
    gates = XW
    C = np.empty((T, n, B), XW.dtype)
    phi_C = np.empty((T, n, B), XW.dtype)
    H = np.empty((T, n, B), XW.dtype)
    hU = np.empty((width, B), XW.dtype)
    for t in range(T):
        recurrent_product_into((H[t - 1] if t > 0 else h0).T, U, R, hU.T)      # F1
        for r in range(width):                                          # F1, F2: i, f, g, o
            row, hu, candidate = gates[t, r], hU[r], 2 * n <= r < 3 * n
            if fast:
                form = form_act if candidate else form_rec
                for b in range(B):
                    row[b] = activate_by_tanh(row[b] + hu[b], form)
            else:
                activate_sum(row, hu, act if candidate else rec_act, exact)
        for j in range(n):
            i, f, g, o = gates[t, j], gates[t, n + j], gates[t, 2 * n + j], gates[t, 3 * n + j]
            c_prev, h_prev = (C[t - 1, j], H[t - 1, j]) if t > 0 else (c0[j], h0[j])
            c_new, phi_c, h_new = C[t, j], phi_C[t, j], H[t, j]
            # One array written per loop: these vectorise (one loop writing c, phi(c) and h does not).
            for b in range(B):
                c_new[b] = f[b] * c_prev[b] + i[b] * g[b]                # F3
            if fast:
                for b in range(B):
                    phi_c[b] = activate_by_tanh(c_new[b], form_act)
            else:
                for b in range(B):
                    phi_c[b] = activate_element(c_new[b], act, exact)
            for b in range(B):
                h_new[b] = o[b] * phi_c[b]                              # F4
            if masked:                                                  # F5
                m = steps[t]
                for b in range(B):
                    h_new[b] = h_prev[b] + m[b] * (h_new[b] - h_prev[b])
                for b in range(B):
                    c_new[b] = c_prev[b] + m[b] * (c_new[b] - c_prev[b])
    return gates, C, phi_C, H


@backward_loop.fused
def backward_loop_fused(gates, C, phi_C, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """backward_loop for Numba: one pass per step, row by row, then (da_t U^T)^T by BLAS."""
    T, width, B = gates.shape
    n = width // 4
    masked = mask.shape[0] > 0
    steps = mask.reshape(mask.shape[0], mask.shape[1])   # m_t per column, contiguous
    dA = np.empty_like(gates)
    dh_next, dc_next = dh_T.copy(), dc_T.copy()
    carry = np.empty((n, B), C.dtype)         # (1 - m_t)(dL/dh_t + dh_next), passed straight back
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loops
    dh, dc, dc_in = np.empty(B, C.dtype), np.empty(B, C.dtype), np.empty(B, C.dtype)   # one row's
    for t in range(T - 1, -1, -1):
        for j in range(n):
            i, f, g, o = gates[t, j], gates[t, n + j], gates[t, 2 * n + j], gates[t, 3 * n + j]
            da_i, da_f, da_c, da_o = dA[t, j], dA[t, n + j], dA[t, 2 * n + j], dA[t, 3 * n + j]
            phi_c, dH_t, dh_n, dc_n, carry_j = phi_C[t, j], dH[t, j], dh_next[j], dc_next[j], carry[j]
            c_prev = C[t - 1, j] if t > 0 else c0[j]
            # One array written per loop: these vectorise (one loop writing several does not).
            if masked:
                m = steps[t]
                for b in range(B):
                    carry_j[b] = dH_t[b] + dh_n[b]                          # dh_out, for now
                for b in range(B):
                    dh[b] = carry_j[b] * m[b]                               # B1
                for b in range(B):
                    carry_j[b] = carry_j[b] - dh[b]                         # (1 - m_t)(...), kept
                for b in range(B):
                    dc_in[b] = dc_n[b] * m[b]
            else:
                for b in range(B):
                    dh[b] = dH_t[b] + dh_n[b]                               # B1
            dc_kept = dc_in if masked else dc_n                             # m_t dc_next
            if poly:
                for b in range(B):                                          # B2
                    dc[b] = dc_kept[b] + dh[b] * o[b] * derivative_by_polynomial(phi_c[b], s_act)
                for b in range(B):                                          # B3
                    da_i[b] = dc[b] * g[b] * derivative_by_polynomial(i[b], s_rec)
                for b in range(B):
                    da_f[b] = dc[b] * c_prev[b] * derivative_by_polynomial(f[b], s_rec)
                for b in range(B):
                    da_c[b] = dc[b] * i[b] * derivative_by_polynomial(g[b], s_act)
                for b in range(B):
                    da_o[b] = dh[b] * phi_c[b] * derivative_by_polynomial(o[b], s_rec)
            else:
                for b in range(B):
                    dc[b] = dc_kept[b] + dh[b] * o[b] * derivative_element(phi_c[b], act)
                    da_i[b] = dc[b] * g[b] * derivative_element(i[b], rec_act)
                    da_f[b] = dc[b] * c_prev[b] * derivative_element(f[b], rec_act)
                    da_c[b] = dc[b] * i[b] * derivative_element(g[b], act)
                    da_o[b] = dh[b] * phi_c[b] * derivative_element(o[b], rec_act)
            if masked:
                for b in range(B):
                    dc_n[b] = dc[b] * f[b] + (dc_n[b] - dc_in[b])          # B4
            else:
                for b in range(B):
                    dc_n[b] = dc[b] * f[b]
        recurrent_grad_into(dA[t].T, U, R, dh_next.T)                 # B4
        if masked:
            for j in range(n):
                for b in range(B):
                    dh_next[j, b] += carry[j, b]
    return dA, dh_next, dc_next
