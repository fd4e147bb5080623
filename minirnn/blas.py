"""Matrix products written into arrays that already exist: C = A B + beta C.

The time loops make one small product per step (h_{t-1} U), and x_t W + b is one
large product before them.  These go through :func:`gemm`, which calls BLAS's
sgemm/dgemm directly: the result lands in place, nothing is allocated per step,
transposed operands need no copy, and beta = 1 adds the product to what C holds.

:func:`gemm` calls one routine with the same arguments under both backends, so a product
gives the same bits whichever backend runs it (the products of ``@`` may take other
routes).  The routine is ``cblas_?gemm`` of the OpenBLAS that NumPy's wheels bundle
(scipy-openblas64): compiled, as a declared C function; as NumPy, through ctypes.  Nothing
else is loaded for it (SciPy's BLAS would cost the first fit ~0.2 s of importing
``scipy.linalg``).  A NumPy built against another BLAS, or ``MINIRNN_BLAS=scipy``, uses
SciPy's: its f2py wrapper as NumPy, and compiled the entry point Numba itself uses for
``np.dot`` (``numba_xxgemm``).  :data:`ROUTE` says which ("numpy" or "scipy"), and
:data:`LIBRARY_PATH` the library file of the first (None for the second).

Row-major C (m, n) is column-major C^T, so C = A B is computed as
C^T = B^T A^T; an operand that is a transposed view is passed with BLAS's
transpose flag instead of being copied.
"""
import ctypes
import glob
import os

import numpy as np

from .backend import CompiledGlobal, kernel


def _bundled_openblas():
    """The OpenBLAS library file NumPy's wheels bundle (ILP64, symbols ``scipy_cblas_?gemm64_``),
    or None (a NumPy built against another BLAS)."""
    numpy_dir = os.path.dirname(np.__file__)
    found = sorted(glob.glob(os.path.join(numpy_dir + ".libs", "libscipy_openblas64_*"))      # Linux, Windows
                   + glob.glob(os.path.join(numpy_dir, ".dylibs", "libscipy_openblas64_*")))   # macOS
    return found[0] if found else None


def _route():
    asked = os.environ.get("MINIRNN_BLAS", "").lower()
    if asked not in ("", "numpy", "scipy"):
        raise ValueError(f"MINIRNN_BLAS must be 'numpy' or 'scipy', received {asked!r}")
    if asked == "scipy":
        return "scipy", None
    path = _bundled_openblas()
    if path is None and asked == "numpy":
        raise ValueError("MINIRNN_BLAS=numpy: this NumPy bundles no scipy-openblas64 library "
                         f"(looked beside {os.path.dirname(np.__file__)}); use MINIRNN_BLAS=scipy")
    return ("numpy", path) if path else ("scipy", None)


ROUTE, LIBRARY_PATH = _route()
_COLUMN_MAJOR = 102                      # CblasColMajor
_cblas = {}                              # itemsize -> ctypes function
_routines = {}                           # itemsize -> SciPy's f2py wrapper


def _cblas_function(itemsize):
    """``scipy_cblas_sgemm64_`` (itemsize 4) or ``..._dgemm64_`` (8) of NumPy's OpenBLAS, by ctypes."""
    if not _cblas:
        # Loaded already by NumPy: found, not loaded again.  PyDLL keeps the GIL through the call:
        # the time loops make thousands of tiny products, and a thread that let the GIL go at
        # each one would wait for it again each time while the compiler thread works.
        library = ctypes.PyDLL(LIBRARY_PATH)
        for size, letter, real in ((4, "s", ctypes.c_float), (8, "d", ctypes.c_double)):
            function = getattr(library, f"scipy_cblas_{letter}gemm64_")
            function.argtypes = ([ctypes.c_int] * 3 + [ctypes.c_int64] * 3
                                 + [real, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                                    real, ctypes.c_void_p, ctypes.c_int64])
            function.restype = None
            _cblas[size] = function
    return _cblas[itemsize]


def _declare_cblas(itemsize):
    """The compiled kernels' handle on :func:`_cblas_function`'s routine: its address given to
    LLVM under the routine's name, so a cached kernel finds it again in a later process."""
    import llvmlite.binding as llvm
    from numba import types

    function = _cblas_function(itemsize)
    llvm.add_symbol(function.__name__, ctypes.cast(function, ctypes.c_void_p).value)
    real = types.float32 if itemsize == 4 else types.float64
    return types.ExternalFunction(function.__name__, types.void(
        types.intc, types.intc, types.intc,                  # order, transa, transb
        types.int64, types.int64, types.int64,               # m, n, k (column-major)
        real, types.voidptr, types.int64,                    # alpha, a, lda
        types.voidptr, types.int64, real,                    # b, ldb, beta
        types.voidptr, types.int64))                         # c, ldc


def _declare_xxgemm():
    from numba import types

    return types.ExternalFunction("numba_xxgemm", types.intc(
        types.int8, types.int8, types.int8,              # kind ('s' / 'd'), transa, transb
        types.intp, types.intp, types.intp,              # m, n, k (column-major)
        types.voidptr, types.voidptr, types.intp,        # alpha, a, lda
        types.voidptr, types.intp, types.voidptr,        # b, ldb, beta
        types.voidptr, types.intp))                      # c, ldc


def _routine(itemsize):
    """SciPy's f2py wrapper of sgemm (itemsize 4) or dgemm (8): the routine numba_xxgemm calls."""
    if not _routines:
        from scipy.linalg.blas import dgemm, sgemm

        _routines.update({4: sgemm, 8: dgemm})
    return _routines[itemsize]


def load_library():
    """Make sure the BLAS :func:`gemm` calls is loaded (so thread controls see it)."""
    if ROUTE == "scipy":
        import scipy.linalg.cython_blas  # noqa: F401


