"""The fused twins of cells/lstm.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B4 as in cells/lstm.py), same arguments and results,
and in float32 the same bits: the same products (one BLAS call per step into a buffer)
and the same arithmetic per element in the same order.  Each sequence is a column (the
cell's layout), so a step's block of one gate, (n, B), is one contiguous run of n*B
numbers: every inner loop runs over a whole block as one flat array, one written array
per loop, which Numba vectorises.  Only the mask, one number per column, needs the
block's rows (``for j, for b``).
"""
import numpy as np

from ..cells.base import recurrent_grad_into, recurrent_product_into
from ..cells.lstm import backward_loop, forward_loop
from .activations import (activate_by_tanh, activate_element, activate_sum, derivative_by_polynomial,
                          derivative_element, derivative_polynomial, tanh_form)


@forward_loop.fused
def forward_loop_fused(XW, U, h0, c0, act, rec_act, mask, R):
    """forward_loop for Numba: (h_{t-1} U)^T by BLAS into a buffer, then flat loops over the
    step's gate blocks."""
    T, width, B = XW.shape
    n = width // 4
    nB = n * B
    masked = mask.shape[0] > 0
    steps = mask.reshape(mask.shape[0], mask.shape[1])   # m_t per column, contiguous
    exact = XW.itemsize == 8                  # float64: exact activations
    form_act, fast_act = tanh_form(act, XW)
    gates = np.ascontiguousarray(XW)          # XW itself when contiguous (always, from the cell)
    C = np.empty((T, n, B), XW.dtype)
    phi_C = np.empty((T, n, B), XW.dtype)
    H = np.empty((T, n, B), XW.dtype)
    hU = np.empty((width, B), XW.dtype)
    hu = hU.reshape(width * B)
    h0_flat, c0_flat = np.ascontiguousarray(h0).reshape(nB), np.ascontiguousarray(c0).reshape(nB)
    for t in range(T):
        recurrent_product_into((H[t - 1] if t > 0 else h0).T, U, R, hU.T)      # F1
        a = gates[t].reshape(width * B)
        a_row, hu_row = a.reshape(1, width * B), hu.reshape(1, width * B)
        activate_sum(a_row, hu_row, 0, 2 * nB, rec_act, exact)           # F1, F2: i, f
        activate_sum(a_row, hu_row, 2 * nB, 3 * nB, act, exact)          # g
        activate_sum(a_row, hu_row, 3 * nB, width * B, rec_act, exact)   # o
        i, f, g, o = a[:nB], a[nB:2 * nB], a[2 * nB:3 * nB], a[3 * nB:]
        c_prev = C[t - 1].reshape(nB) if t > 0 else c0_flat
        h_prev = H[t - 1].reshape(nB) if t > 0 else h0_flat
        c_new, phi_c, h_new = C[t].reshape(nB), phi_C[t].reshape(nB), H[t].reshape(nB)
        # One array written per loop: these vectorise (one loop writing c, phi(c) and h does not).
        for k in range(nB):
            c_new[k] = f[k] * c_prev[k] + i[k] * g[k]                   # F3
        if fast_act:
            for k in range(nB):
                phi_c[k] = activate_by_tanh(c_new[k], form_act)
        else:
            for k in range(nB):
                phi_c[k] = activate_element(c_new[k], act, exact)
        for k in range(nB):
            h_new[k] = o[k] * phi_c[k]                                  # F4
        if masked:                                                      # F5: m_t per column
            m = steps[t]
            for j in range(n):
                row = j * B
                for b in range(B):
                    h_new[row + b] = h_prev[row + b] + m[b] * (h_new[row + b] - h_prev[row + b])
                for b in range(B):
                    c_new[row + b] = c_prev[row + b] + m[b] * (c_new[row + b] - c_prev[row + b])
    return gates, C, phi_C, H


