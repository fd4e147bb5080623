"""The fused twins of cells/gru.py's time loops (what the numba backend runs).

Same equations (tagged F1-F5, B1-B7 as in cells/gru.py), same arguments and
results; written as explicit loops over one row (one sequence) at a time so Numba
vectorises them, with the h_{t-1} products added by BLAS in place.
"""
import numpy as np

from ..blas import gemm
from ..cells.gru import backward_loop, forward_loop
from .activations import ONE, activate_in_place, derivative_by_polynomial, derivative_element, derivative_polynomial
from .products import add_recurrent_product, recurrent_grad_into


@forward_loop.fused
def forward_loop_fused(XW, U, b_rec, h0, act, rec_act, reset_after, mask, R):
    """forward_loop for Numba: the h_{t-1} products added by BLAS in place, the rest in
    simple loops over one row (one sequence) at a time, which vectorise."""
    T, B, width = XW.shape
    n = width // 3
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    R_zr, R_h = R[:2], R[2:]                  # empty without recurrent dropout
    gates = XW.copy()                         # x_t W + b; z, r, g are written over it
    HU_h = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    hU_zr = np.empty((B, 2 * n), XW.dtype)   # [hU_z hU_r]
    rh = np.empty((B, n), XW.dtype)           # r * h_{t-1} (reset_after=False)
    h = h0
    for t in range(T):
        for b in range(B):
            for k in range(2 * n):
                hU_zr[b, k] = b_rec[k]
        add_recurrent_product(h, U_zr, R_zr, hU_zr)                 # F1 / F1'
        if reset_after:
            for b in range(B):
                for j in range(n):
                    HU_h[t, b, j] = b_rec[2 * n + j]
            add_recurrent_product(h, U_h, R_h, HU_h[t])
        for b in range(B):
            row = gates[t, b]
            for k in range(2 * n):
                row[k] += hU_zr[b, k]
            activate_in_place(row[:2 * n], rec_act, exact)          # F2 / F2': z, r
            if reset_after:
                for j in range(n):
                    row[2 * n + j] += row[n + j] * HU_h[t, b, j]    # F3 (before phi)
                activate_in_place(row[2 * n:], act, exact)
            else:
                for j in range(n):
                    rh[b, j] = row[n + j] * (h[b, j] * R[2, b, j] if dropped else h[b, j])
        if not reset_after:
            gemm(rh, U_h, gates[t, :, 2 * n:], 1.0)                 # F3' (before phi)
            for b in range(B):
                activate_in_place(gates[t, b, 2 * n:], act, exact)
        for b in range(B):
            row = gates[t, b]
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                z, g = row[j], row[2 * n + j]
                # F4 as g - z g rather than (1 - z) g: the form these loops were tuned and
                # checked against Keras with; the two differ by rounding only.
                h_new = z * h[b, j] + (g - z * g)                   # F4
                H[t, b, j] = h[b, j] + m * (h_new - h[b, j]) if masked else h_new   # F5
        h = H[t]
    return gates, HU_h, H


@backward_loop.fused
def backward_loop_fused(gates, HU_h, H, h0, U, dH, dh_T, act, rec_act, reset_after, mask, R):
    """backward_loop for Numba: one pass per step, the products with U^T added by BLAS."""
    T, B, n = H.shape
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    dXW = np.empty_like(gates)
    dHU = np.empty_like(gates)
    da_g = np.empty((B, n), H.dtype)
    drh = np.empty((B, n), H.dtype)           # d(r h_{t-1}) (reset_after=False)
    dh_next = dh_T.copy()
    s_act, act_poly = derivative_polynomial(act, gates)
    s_rec, rec_poly = derivative_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    for t in range(T - 1, -1, -1):
        h_prev = H[t - 1] if t > 0 else h0
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                z, r, g = gates[t, b, j], gates[t, b, n + j], gates[t, b, 2 * n + j]
                dh_out = dH[t, b, j] + dh_next[b, j]
                dh = dh_out * m if masked else dh_out               # B1
                dz = dh * (h_prev[b, j] - g)                        # B2
                d_g = derivative_by_polynomial(g, s_act) if poly else derivative_element(g, act)
                dg = (dh - dh * z) * d_g                            # B2: dh (1 - z) phi'(g)
                da_z = dz * (derivative_by_polynomial(z, s_rec) if poly else derivative_element(z, rec_act))   # B3
                dXW[t, b, j] = da_z
                dXW[t, b, 2 * n + j] = dg
                da_g[b, j] = dg
                dh_next[b, j] = dh * z + (dh_out - dh)              # B5 / B5' direct part, B7
                if reset_after:
                    d_r = derivative_by_polynomial(r, s_rec) if poly else derivative_element(r, rec_act)
                    da_r = dg * HU_h[t, b, j] * d_r                 # B4
                    dXW[t, b, n + j] = da_r
                    dHU[t, b, j] = da_z
                    dHU[t, b, n + j] = da_r
                    dHU[t, b, 2 * n + j] = dg * r
        if reset_after:
            recurrent_grad_into(dHU[t], U, R, dh_next, 1.0)         # B5
        else:
            gemm(da_g, U_h.T, drh, 0.0)                             # B4'
            for b in range(B):
                for j in range(n):
                    r = gates[t, b, n + j]
                    h_h = h_prev[b, j] * R[2, b, j] if dropped else h_prev[b, j]
                    d_r = derivative_by_polynomial(r, s_rec) if poly else derivative_element(r, rec_act)
                    dXW[t, b, n + j] = drh[b, j] * h_h * d_r
                    dh_next[b, j] += drh[b, j] * r * R[2, b, j] if dropped else drh[b, j] * r
            recurrent_grad_into(dXW[t, :, :2 * n], U_zr, R[:2], dh_next, 1.0)   # B5'
    if not reset_after:
        dHU = dXW.copy()
    return dXW, dHU, dh_next
