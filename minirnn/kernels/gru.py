"""The fused twins of cells/gru.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B7 as in cells/gru.py), same arguments and results,
and in float32 the same bits: the same products (BLAS calls into buffers) and the same
arithmetic per element in the same order, written as loops over one row (one sequence)
at a time so Numba vectorises them and nothing is allocated per step.

Each loop runs over a slice from index 0 (``z = row[:n]``, ``z[j]``), never over an offset
(``row[2 * n + j]``): Numba wraps negative indices around, and only an index it can
prove non-negative leaves a loop that vectorises.
"""
import numpy as np

from ..blas import gemm
from ..cells.base import recurrent_grad_into, recurrent_product_into
from ..cells.gru import backward_loop, forward_loop
from .activations import (ONE, activate_sum, activate_sum_columns, derivative_by_polynomial, derivative_element,
                          derivative_polynomial)


@forward_loop.fused
def forward_loop_fused(XW, U, b_rec, h0, act, rec_act, reset_after, mask, R):
    """forward_loop for Numba: the h_{t-1} products by BLAS into buffers, the activations of
    a step's block of gates in one call, the rest in simple loops over one row at a time."""
    T, B, width = XW.shape
    n = width // 3
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    gates = XW
    HU_h = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    hU = np.empty((B, width), XW.dtype)
    rh = np.empty((B, n), XW.dtype)           # r * h_{t-1} (reset_after=False)
    rhU = np.empty((B, n), XW.dtype)
    h = h0
    for t in range(T):
        if reset_after:
            recurrent_product_into(h, U, R, hU)
            for b in range(B):
                hu = hU[b]
                for k in range(width):
                    hu[k] += b_rec[k]                               # F1
            activate_sum_columns(gates[t], hU, 0, 2 * n, rec_act, exact)     # F2: z, r
            for b in range(B):
                r, hu_h, HU_row = gates[t, b, n:2 * n], hU[b, 2 * n:], HU_h[t, b]
                for j in range(n):                                  # one array written per loop: vectorises
                    HU_row[j] = hu_h[j]
                for j in range(n):
                    hu_h[j] = r[j] * HU_row[j]                      # r * hU_h
            activate_sum_columns(gates[t], hU, 2 * n, width, act, exact)     # F3
        else:
            recurrent_product_into(h, U_zr, R[:2], hU[:, :2 * n])        # F1'
            activate_sum_columns(gates[t], hU, 0, 2 * n, rec_act, exact)     # F2'
            for b in range(B):
                r, h_row, rh_row = gates[t, b, n:2 * n], h[b], rh[b]
                for j in range(n):
                    rh_row[j] = r[j] * (h_row[j] * R[2, b, j] if dropped else h_row[j])
            gemm(rh, U_h, rhU, 0.0)
            for b in range(B):
                activate_sum(gates[t, b, 2 * n:], rhU[b], act, exact)     # F3'
        for b in range(B):
            z, g, h_row, h_new = gates[t, b, :n], gates[t, b, 2 * n:], h[b], H[t, b]
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                h_z = z[j] * h_row[j] + (ONE - z[j]) * g[j]         # F4
                h_new[j] = h_row[j] + m * (h_z - h_row[j]) if masked else h_z   # F5
        h = H[t]
    return gates, HU_h, H


