"""Matrix products written into arrays that already exist: C = A B + beta C.

The time loops make one small product per step (h_{t-1} U), and x_t W + b is one
large product before them.  These go through :func:`gemm`, which calls
BLAS's sgemm/dgemm directly: the BLAS that SciPy ships, through the entry point
Numba itself uses for ``np.dot``.  The result lands in place, nothing is
allocated per step, transposed operands need no copy, and beta = 1 adds the
product to what C holds.

:func:`gemm` calls the same routine with the same transpose flags under both
backends: compiled, through Numba's ``numba_xxgemm``; as NumPy, through SciPy's
f2py wrapper of it.  So a product gives the same bits whichever backend runs it
(NumPy's own ``@`` calls another BLAS build, whose kernels may round differently).

Row-major C (m, n) is column-major C^T, so C = A B is computed as
C^T = B^T A^T; an operand that is a transposed view is passed with BLAS's
transpose flag instead of being copied.
"""
import numpy as np

from .backend import CompiledGlobal, kernel


def _declare_xxgemm():
    from numba import types

    return types.ExternalFunction("numba_xxgemm", types.intc(
        types.int8, types.int8, types.int8,              # kind ('s' / 'd'), transa, transb
        types.intp, types.intp, types.intp,              # m, n, k (column-major)
        types.voidptr, types.voidptr, types.intp,        # alpha, a, lda
        types.voidptr, types.intp, types.voidptr,        # b, ldb, beta
        types.voidptr, types.intp))                      # c, ldc


_routines = {}


def _routine(itemsize):
    """SciPy's f2py wrapper of sgemm (itemsize 4) or dgemm (8): the routine numba_xxgemm calls."""
    if not _routines:
        from scipy.linalg.blas import dgemm, sgemm

        _routines.update({4: sgemm, 8: dgemm})
    return _routines[itemsize]


def _transposed(X):
    """Whether gemm_blas passes X with BLAS's transpose flag ('t' from column_major_view)."""
    flags = X.flags                    # the two common layouts decided without the strides
    if flags.c_contiguous:
        return False
    if flags.f_contiguous:
        return True
    return column_major_view.py(X)[0] == _T


def _gemm_numpy(A, B, C, beta):
    """gemm for the NumPy backend: the compiled gemm's checks, transpose flags and BLAS routine,
    through SciPy's f2py wrapper of that routine (an operand without a unit stride is copied
    first, which changes no number)."""
    m, n, k = gemm_sizes.py(A, B, C)
    if m == 0 or n == 0:
        return
    if k == 0:                                  # BLAS would only scale C
        C[...] = C * beta if beta != 0 else 0
        return
    trans_b, trans_a = _transposed(B), _transposed(A)
    # C^T = B^T A^T column-major: B^T is the routine's first operand, A^T its second
    CT = C.T
    out = _routine(C.itemsize)(1.0, B if trans_b else B.T, A if trans_a else A.T, beta, CT,
                               trans_b, trans_a, 1)
    if not CT.flags.f_contiguous:               # f2py computed into a copy of C^T
        C[...] = out.T


_xxgemm = CompiledGlobal(_declare_xxgemm)
_N, _T = np.int8(ord("n")), np.int8(ord("t"))
_SINGLE, _DOUBLE = np.int8(ord("s")), np.int8(ord("d"))


@kernel
def gemm_sizes(A, B, C):
    """(m, n, k) of C = A B + beta C with A (m, k), B (k, n): the shapes checked, C row-major."""
    m, k = A.shape
    n = B.shape[1]
    if B.shape[0] != k or C.shape[0] != m or C.shape[1] != n:
        raise ValueError("gemm: shapes do not match")
    if C.strides[1] != C.itemsize and n > 1 and m > 0:
        raise ValueError("gemm: C must be row-major")
    return m, n, k


@kernel
def column_major_view(X):
    """(BLAS transpose flag, leading dimension) of X^T seen column-major, X 2-D with a unit
    stride along one axis: a row-major X is X^T column-major as it stands ('n'); a
    column-major X (a transposed view) is passed with 't'."""
    rows, cols = X.shape
    s0, s1 = X.strides[0] // X.itemsize, X.strides[1] // X.itemsize
    if cols == 1 or (s1 == 1 and s0 >= cols):
        return _N, max(s0, cols, 1)
    if rows == 1 or (s0 == 1 and s1 >= rows):
        return _T, max(s1, rows, 1)
    raise ValueError("gemm: operand needs a unit stride along one axis")


@kernel(bitwise=True)
def gemm(A, B, C, beta):
    """C = A B + beta C in place, for 2-D A (m, k), B (k, n), C (m, n) of one float dtype.

    beta = 0 ignores what C held (it may be uninitialised)."""
    _gemm_numpy(A, B, C, beta)


@gemm.fused(signatures=["void({t}[:, :], {t}[:, :], {t}[:, :], float64)"])   # per float type in use
def gemm_blas(A, B, C, beta):
    """gemm by BLAS (numba backend): the checks and the call of _gemm_numpy, through numba_xxgemm."""
    m, n, k = gemm_sizes(A, B, C)
    if m == 0 or n == 0:
        return
    if k == 0:                                  # BLAS would only scale C
        for i in range(m):
            for j in range(n):
                C[i, j] = C[i, j] * beta if beta != 0 else 0
        return
    ldc = max(C.strides[0] // C.itemsize, n, 1)
    trans_b, ldb = column_major_view(B)
    trans_a, lda = column_major_view(A)
    scalars = np.empty(2, C.dtype)
    scalars[0] = 1
    scalars[1] = beta
    kind = _SINGLE if C.itemsize == 4 else _DOUBLE
    status = _xxgemm(kind, trans_b, trans_a, n, m, k, scalars.ctypes, B.ctypes, ldb,
                     A.ctypes, lda, scalars[1:].ctypes, C.ctypes, ldc)
    if status != 0:
        raise RuntimeError("gemm: BLAS is not available (Numba finds it through SciPy)")
