"""Matrix products written into arrays that already exist: C = A B + beta C.

The time loops make one small product per step (h_{t-1} U), and x_t W + b is one
large product before them.  These go through :func:`gemm`, which calls BLAS's
sgemm/dgemm directly: the result lands in place, nothing is allocated per step,
transposed operands need no copy, and beta = 1 adds the product to what C holds.

:func:`gemm` calls one routine with the same arguments under both backends, so a product
gives the same bits whichever backend runs it (the products of ``@`` may take other
routes).  The routine is ``cblas_?gemm`` of scipy-openblas64, the OpenBLAS that NumPy's
wheels bundle (:data:`LIBRARY_PATH` once found): compiled, as a declared C function; as
NumPy, through ctypes.  Nothing else is loaded for it.  A NumPy built against another BLAS
bundles none; then the ``scipy-openblas64`` package provides the same library.

Row-major C (m, n) is column-major C^T, so C = A B is computed as
C^T = B^T A^T; an operand that is a transposed view is passed with BLAS's
transpose flag instead of being copied.  A column-major C (a transposed view, as
the column-layout loops of cells/lstm.py pass) is the same product transposed:
C^T = B^T A^T with C^T row-major.
"""
import ctypes
import glob
import importlib.util
import os

import numpy as np

from .backend import CompiledGlobal, kernel

LIBRARY_PATH = None                      # the library file gemm calls, once found
_COLUMN_MAJOR = 102                      # CblasColMajor
_cblas = {}                              # itemsize -> ctypes function


def openblas_path(numpy_dir=os.path.dirname(np.__file__)):
    """The scipy-openblas64 library file: NumPy's own (its wheels bundle it beside the package),
    else the ``scipy-openblas64`` package's; an error that says what to install if neither."""
    found = sorted(glob.glob(os.path.join(numpy_dir + ".libs", "libscipy_openblas64_*"))      # Linux, Windows
                   + glob.glob(os.path.join(numpy_dir, ".dylibs", "libscipy_openblas64_*")))   # macOS
    if found:
        return found[0]
    spec = importlib.util.find_spec("scipy_openblas64")
    if spec is not None:
        lib_dir = os.path.join(os.path.dirname(spec.origin), "lib")
        found = sorted(glob.glob(os.path.join(lib_dir, "libscipy_openblas64_*")))
        if found:
            return found[0]
    raise RuntimeError("minirnn's products call the OpenBLAS that NumPy's wheels bundle (scipy-openblas64), "
                       f"and this NumPy has none beside it ({numpy_dir}): `pip install scipy-openblas64` "
                       "provides the same library")


def _cblas_function(itemsize):
    """``scipy_cblas_sgemm64_`` (itemsize 4) or ``..._dgemm64_`` (8), by ctypes."""
    global LIBRARY_PATH
    if not _cblas:
        path = openblas_path()
        # NumPy's is loaded already: found, not loaded again.  PyDLL keeps the GIL through the
        # call: the time loops make thousands of tiny products, and a thread that let the GIL go
        # at each one would wait for it again each time while the compiler thread works.
        library = ctypes.PyDLL(path)
        for size, letter, real in ((4, "s", ctypes.c_float), (8, "d", ctypes.c_double)):
            function = getattr(library, f"scipy_cblas_{letter}gemm64_")
            function.argtypes = ([ctypes.c_int] * 3 + [ctypes.c_int64] * 3
                                 + [real, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                                    real, ctypes.c_void_p, ctypes.c_int64])
            function.restype = None
            _cblas[size] = function
        LIBRARY_PATH = path
    return _cblas[itemsize]


def load_library():
    """Find and load the library :func:`gemm` calls (so that thread controls see its pool)."""
    _cblas_function(4)


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


def _data_offset():
    """Where an ndarray object holds its data pointer (PyArrayObject's ``data`` field, right
    after the object header): found on a probe array, None if not where expected."""
    probe = np.empty(3)
    for offset in range(8, 64, 8):
        if ctypes.c_void_p.from_address(id(probe) + offset).value == probe.ctypes.data:
            return offset
    return None


_DATA_OFFSET = _data_offset()


def _address(X):
    """The address of X's first element.  ``X.ctypes.data`` builds an object each time (~2 us,
    three per product, thousands of products an epoch); reading the field costs a tenth."""
    if _DATA_OFFSET is None:
        return X.ctypes.data
    return ctypes.c_void_p.from_address(id(X) + _DATA_OFFSET).value


def _blas_operand(X, dtype):
    """X as BLAS may take it: in `dtype`, with a unit stride along one axis (a copy otherwise,
    which changes no number; the compiled gemm refuses such an operand instead)."""
    X = X.astype(dtype, copy=False)
    if X.flags.c_contiguous or X.flags.f_contiguous:     # the common layouts, decided by their flags
        return X
    try:
        column_major_view.py(X)
    except ValueError:
        X = np.ascontiguousarray(X)
    return X


def _gemm_numpy(A, B, C, beta):
    """gemm for the NumPy backend: the compiled gemm's checks and its call of the BLAS routine,
    through ctypes."""
    if C.dtype.char not in "fd":
        raise TypeError(f"gemm: C must be float32 or float64, received {C.dtype}")
    if is_column_major.python(C):
        A, B, C = B.T, A.T, C.T
    A, B = _blas_operand(A, C.dtype), _blas_operand(B, C.dtype)
    n, m, k, trans_b, ldb, trans_a, lda, ldc = gemm_plan.python(A, B, C, beta)
    if k == 0:
        return
    _cblas_function(C.itemsize)(_COLUMN_MAJOR, trans_b, trans_a, n, m, k, 1.0, _address(B), ldb,
                                _address(A), lda, beta, _address(C), ldc)


_sgemm = CompiledGlobal(lambda: _declare_cblas(4))
_dgemm = CompiledGlobal(lambda: _declare_cblas(8))
_N, _T = np.int32(111), np.int32(112)                               # CblasNoTrans, CblasTrans


@kernel
def is_column_major(C):
    """Whether C (m, n) is stored column by column (a transposed view of a row-major array),
    with more than one row and column (a single row or column is both)."""
    return C.shape[0] > 1 and C.shape[1] > 1 and C.strides[0] == C.itemsize


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
    """C = A B + beta C in place, for 2-D A (m, k), B (k, n), C (m, n) of one float dtype,
    C row-major or column-major.

    beta = 0 ignores what C held (it may be uninitialised)."""
    _gemm_numpy(A, B, C, beta)


@gemm.fused(signatures=["void({t}[:, :], {t}[:, :], {t}[:, :], float64)"])   # per float type in use
def gemm_cblas(A, B, C, beta):
    """gemm compiled: _gemm_numpy's call of the BLAS routine."""
    if is_column_major(C):
        A, B, C = B.T, A.T, C.T
    n, m, k, trans_b, ldb, trans_a, lda, ldc = gemm_plan(A, B, C, beta)
    if k == 0:
        return
    if C.itemsize == 4:
        _sgemm(_COLUMN_MAJOR, trans_b, trans_a, n, m, k, np.float32(1), B.ctypes, ldb, A.ctypes, lda,
               np.float32(beta), C.ctypes, ldc)
    else:
        _dgemm(_COLUMN_MAJOR, trans_b, trans_a, n, m, k, 1.0, B.ctypes, ldb, A.ctypes, lda, beta, C.ctypes, ldc)