@backward_loop.fused
def backward_loop_fused(gates, HU_h, H, h0, U, dH, dh_T, act, rec_act, reset_after, mask, R):
    """backward_loop for Numba: one pass per step, the products with U^T by BLAS."""
    T, B, n = H.shape
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    dXW = np.empty_like(gates)
    dHU = np.empty_like(gates) if reset_after else np.empty((0, 0, 0), gates.dtype)
    drh = np.empty((B, n), H.dtype)           # d(r h_{t-1}) (reset_after=False)
    grad = np.empty((B, n), H.dtype)
    dhz = np.empty((B, n), H.dtype)           # dh * z, the direct part of B5 / B5'
    carry = np.empty((B, n), H.dtype)         # (1 - m_t)(dL/dh_t + dh_next), B7
    dh_next = dh_T.copy()
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    dh_v = np.empty(n, H.dtype)                # one row's dh
    for t in range(T - 1, -1, -1):
        h_prev = H[t - 1] if t > 0 else h0
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            if poly:                  # one array written per loop: these vectorise (one loop writing all does not)
                # B1 as in kernels/lstm.py, written out: a compiled helper called per row measured 5-15 % slower
                row, dXW_row, dH_row, dh_next_row = gates[t, b], dXW[t, b], dH[t, b], dh_next[b]
                h_prev_row, dhz_row, carry_row = h_prev[b], dhz[b], carry[b]
                if masked:
                    for j in range(n):
                        carry_row[j] = dH_row[j] + dh_next_row[j]               # dh_out, for now
                    for j in range(n):
                        dh_v[j] = carry_row[j] * m                              # B1
                    for j in range(n):
                        carry_row[j] = carry_row[j] - dh_v[j]                   # (1 - m_t)(...), B7
                else:
                    for j in range(n):
                        dh_v[j] = dH_row[j] + dh_next_row[j]                    # B1
                for j in range(n):                                              # B2, B3: da_z
                    dXW_row[j] = dh_v[j] * (h_prev_row[j] - row[2 * n + j]) * derivative_by_polynomial(row[j], s_rec)
                for j in range(n):                                              # da_g
                    dXW_row[2 * n + j] = dh_v[j] * (ONE - row[j]) * derivative_by_polynomial(row[2 * n + j], s_act)
                for j in range(n):
                    dhz_row[j] = dh_v[j] * row[j]
                if reset_after:
                    HU_row, dHU_row = HU_h[t, b], dHU[t, b]
                    for j in range(n):                                          # B4: da_r
                        dXW_row[n + j] = dXW_row[2 * n + j] * HU_row[j] * derivative_by_polynomial(row[n + j], s_rec)
                    for j in range(2 * n):
                        dHU_row[j] = dXW_row[j]
                    for j in range(n):
                        dHU_row[2 * n + j] = dXW_row[2 * n + j] * row[n + j]
                continue
            for j in range(n):
                z, r, g = gates[t, b, j], gates[t, b, n + j], gates[t, b, 2 * n + j]
                dh_out = dH[t, b, j] + dh_next[b, j]
                dh = dh_out * m if masked else dh_out               # B1
                dz = dh * (h_prev[b, j] - g)                        # B2
                da_g = dh * (ONE - z) * derivative_element(g, act)
                da_z = dz * derivative_element(z, rec_act)           # B3
                dXW[t, b, j] = da_z
                dXW[t, b, 2 * n + j] = da_g
                dhz[b, j] = dh * z
                carry[b, j] = dh_out - dh
                if reset_after:
                    da_r = da_g * HU_h[t, b, j] * derivative_element(r, rec_act)   # B4
                    dXW[t, b, n + j] = da_r
                    dHU[t, b, j] = da_z
                    dHU[t, b, n + j] = da_r
                    dHU[t, b, 2 * n + j] = da_g * r
        if reset_after:
            recurrent_grad_into(dHU[t], U, R, grad)
            for b in range(B):
                for j in range(n):
                    dh_next[b, j] = dhz[b, j] + grad[b, j]          # B5
        else:
            gemm(dXW[t, :, 2 * n:], U_h.T, drh, 0.0)                # B4'
            for b in range(B):
                for j in range(n):
                    r = gates[t, b, n + j]
                    h_h = h_prev[b, j] * R[2, b, j] if dropped else h_prev[b, j]
                    d_r = derivative_by_polynomial(r, s_rec) if poly else derivative_element(r, rec_act)
                    dXW[t, b, n + j] = drh[b, j] * h_h * d_r
            recurrent_grad_into(dXW[t, :, :2 * n], U_zr, R[:2], grad)
            for b in range(B):
                for j in range(n):
                    r = gates[t, b, n + j]
                    dh_h = drh[b, j] * r * R[2, b, j] if dropped else drh[b, j] * r
                    dh_next[b, j] = dhz[b, j] + dh_h + grad[b, j]   # B5'
        if masked:
            for b in range(B):
                for j in range(n):
                    dh_next[b, j] += carry[b, j]                    # B7
    if not reset_after:
        dHU = dXW.copy()
    return dXW, dHU, dh_next
