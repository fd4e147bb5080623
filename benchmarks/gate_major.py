"""A measured direction, not library code: the LSTM time loops with a gate-major layout.

minirnn's fused loops keep a step's gates as (batch, 4n): each sequence is a row, and every inner
loop runs over one row's n units, so at n = 16 each loop is two 8-wide vector iterations behind
its alias checks.  Here a step's gates are (4n, batch) instead (XW^T and U^T h^T): every inner loop
runs over the whole batch.  Same arithmetic per element (float32, the rational tanh, sigmoid as
tanh(a/2)/2 + 1/2, the slopes as p + y (q - r y)); prints, forward and backward, both loops' times
(for the forward, less the input copy both make) and their largest difference (the backward's
recurrent product is U dA^T here, dA U^T there: BLAS may round the two differently).

    python benchmarks/gate_major.py
"""
import time

import numba
import numpy as np

from minirnn import backend
from minirnn.activations import SIGMOID, TANH, tanh_rational
from minirnn.blas import gemm
from minirnn.cells import lstm as L

backend.compile_in_background(False)
f32 = np.dtype("float32")
g = gemm.jit_for(f32)                 # the compiled float32 gemm and tanh, called from the loop below
tr = tanh_rational.jit_for(f32)
HALF = np.float32(0.5)


@numba.njit(nogil=True, error_model="numpy")
def forward_gate_major(XWt, Ut, h0t, c0t):
    """XWt (T, 4n, B) = (x_t W + b)^T; Ut (4n, n) = U^T; h0t, c0t (n, B).  Returns H (T, n, B)."""
    T, width, B = XWt.shape
    n = width // 4
    C = np.empty((T, n, B), XWt.dtype); H = np.empty((T, n, B), XWt.dtype)
    hU = np.empty((width, B), XWt.dtype)
    h, c = h0t, c0t
    for t in range(T):
        g(Ut, h, hU, 0.0)                                   # (4n, n) @ (n, B)
        G = XWt[t]
        for r in range(width):                              # activations, one long row at a time
            row, hu = G[r], hU[r]
            if r >= 2 * n and r < 3 * n:
                for b in range(B):
                    row[b] = tr(row[b] + hu[b])
            else:
                for b in range(B):
                    row[b] = HALF * tr(HALF * (row[b] + hu[b])) + HALF
        for j in range(n):
            i_r, f_r, g_r, o_r = G[j], G[n + j], G[2 * n + j], G[3 * n + j]
            c_prev, c_new, h_new = c[j], C[t, j], H[t, j]
            for b in range(B):
                c_new[b] = f_r[b] * c_prev[b] + i_r[b] * g_r[b]
            for b in range(B):
                h_new[b] = o_r[b] * tr(c_new[b])
        h, c = H[t], C[t]
    return H



@numba.njit(nogil=True, error_model="numpy")
def backward_gate_major(Gt, Ct, phit, c0t, U, dHt, dh_T, dc_T):
    """B1-B4 gate-major: Gt (T, 4n, B) activated gates, Ct / phit (T, n, B), U (n, 4n), dHt (T, n, B),
    dh_T / dc_T (n, B).  Returns (dA (T, 4n, B), dh0, dc0); the slopes as the fused loops write them,
    p + y (q - r y) with (p, q, r) = (1, 0, 1) for tanh and (0, 1, 1) for sigmoid."""
    T, width, B = Gt.shape
    n = width // 4
    one, zero = np.float32(1), np.float32(0)
    dA = np.empty_like(Gt)
    dh_next, dc_next = dh_T.copy(), dc_T.copy()
    dh = np.empty((n, B), Gt.dtype)
    dc = np.empty((n, B), Gt.dtype)
    for t in range(T - 1, -1, -1):
        G, D = Gt[t], dA[t]
        c_prev = Ct[t - 1] if t > 0 else c0t
        for j in range(n):
            dH_r, dn_r, dh_r = dHt[t, j], dh_next[j], dh[j]
            for b in range(B):
                dh_r[b] = dH_r[b] + dn_r[b]                                         # B1
        for j in range(n):
            o_r, phi_r, dh_r, dcn_r, dc_r = G[3 * n + j], phit[t, j], dh[j], dc_next[j], dc[j]
            for b in range(B):
                dc_r[b] = dcn_r[b] + dh_r[b] * o_r[b] * (one + phi_r[b] * (zero - one * phi_r[b]))   # B2
        for j in range(n):
            i_r, f_r, g_r, o_r = G[j], G[n + j], G[2 * n + j], G[3 * n + j]
            dc_r, dh_r, cp_r, phi_r = dc[j], dh[j], c_prev[j], phit[t, j]
            di, df, dg, do = D[j], D[n + j], D[2 * n + j], D[3 * n + j]
            for b in range(B):
                di[b] = dc_r[b] * g_r[b] * (zero + i_r[b] * (one - one * i_r[b]))          # B3
            for b in range(B):
                df[b] = dc_r[b] * cp_r[b] * (zero + f_r[b] * (one - one * f_r[b]))
            for b in range(B):
                dg[b] = dc_r[b] * i_r[b] * (one + g_r[b] * (zero - one * g_r[b]))
            for b in range(B):
                do[b] = dh_r[b] * phi_r[b] * (zero + o_r[b] * (one - one * o_r[b]))
        for j in range(n):
            f_r, dc_r, dcn_r = G[n + j], dc[j], dc_next[j]
            for b in range(B):
                dcn_r[b] = dc_r[b] * f_r[b]                                          # B4
        g(U, D, dh_next, 0.0)                                   # (n, 4n) @ (4n, B)
    return dA, dh_next, dc_next

