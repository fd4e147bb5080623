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
COMPILER_THREAD = "minirnn-compile"     # the background thread that builds bitwise kernels
COMPILING_MESSAGE = "compiling kernels (first use, cached afterwards)\u2026"
# Numba compiles under its global lock, one kernel at a time; a kernel compiles the kernels it calls
# inside its own compilation, so only the outermost one is timed.
_compiling = dict(listening=False, depth=0, started=0.0, seconds=0.0, announced=False, notice=None)
# The float types whose NumPy and compiled kernels give the same bits (tests/test_backends.py checks):
# a kernel marked `bitwise` runs as NumPy in these while its compiled twin builds in the background.
BITWISE_DTYPES = (np.dtype("float32"),)
_compile_in_background = os.environ.get("MINIRNN_COMPILE", "background").lower() != "wait"


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
            if not _compiling["announced"] and _compiling["notice"] is not None:
                _compiling["announced"] = True
                _compiling["notice"]()
            if threading.current_thread().name == COMPILER_THREAD:
                return                  # the caller runs NumPy meanwhile: nobody waits for this
            _compiling["depth"] += 1
            if _compiling["depth"] == 1:
                _compiling["started"] = time.perf_counter()

        def on_end(self, _event):
            if threading.current_thread().name == COMPILER_THREAD:
                return
            _compiling["depth"] -= 1
            if _compiling["depth"] == 0:
                _compiling["seconds"] += time.perf_counter() - _compiling["started"]

    event.register("numba:compile", CompileClock())
    _compiling["listening"] = True


def compile_in_background(flag=None):
    """Whether a kernel marked ``bitwise`` starts as NumPy while its compiled twin builds on a
    background thread (default; ``MINIRNN_COMPILE=wait`` or ``compile_in_background(False)``
    compiles before the first call instead).  With `flag`, sets it; returns the previous value."""
    global _compile_in_background
    previous = _compile_in_background
    if flag is not None:
        _compile_in_background = bool(flag)
    return previous


