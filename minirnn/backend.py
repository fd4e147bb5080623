"""Numerical settings in one place: the default float type and the kernel backend.

Every time loop in :mod:`minirnn.cells` is written once, in NumPy that Numba can
compile.  :func:`kernel` turns such a function into a :class:`Kernel` that runs
either as plain NumPy (readable, debuggable) or as a cached Numba function.  A
kernel may also register a ``fused`` twin (:meth:`Kernel.fused`): the same
equations with the same signature, written as explicit loops for Numba, which
the numba backend then compiles instead (the twins live in :mod:`minirnn.kernels`;
tests/test_backends.py checks the two agree).

Select the backend with the environment variable ``MINIRNN_BACKEND``
(``numba``, the default, or ``numpy``) or at run time with :func:`set_backend`.

Compiling a kernel the first time (Numba's cache on disk keeps it afterwards) takes
seconds: :func:`compile_seconds` counts that time, so progress bars can leave it out of
their step times, and :func:`compile_notice` names who says "compiling kernels" when it starts.

Cores and BLAS threads are :mod:`minirnn.parallel`'s job; the C allocator,
:mod:`minirnn.memory`'s.
"""
import os
import threading
import time
import types

import numpy as np

_BACKENDS = ("numba", "numpy")
_backend = os.environ.get("MINIRNN_BACKEND", "numba").lower()
if _backend not in _BACKENDS:
    raise ValueError(f"MINIRNN_BACKEND must be one of {_BACKENDS}, received {_backend!r}")
_floatx = "float32"

JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
_compile_lock = threading.RLock()   # re-entrant: compiling a kernel compiles the kernels it calls
COMPILING_MESSAGE = "compiling kernels (first use, cached afterwards)\u2026"
# Numba compiles under its global lock, one kernel at a time; a kernel compiles the kernels it calls
# inside its own compilation, so only the outermost one is timed.
_compiling = dict(listening=False, depth=0, started=0.0, seconds=0.0, announced=False, notice=None)


def backend():
    """The active kernel backend: ``'numba'`` or ``'numpy'``."""
    return _backend


def set_backend(name):
    """Switch every kernel to ``'numba'`` or ``'numpy'``; returns the previous one."""
    global _backend
    name = str(name).lower()
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, received {name!r}")
    previous, _backend = _backend, name
    return previous


def floatx():
    """Default float dtype of new layers (``'float32'`` like Keras)."""
    return _floatx


def set_floatx(dtype):
    """Set the default float dtype: ``'float32'`` or ``'float64'``."""
    global _floatx
    dtype = np.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64', received {dtype!r}")
    _floatx = dtype


def compile_seconds():
    """Seconds this process has spent compiling kernels (cache misses only: loading a
    compiled kernel from Numba's cache is not compiling)."""
    return _compiling["seconds"] + (time.perf_counter() - _compiling["started"] if _compiling["depth"] else 0.0)


def compile_notice(announce):
    """Make `announce()` (or nobody, for None) the one to call when kernels start to compile;
    it is called once per process.  Returns the previous one."""
    previous, _compiling["notice"] = _compiling["notice"], announce
    return previous


def _listen_to_compilation():
    from numba.core import event

    class CompileClock(event.Listener):
        def on_start(self, _event):
            _compiling["depth"] += 1
            if _compiling["depth"] == 1:
                _compiling["started"] = time.perf_counter()
                if not _compiling["announced"] and _compiling["notice"] is not None:
                    _compiling["announced"] = True
                    _compiling["notice"]()

        def on_end(self, _event):
            _compiling["depth"] -= 1
            if _compiling["depth"] == 0:
                _compiling["seconds"] += time.perf_counter() - _compiling["started"]

    event.register("numba:compile", CompileClock())
    _compiling["listening"] = True


class Kernel:
    """A NumPy function that also runs compiled by Numba.

    Calling it dispatches on :func:`backend`.  When compiled, every other
    ``Kernel`` it refers to is swapped for that kernel's compiled twin, so
    helpers (activations, say) are shared by both paths without duplication.
    """

    def __init__(self, func):
        self.py = func
        self.source = func        # what the numba backend compiles (see fused)
        self.signatures = None    # Numba signatures to compile, else one per argument types
        self._jit = None
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    @property
    def jit(self):
        if self._jit is None:
            with _compile_lock:        # kernels may first run on several threads at once
                if self._jit is None:
                    self._jit = self._compile()
        return self._jit

    def _compile(self):
        import numba

        if not _compiling["listening"]:
            _listen_to_compilation()
        func = self.source
        scope = dict(func.__globals__)
        for name in func.__code__.co_names:
            if isinstance(scope.get(name), (Kernel, CompiledGlobal)):
                scope[name] = scope[name].jit
        twin = types.FunctionType(func.__code__, scope, func.__name__,
                                  func.__defaults__, func.__closure__)
        twin.__module__, twin.__qualname__ = func.__module__, func.__qualname__
        if self.signatures:
            return numba.njit(list(self.signatures), **JIT_OPTIONS)(twin)
        return numba.njit(**JIT_OPTIONS)(twin)

    def fused(self, func=None, *, signatures=None):
        """Decorator: compile `func` (same signature and results, loops fused for Numba)
        instead of the NumPy function under the numba backend.  Returns `func` unchanged.

        `signatures` (Numba signature strings) compile only those versions: a small
        helper called with arrays of many layouts then compiles once per dtype, which
        keeps the first run short; arguments are converted to the declared layout."""
        def register(func):
            self.source, self.signatures, self._jit = func, signatures, None
            return func
        return register if func is None else register(func)

    def __call__(self, *args):
        return (self.jit if _backend == "numba" else self.py)(*args)

    def __repr__(self):
        return f"<minirnn kernel {self.__name__}>"


class CompiledGlobal:
    """A global of a compiled kernel that needs Numba to be built (a declared C function,
    say); built when the first kernel using it compiles, so ``import minirnn`` stays light."""

    def __init__(self, build):
        self.build = build
        self._value = None

    @property
    def jit(self):
        if self._value is None:
            self._value = self.build()
        return self._value


def kernel(func):
    """Decorator: make ``func`` a :class:`Kernel` (NumPy and Numba paths)."""
    return Kernel(func)