@backward_loop.fused
def backward_loop_fused(gates, C, phi_C, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """backward_loop for Numba: flat loops over the step's gate blocks, then (da_t U^T)^T by BLAS."""
    T, width, B = gates.shape
    n = width // 4
    nB = n * B
    masked = mask.shape[0] > 0
    steps = mask.reshape(mask.shape[0], mask.shape[1])   # m_t per column, contiguous
    gates, C, phi_C, dH = (np.ascontiguousarray(gates), np.ascontiguousarray(C), np.ascontiguousarray(phi_C),
                           np.ascontiguousarray(dH))
    dA = np.empty_like(gates)
    dh_next, dc_next = np.ascontiguousarray(dh_T).copy(), np.ascontiguousarray(dc_T).copy()
    dh_n, dc_n = dh_next.reshape(nB), dc_next.reshape(nB)
    c0_flat = np.ascontiguousarray(c0).reshape(nB)
    carry = np.empty(nB, C.dtype)             # (1 - m_t)(dL/dh_t + dh_next), passed straight back
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loops
    dh, dc, dc_in = np.empty(nB, C.dtype), np.empty(nB, C.dtype), np.empty(nB, C.dtype)
    for t in range(T - 1, -1, -1):
        a, da = gates[t].reshape(width * B), dA[t].reshape(width * B)
        i, f, g, o = a[:nB], a[nB:2 * nB], a[2 * nB:3 * nB], a[3 * nB:]
        da_i, da_f, da_c, da_o = da[:nB], da[nB:2 * nB], da[2 * nB:3 * nB], da[3 * nB:]
        phi_c, dH_t = phi_C[t].reshape(nB), dH[t].reshape(nB)
        c_prev = C[t - 1].reshape(nB) if t > 0 else c0_flat
        # One array written per loop: these vectorise (one loop writing several does not).
        if masked:
            m = steps[t]
            for j in range(n):
                row = j * B
                for b in range(B):
                    carry[row + b] = dH_t[row + b] + dh_n[row + b]          # dh_out, for now
                for b in range(B):
                    dh[row + b] = carry[row + b] * m[b]                     # B1
                for b in range(B):
                    dc_in[row + b] = dc_n[row + b] * m[b]
            for k in range(nB):
                carry[k] = carry[k] - dh[k]                                 # (1 - m_t)(...), kept
        else:
            for k in range(nB):
                dh[k] = dH_t[k] + dh_n[k]                                   # B1
        dc_kept = dc_in if masked else dc_n                                 # m_t dc_next
        if poly:
            for k in range(nB):                                             # B2
                dc[k] = dc_kept[k] + dh[k] * o[k] * derivative_by_polynomial(phi_c[k], s_act)
            for k in range(nB):                                             # B3
                da_i[k] = dc[k] * g[k] * derivative_by_polynomial(i[k], s_rec)
            for k in range(nB):
                da_f[k] = dc[k] * c_prev[k] * derivative_by_polynomial(f[k], s_rec)
            for k in range(nB):
                da_c[k] = dc[k] * i[k] * derivative_by_polynomial(g[k], s_act)
            for k in range(nB):
                da_o[k] = dh[k] * phi_c[k] * derivative_by_polynomial(o[k], s_rec)
        else:
            for k in range(nB):
                dc[k] = dc_kept[k] + dh[k] * o[k] * derivative_element(phi_c[k], act)
                da_i[k] = dc[k] * g[k] * derivative_element(i[k], rec_act)
                da_f[k] = dc[k] * c_prev[k] * derivative_element(f[k], rec_act)
                da_c[k] = dc[k] * i[k] * derivative_element(g[k], act)
                da_o[k] = dh[k] * phi_c[k] * derivative_element(o[k], rec_act)
        if masked:
            for k in range(nB):
                dc_n[k] = dc[k] * f[k] + (dc_n[k] - dc_in[k])              # B4
        else:
            for k in range(nB):
                dc_n[k] = dc[k] * f[k]
        recurrent_grad_into(dA[t].T, U, R, dh_next.T)                 # B4
        if masked:
            for k in range(nB):
                dh_n[k] += carry[k]
    return dA, dh_next, dc_next