class Kernel:
    """A NumPy function that also runs compiled by Numba.

    Calling it dispatches on :func:`backend`.  When compiled, every other
    ``Kernel`` it refers to is swapped for that kernel's compiled twin, so
    helpers (activations, say) are shared by both paths without duplication.

    A ``bitwise`` kernel's NumPy function gives the same bits as its compiled twin in the
    float types of :data:`BITWISE_DTYPES`.  Under the numba backend its first call in such
    a type queues the compilation for that type (:class:`_Compiler`) and runs the NumPy
    function meanwhile: the first epochs do not wait for the compiler, and the numbers do
    not depend on when the switch happens.
    """

    def __init__(self, func, bitwise=False):
        self.py = func
        self.source = func        # what the numba backend compiles (see fused)
        self.signatures = None    # Numba signature patterns ('{t}': the float type), see fused
        self.bitwise = bitwise
        self._jits = {}           # float type (None: any other first argument) -> its Numba dispatcher
        self._python = None
        self._ready = {}          # dtype -> the compiled function, once built for that dtype
        self._signature_dtypes = set()
        self.calls_while_compiling = 0   # calls that ran the NumPy function, waiting for the compiler
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def jit_for(self, dtype):
        """The Numba dispatcher that `dtype`'s calls use (built on first use; compiles per
        argument types on call).  Each float type has its own, calling its callees' own: Numba's
        dispatcher is not thread-safe, and one float type's kernels may compile on the compiler
        thread while another thread runs the other type's."""
        key = dtype if dtype in FLOAT_DTYPES else None
        dispatcher = self._jits.get(key)
        if dispatcher is None:
            with _compile_lock:        # kernels may first run on several threads at once
                dispatcher = self._jits.get(key)
                if dispatcher is None:
                    dispatcher = self._jits[key] = self._compile(key)
        return dispatcher

    @property
    def jit(self):
        """The Numba dispatcher for the default float type (:func:`floatx`)."""
        return self.jit_for(np.dtype(_floatx))

    def _compile(self, key):
        import numba

        if not _compiling["listening"]:
            _listen_to_compilation()
        # With signatures, prepare() compiles them and then closes the dispatcher, so callers'
        # array layouts convert to the declared 'A' layout.
        return numba.njit(**JIT_OPTIONS)(self._twin(self.source, lambda value: value.jit_for(key)))

    @property
    def python(self):
        """The NumPy function with every kernel it calls swapped for that kernel's NumPy function,
        whatever the backend (what a bitwise kernel runs while it compiles)."""
        if self._python is None:
            self._python = self._twin(self.py, lambda value: value.python)
        return self._python

    @staticmethod
    def _twin(func, swap):
        """`func` with each kernel (or compiled global) it refers to replaced by `swap(kernel)`."""
        scope = dict(func.__globals__)
        for name in func.__code__.co_names:
            if isinstance(scope.get(name), (Kernel, CompiledGlobal)):
                scope[name] = swap(scope[name])
        twin = types.FunctionType(func.__code__, scope, func.__name__, func.__defaults__, func.__closure__)
        twin.__module__, twin.__qualname__ = func.__module__, func.__qualname__
        return twin

    def callees(self):
        """The kernels this kernel's compiled source calls."""
        scope = self.source.__globals__
        return [scope[name] for name in self.source.__code__.co_names if isinstance(scope.get(name), Kernel)]

    def prepare(self, dtype, _seen=None):
        """Compile the declared signatures for `dtype` of this kernel and of every kernel it calls
        (a caller's compilation then finds them), and nothing for the other float type."""
        seen = set() if _seen is None else _seen
        if id(self) in seen:
            return
        seen.add(id(self))
        for callee in self.callees():
            callee.prepare(dtype, seen)
        if self.signatures and dtype not in self._signature_dtypes:
            with _compile_lock:
                if dtype not in self._signature_dtypes:
                    dispatcher = self.jit_for(dtype)
                    for pattern in self.signatures:
                        dispatcher.compile(pattern.format(t=np.dtype(dtype).name))
                    dispatcher.disable_compile()
                    self._signature_dtypes.add(dtype)

    def compiled_for(self, dtype, args=None):
        """The compiled function for `dtype`, built now (for the types of `args` when given)."""
        with _compile_lock:
            if dtype in FLOAT_DTYPES:
                self.prepare(dtype)
            dispatcher = self.jit_for(dtype)
            if args is not None and not self.signatures:
                import numba

                dispatcher.compile(tuple(numba.typeof(a) for a in args))
        self._ready[dtype] = dispatcher
        return dispatcher

    def fused(self, func=None, *, signatures=None, bitwise=None):
        """Decorator: compile `func` (same signature and results, loops fused for Numba)
        instead of the NumPy function under the numba backend.  Returns `func` unchanged.

        `signatures` (Numba signature patterns, '{t}' standing for the float type) compile
        only those versions, once per float type in use: a small helper called with arrays of
        many layouts then compiles once, which keeps the first run short; arguments are
        converted to the declared layout.  `bitwise` says `func` gives the NumPy function's bits."""
        def register(func):
            self.source, self.signatures, self._jits, self._ready = func, signatures, {}, {}
            if bitwise is not None:
                self.bitwise = bitwise
            return func
        return register if func is None else register(func)

    def __call__(self, *args):
        if _backend == "numpy":
            return self.py(*args)
        dtype = getattr(args[0], "dtype", None) if args else None
        function = self._ready.get(dtype)
        if function is None:
            function = self._first_call(dtype, args)
        return function(*args)

    def _first_call(self, dtype, args):
        if self.bitwise and _compile_in_background and dtype in BITWISE_DTYPES:
            if _compiler.submit(self, dtype, args):
                self.calls_while_compiling += 1
                return self.python
        return self.compiled_for(dtype)

    def __repr__(self):
        return f"<minirnn kernel {self.__name__}>"


FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))   # the float types kernels compile for


