"""A measured direction, not library code: the LSTM forward loop with a gate-major layout.

minirnn's fused loops keep a step's gates as (batch, 4n): each sequence is a row, and every inner
loop runs over one row's n units, so at n = 16 each loop is two 8-wide vector iterations behind
its alias checks.  Here a step's gates are (4n, batch) instead (XW^T and U^T h^T): every inner loop
runs over the whole batch.  Same arithmetic per element (float32, the rational tanh, sigmoid as
tanh(a/2)/2 + 1/2); prints both loops' times (the input copy both make subtracted) and their
largest difference.

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
    print(f"T{T} B{B} n{n}: row-per-sequence {t_row - t_copy:.3f} ms, gate-major {t_gm - t_copy:.3f} ms (max |diff| {err:.1e})")