def _blas_operand(X, dtype):
    """X as BLAS may take it: in `dtype`, with a unit stride along one axis (a copy otherwise,
    which changes no number; the compiled gemm refuses such an operand instead)."""
    X = X.astype(dtype, copy=False)
    try:
        column_major_view.py(X)
    except ValueError:
        X = np.ascontiguousarray(X)
    return X


def _gemm_numpy(A, B, C, beta):
    """gemm for the NumPy backend: the compiled gemm's checks and its call of the BLAS routine,
    through ctypes (or SciPy's f2py wrapper of that routine, :data:`ROUTE` "scipy")."""
    A, B = _blas_operand(A, C.dtype), _blas_operand(B, C.dtype)
    n, m, k, trans_b, ldb, trans_a, lda, ldc = gemm_plan.python(A, B, C, beta)
    if k == 0:
        return
    if ROUTE == "numpy":
        _cblas_function(C.itemsize)(_COLUMN_MAJOR, trans_b, trans_a, n, m, k, 1.0, B.ctypes.data, ldb,
                                    A.ctypes.data, lda, beta, C.ctypes.data, ldc)
        return
    trans_b, trans_a = trans_b == _T, trans_a == _T
    CT = C.T
    out = _routine(C.itemsize)(1.0, B if trans_b else B.T, A if trans_a else A.T, beta, CT,
                               trans_b, trans_a, 1)
    if not CT.flags.f_contiguous:               # f2py computed into a copy of C^T
        C[...] = out.T


_sgemm = CompiledGlobal(lambda: _declare_cblas(4))
_dgemm = CompiledGlobal(lambda: _declare_cblas(8))
_xxgemm = CompiledGlobal(_declare_xxgemm)
_N, _T = np.int32(111), np.int32(112)                               # CblasNoTrans, CblasTrans
_CHAR_N, _CHAR_T = np.int8(ord("n")), np.int8(ord("t"))             # the same for numba_xxgemm
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
    stride along one axis: a row-major X is X^T column-major as it stands (no transpose); a
    column-major X (a transposed view) is passed transposed."""
    rows, cols = X.shape
    s0, s1 = X.strides[0] // X.itemsize, X.strides[1] // X.itemsize
    if cols == 1 or (s1 == 1 and s0 >= cols):
        return _N, max(s0, cols, 1)
    if rows == 1 or (s0 == 1 and s1 >= rows):
        return _T, max(s1, rows, 1)
    raise ValueError("gemm: operand needs a unit stride along one axis")


@kernel
def gemm_plan(A, B, C, beta):
    """The column-major BLAS arguments of C^T = B^T A^T + beta C^T: (n, m, k, trans_b, ldb,
    trans_a, lda, ldc), the shapes checked.  k = 0 when nothing is left to multiply: C is
    empty, or A B is (k = 0: C is scaled by beta here, as BLAS would only do that)."""
    m, n, k = gemm_sizes(A, B, C)
    if m == 0 or n == 0:
        return n, m, 0, _N, 1, _N, 1, 1
    if k == 0:
        for i in range(m):
            for j in range(n):
                C[i, j] = C[i, j] * beta if beta != 0 else 0
        return n, m, 0, _N, 1, _N, 1, 1
    trans_b, ldb = column_major_view(B)
    trans_a, lda = column_major_view(A)
    return n, m, k, trans_b, ldb, trans_a, lda, max(C.strides[0] // C.itemsize, n, 1)


@kernel(bitwise=True)
def gemm(A, B, C, beta):
    """C = A B + beta C in place, for 2-D A (m, k), B (k, n), C (m, n) of one float dtype.

    beta = 0 ignores what C held (it may be uninitialised)."""
    _gemm_numpy(A, B, C, beta)


def gemm_cblas(A, B, C, beta):
    """gemm compiled, :data:`ROUTE` "numpy": _gemm_numpy's call of NumPy's OpenBLAS."""
    n, m, k, trans_b, ldb, trans_a, lda, ldc = gemm_plan(A, B, C, beta)
    if k == 0:
        return
    if C.itemsize == 4:
        _sgemm(_COLUMN_MAJOR, trans_b, trans_a, n, m, k, np.float32(1), B.ctypes, ldb, A.ctypes, lda,
               np.float32(beta), C.ctypes, ldc)
    else:
        _dgemm(_COLUMN_MAJOR, trans_b, trans_a, n, m, k, 1.0, B.ctypes, ldb, A.ctypes, lda, beta, C.ctypes, ldc)


def gemm_xxgemm(A, B, C, beta):
    """gemm compiled, :data:`ROUTE` "scipy": SciPy's routine through Numba's numba_xxgemm."""
    n, m, k, trans_b, ldb, trans_a, lda, ldc = gemm_plan(A, B, C, beta)
    if k == 0:
        return
    scalars = np.empty(2, C.dtype)
    scalars[0] = 1
    scalars[1] = beta
    kind = _SINGLE if C.itemsize == 4 else _DOUBLE
    status = _xxgemm(kind, _CHAR_N if trans_b == _N else _CHAR_T, _CHAR_N if trans_a == _N else _CHAR_T,
                     n, m, k, scalars.ctypes, B.ctypes, ldb, A.ctypes, lda, scalars[1:].ctypes, C.ctypes, ldc)
    if status != 0:
        raise RuntimeError("gemm: BLAS is not available (Numba finds it through SciPy)")


gemm.fused(gemm_cblas if ROUTE == "numpy" else gemm_xxgemm,
           signatures=["void({t}[:, :], {t}[:, :], {t}[:, :], float64)"])   # per float type in use