class _Compiler:
    """One background thread that compiles queued kernels, one (kernel, float type) at a time.

    A kernel stays on its NumPy function until its own compilation is done.  Work that arrives
    at an idle thread waits :data:`COMPILE_DELAY` first (unless someone waits for it): Numba's
    start and its cache loads are Python that holds the GIL, and a short first fit would share
    it with them.  The thread is a daemon; at exit the interpreter waits for the compilation
    under way only (Numba writes its cache files whole, so a later process finds each one
    complete or not at all)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue = []
        self._queued = set()
        self._idle = threading.Event()
        self._idle.set()
        self._hurry = threading.Event()   # set: no delay before the queued work (see COMPILE_DELAY)
        self._thread = None
        self._stopping = False
        self.errors = []          # (kernel name, error) of compilations that failed

    def submit(self, kernel, dtype, args):
        """Queue `kernel` for `dtype`, compiled for the types of `args`.  False when the queue is
        closed (the interpreter is exiting): the caller compiles it now."""
        with self._cond:
            if self._stopping:
                return False
            key = (id(kernel), dtype)
            if key not in self._queued:
                self._queued.add(key)
                self._queue.append((kernel, dtype, args))
                self._idle.clear()
                if self._thread is None:
                    import atexit

                    self._thread = threading.Thread(target=self._run, name=COMPILER_THREAD, daemon=True)
                    self._thread.start()
                    atexit.register(self._stop)
                self._cond.notify()
        return True

    def _run(self):
        import sys

        previous = sys.getswitchinterval()
        delay = True
        while True:
            if delay:
                self._hurry.wait(COMPILE_DELAY)     # sleeps without the GIL
                delay = False
            with self._cond:
                while not self._queue and not self._stopping:
                    if sys.getswitchinterval() == SWITCH_INTERVAL:    # unless someone else changed it since
                        sys.setswitchinterval(previous)
                    self._idle.set()
                    self._hurry.clear()
                    self._cond.wait()
                    previous = sys.getswitchinterval()
                    delay = True
                if delay and not self._stopping:
                    continue
                sys.setswitchinterval(SWITCH_INTERVAL)
                if self._stopping:
                    self._queue.clear()
                    self._idle.set()
                    return
                kernel, dtype, args = self._queue.pop(0)
            try:
                kernel.compiled_for(dtype, args)
            except Exception as error:  # noqa: BLE001  the kernel keeps running its NumPy function
                self.errors.append((kernel.__name__, repr(error)))

    def busy(self):
        return not self._idle.is_set()

    def wait(self, timeout=None):
        self._hurry.set()
        return self._idle.wait(timeout)

    def _stop(self):
        with self._cond:
            self._stopping = True
            self._hurry.set()
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()


# Seconds queued work waits at an idle compiler thread: a first fit of a small model (~0.1 s on
# NumPy) then ends before Numba starts, instead of taking 0.5-0.8 s sharing the GIL with its start
# (measured on an idle 2-core machine); a longer one switches to compiled kernels this much later.
COMPILE_DELAY = 0.25
# While compiling, the thread that trains on NumPy gets the GIL back within this many seconds of
# asking (Python's default, 5 ms, would make each NumPy call that releases it wait that long).
SWITCH_INTERVAL = 1e-4
_compiler = _Compiler()


def compiling():
    """True while compiled kernels are being built in the background (their NumPy twins run)."""
    return _compiler.busy()


def wait_for_compiled(timeout=None):
    """Block until the background compilations queued so far are done; False on timeout."""
    return _compiler.wait(timeout)


class CompiledGlobal:
    """A global of a compiled kernel that needs Numba to be built (a declared C function,
    say); built when the first kernel using it compiles, so ``import minirnn`` stays light.
    `python` is what the NumPy twin of such a kernel calls instead (see Kernel.python)."""

    def __init__(self, build, python=None):
        self.build = build
        self._value = None
        self._python = python

    @property
    def jit(self):
        if self._value is None:
            self._value = self.build()
        return self._value

    def jit_for(self, dtype):
        """The built value: one for every float type (a C function declares its own types)."""
        return self.jit

    @property
    def python(self):
        return self._python

    def __call__(self, *args):
        return self._python(*args)


def kernel(func=None, *, bitwise=False, signatures=None):
    """Decorator: make ``func`` a :class:`Kernel` (NumPy and Numba paths); ``bitwise=True``
    when both give the same bits, ``signatures`` to compile only those (see :meth:`Kernel.fused`)."""
    def make(func):
        k = Kernel(func, bitwise)
        if signatures:
            k.fused(func, signatures=signatures)
        return k
    return make if func is None else make(func)
