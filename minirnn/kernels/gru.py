"""The fused twins of cells/gru.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B7 as in cells/gru.py), same arguments and results,
and in float32 the same bits: the same products (BLAS calls into buffers) and the same
arithmetic per element in the same order, written as loops over one row (one sequence)
at a time so Numba vectorises them and nothing is allocated per step.

A step's gates are read as a (B, 3, n) array, ``G[b, 0, j]`` for z, ``G[b, 2, j]`` for g: every
index then starts from 0 and Numba can prove it non-negative (it wraps negative indices
around, so ``row[2 * n + j]`` makes a loop it cannot vectorise), and no view is made per row
(each one costs reference counting).
"""
import numpy as np

from ..blas import gemm
from ..cells.base import recurrent_grad_into, recurrent_product_into
from ..cells.gru import backward_loop, forward_loop
from .activations import (ONE, activate_sum, derivative_by_polynomial, derivative_element,
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
    gates = np.ascontiguousarray(XW)          # XW itself when contiguous (always, from the cell)
    HU_h = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    hU = np.empty((B, width), XW.dtype)
    rh = np.empty((B, n), XW.dtype)           # r * h_{t-1} (reset_after=False)
    rhU = np.empty((B, width), XW.dtype)      # (r * h_{t-1}) U_h in its g columns (reset_after=False)
    h = h0
    for t in range(T):
        if reset_after:
            recurrent_product_into(h, U, R, hU)
            for b in range(B):
                hu = hU[b]
                for k in range(width):
                    hu[k] += b_rec[k]                               # F1
            activate_sum(gates[t], hU, 0, 2 * n, rec_act, exact)     # F2: z, r
            G, HU_t = gates[t].reshape(B, 3, n), hU.reshape(B, 3, n)
            for b in range(B):                                      # one array written per loop: vectorises
                for j in range(n):
                    HU_h[t, b, j] = HU_t[b, 2, j]
            for b in range(B):
                for j in range(n):
                    HU_t[b, 2, j] = G[b, 1, j] * HU_h[t, b, j]      # r * hU_h
            activate_sum(gates[t], hU, 2 * n, width, act, exact)     # F3
        else:
            recurrent_product_into(h, U_zr, R[:2], hU[:, :2 * n])        # F1'
            activate_sum(gates[t], hU, 0, 2 * n, rec_act, exact)     # F2'
            for b in range(B):
                r, h_row, rh_row = gates[t, b, n:2 * n], h[b], rh[b]
                for j in range(n):
                    rh_row[j] = r[j] * (h_row[j] * R[2, b, j] if dropped else h_row[j])
            gemm(rh, U_h, rhU[:, 2 * n:], 0.0)
            activate_sum(gates[t], rhU, 2 * n, width, act, exact)             # F3'
        G = gates[t].reshape(B, 3, n)              # G[b, 0] is z, G[b, 2] g (see backward_loop_fused)
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                h_z = G[b, 0, j] * h[b, j] + (ONE - G[b, 0, j]) * G[b, 2, j]     # F4
                H[t, b, j] = h[b, j] + m * (h_z - h[b, j]) if masked else h_z     # F5
        h = H[t]
    return gates, HU_h, H


@backward_loop.fused
def backward_loop_fused(gates, HU_h, H, h0, U, dH, dh_T, act, rec_act, reset_after, mask, R):
    """backward_loop for Numba: one pass per step over its gates read as (B, 3, n), the
    products with U^T by BLAS."""
    T, B, n = H.shape
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    gates = np.ascontiguousarray(gates)
    dXW = np.empty_like(gates)
    dHU = np.empty_like(gates) if reset_after else np.empty((0, 0, 0), gates.dtype)
    drh = np.empty((B, n), H.dtype)           # d(r h_{t-1}) (reset_after=False)
    grad = np.empty((B, n), H.dtype)
    dh = np.empty((B, n), H.dtype)            # B1
    dhz = np.empty((B, n), H.dtype)           # dh * z, the direct part of B5 / B5'
    carry = np.empty((B, n), H.dtype)         # (1 - m_t)(dL/dh_t + dh_next), B7
    dh_next = dh_T.copy()
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    # as tuples: numbers the loops keep in registers (array elements they would load again, as
    # any array written in the loop might overlap them)
    s_act, s_rec = (s_act[0], s_act[1], s_act[2]), (s_rec[0], s_rec[1], s_rec[2])
    for t in range(T - 1, -1, -1):
        h_prev, dH_t = H[t - 1] if t > 0 else h0, dH[t]
        # G[b, 0] is z, G[b, 1] r, G[b, 2] g (see the module docstring); D the same for dXW
        G, D = gates[t].reshape(B, 3, n), dXW[t].reshape(B, 3, n)
        if poly:                      # one array written per loop: these vectorise (one loop writing all does not)
            if masked:
                for b in range(B):
                    for j in range(n):
                        carry[b, j] = dH_t[b, j] + dh_next[b, j]            # dh_out, for now
                for b in range(B):
                    m = mask[t, b, 0]
                    for j in range(n):
                        dh[b, j] = carry[b, j] * m                          # B1
                for b in range(B):
                    for j in range(n):
                        carry[b, j] = carry[b, j] - dh[b, j]                # (1 - m_t)(...), B7
            else:
                for b in range(B):
                    for j in range(n):
                        dh[b, j] = dH_t[b, j] + dh_next[b, j]               # B1
            for b in range(B):                                              # B2, B3: da_z
                for j in range(n):
                    D[b, 0, j] = dh[b, j] * (h_prev[b, j] - G[b, 2, j]) * derivative_by_polynomial(G[b, 0, j], s_rec)
            for b in range(B):                                              # da_g
                for j in range(n):
                    D[b, 2, j] = dh[b, j] * (ONE - G[b, 0, j]) * derivative_by_polynomial(G[b, 2, j], s_act)
            for b in range(B):
                for j in range(n):
                    dhz[b, j] = dh[b, j] * G[b, 0, j]
            if reset_after:
                HU_t, DU = HU_h[t], dHU[t].reshape(B, 3, n)
                for b in range(B):                                          # B4: da_r
                    for j in range(n):
                        # da_g computed again rather than read back from D, which this loop writes:
                        # a loop reading the array it writes, at an offset Numba cannot see, stays scalar
                        da_g = dh[b, j] * (ONE - G[b, 0, j]) * derivative_by_polynomial(G[b, 2, j], s_act)
                        D[b, 1, j] = da_g * HU_t[b, j] * derivative_by_polynomial(G[b, 1, j], s_rec)
                for b in range(B):
                    for k in range(2):
                        for j in range(n):
                            DU[b, k, j] = D[b, k, j]
                for b in range(B):
                    for j in range(n):
                        DU[b, 2, j] = D[b, 2, j] * G[b, 1, j]
        else:
            for b in range(B):
                m = mask[t, b, 0] if masked else ONE
                for j in range(n):
                    z, r, g = G[b, 0, j], G[b, 1, j], G[b, 2, j]
                    dh_out = dH_t[b, j] + dh_next[b, j]
                    dh_j = dh_out * m if masked else dh_out             # B1
                    dz = dh_j * (h_prev[b, j] - g)                      # B2
                    dg = dh_j * (ONE - z) * derivative_element(g, act)
                    D[b, 0, j] = dz * derivative_element(z, rec_act)     # B3
                    D[b, 2, j] = dg
                    dhz[b, j] = dh_j * z
                    carry[b, j] = dh_out - dh_j
                    if reset_after:
                        dr = dg * HU_h[t, b, j] * derivative_element(r, rec_act)   # B4
                        D[b, 1, j] = dr
                        dHU[t, b, j] = D[b, 0, j]
                        dHU[t, b, n + j] = dr
                        dHU[t, b, 2 * n + j] = dg * r
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
