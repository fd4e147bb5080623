"""The recurrent products for the fused loops: cells/base.py's, with the dropout masks applied
in explicit loops (an array expression would also compile Numba's shape-mismatch error
machinery, a third of the whole compile time).  The same products and the same arithmetic
in the same order, so the same bits.
"""
import numpy as np

from ..blas import gemm
from ..cells.base import recurrent_grad_into, recurrent_product_into

# Compiled once per float type in use; the loops pass slices of many layouts.
SIGNATURES = ["void({t}[:, :], {t}[:, :], {t}[:, :, :], {t}[:, :])"]


@recurrent_product_into.fused(signatures=SIGNATURES)
def recurrent_product_into_blas(h, U, R, out):
    """recurrent_product_into for Numba."""
    if R.shape[0] == 0:
        gemm(h, U, out, 0.0)
        return
    B, n = h.shape
    hR = np.empty((B, n), h.dtype)
    for g in range(U.shape[1] // n):
        for b in range(B):
            for j in range(n):
                hR[b, j] = h[b, j] * R[g, b, j]
        gemm(hR, U[:, g * n:(g + 1) * n], out[:, g * n:(g + 1) * n], 0.0)


@recurrent_grad_into.fused(signatures=SIGNATURES)
def recurrent_grad_into_blas(dM, U, R, out):
    """recurrent_grad_into for Numba."""
    if R.shape[0] == 0:
        gemm(dM, U.T, out, 0.0)
        return
    B, n = out.shape
    part = np.empty((B, n), out.dtype)
    for g in range(U.shape[1] // n):
        gemm(dM[:, g * n:(g + 1) * n], U[:, g * n:(g + 1) * n].T, part, 0.0)
        for b in range(B):
            for j in range(n):
                out[b, j] = part[b, j] * R[g, b, j] if g == 0 else out[b, j] + part[b, j] * R[g, b, j]
