"""The recurrent products written in place, for the fused loops.

The reference loops compute h_{t-1} U and dM U^T as new arrays
(:func:`minirnn.cells.base.recurrent_product`, :func:`~minirnn.cells.base.recurrent_grad`).
The fused loops add them by BLAS straight into the array that already holds the rest
of the sum (beta = 1 in C = A B + beta C), so nothing is allocated per step.
"""
import numpy as np

from ..backend import kernel
from ..blas import float_signatures, gemm
from ..cells.base import recurrent_grad, recurrent_product


@kernel
def add_recurrent_product(h, U, R, out):
    """out += recurrent_product(h, U, R), in place."""
    out += recurrent_product(h, U, R)


@add_recurrent_product.fused(signatures=float_signatures("void({t}[:, :], {t}[:, :], {t}[:, :, :], {t}[:, :])"))
def add_recurrent_product_blas(h, U, R, out):
    """add_recurrent_product by BLAS, straight into `out`."""
    if R.shape[0] == 0:
        gemm(h, U, out, 1.0)
        return
    n = h.shape[1]
    hR = np.empty_like(h)
    for g in range(U.shape[1] // n):
        for b in range(h.shape[0]):
            for j in range(n):
                hR[b, j] = h[b, j] * R[g, b, j]
        gemm(hR, U[:, g * n:(g + 1) * n], out[:, g * n:(g + 1) * n], 1.0)


@kernel
def recurrent_grad_into(dM, U, R, out, beta):
    """out = recurrent_grad(dM, U^T, R) + beta * out, in place (beta 0 or 1)."""
    grad = recurrent_grad(dM, np.ascontiguousarray(U.T), R)
    out[...] = grad if beta == 0 else grad + beta * out


@recurrent_grad_into.fused(
    signatures=float_signatures("void({t}[:, :], {t}[:, :], {t}[:, :, :], {t}[:, :], float64)"))
def recurrent_grad_into_blas(dM, U, R, out, beta):
    """recurrent_grad_into by BLAS, U^T read in place."""
    if R.shape[0] == 0:
        gemm(dM, U.T, out, beta)
        return
    n = U.shape[0]
    part = np.empty_like(out)
    if beta == 0:
        out[...] = 0
    for g in range(U.shape[1] // n):
        gemm(dM[:, g * n:(g + 1) * n], U[:, g * n:(g + 1) * n].T, part, 0.0)
        for b in range(out.shape[0]):
            for j in range(n):
                out[b, j] += part[b, j] * R[g, b, j]