def bench(f, reps=20):
    f(); ts = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps): f()
        ts.append((time.perf_counter() - t) / reps)
    return sorted(ts)[3] * 1e3


E = np.empty((0, 0, 0), "float32"); M = np.empty((0, 0, 1), "float32")
rng = np.random.default_rng(0)
for (T, B, n) in [(120, 256, 16), (20, 32, 32), (20, 128, 32)]:
    XW = (rng.standard_normal((T, B, 4 * n)) * 0.5).astype("float32")
    U = (rng.standard_normal((n, 4 * n)) * 0.3).astype("float32")
    h0 = np.zeros((B, n), "float32")
    XWt = np.ascontiguousarray(XW.transpose(0, 2, 1)); Ut = np.ascontiguousarray(U.T)
    h0t = np.zeros((n, B), "float32")
    ref = L.forward_loop(XW.copy(), U, h0, h0, TANH, SIGMOID, M, E)[3]
    H = forward_gate_major(XWt.copy(), Ut, h0t, h0t)
    err = np.max(np.abs(H.transpose(0, 2, 1) - ref))
    buf1 = XW.copy(); buf2 = XWt.copy()
    t_row = bench(lambda: (np.copyto(buf1, XW), L.forward_loop(buf1, U, h0, h0, TANH, SIGMOID, M, E)))
    t_gm = bench(lambda: (np.copyto(buf2, XWt), forward_gate_major(buf2, Ut, h0t, h0t)))
    t_copy = bench(lambda: np.copyto(buf1, XW))
    print(f"T{T} B{B} n{n} forward:  row-per-sequence {t_row - t_copy:.3f} ms, gate-major {t_gm - t_copy:.3f} ms "
          f"(max |diff| {err:.1e})")
    gates, C, phi_C, Hr = L.forward_loop(XW.copy(), U, h0, h0, TANH, SIGMOID, M, E)
    dH = rng.standard_normal((T, B, n)).astype("float32")
    zero_state = np.zeros((B, n), "float32")
    dA, dh0, dc0 = L.backward_loop(gates, C, phi_C, h0, U, dH, zero_state, zero_state, TANH, SIGMOID, M, E)
    Gt, Ct, phit = (np.ascontiguousarray(a.transpose(0, 2, 1)) for a in (gates, C, phi_C))
    dHt = np.ascontiguousarray(dH.transpose(0, 2, 1))
    zt = np.zeros((n, B), "float32")
    dAt, dh0t, dc0t = backward_gate_major(Gt, Ct, phit, h0t, U, dHt, zt, zt)
    err_b = max(np.max(np.abs(dAt.transpose(0, 2, 1) - dA)), np.max(np.abs(dh0t.T - dh0)), np.max(np.abs(dc0t.T - dc0)))
    t_row_b = bench(lambda: L.backward_loop(gates, C, phi_C, h0, U, dH, zero_state, zero_state, TANH, SIGMOID, M, E))
    t_gm_b = bench(lambda: backward_gate_major(Gt, Ct, phit, h0t, U, dHt, zt, zt))
    print(f"T{T} B{B} n{n} backward: row-per-sequence {t_row_b:.3f} ms, gate-major {t_gm_b:.3f} ms (max |diff| {err_b:.1e})")
