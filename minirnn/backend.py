"""Numerical settings in one place: the default float type and the kernel backend.

Every time loop in :mod:`minirnn.cells` is written once, in NumPy that Numba can
compile.  :func:`kernel` turns such a function into a :class:`Kernel` that runs
either as plain NumPy (readable, debuggable) or as a cached Numba function.  A
kernel may also register a ``fused`` twin (:meth:`Kernel.fused`): the same
equations with the same signature, written as explicit loops for Numba, which
the numba backend then compiles instead (tests/test_backends.py checks the two agree).

Select the backend with the environment variable ``MINIRNN_BACKEND``
(``numba``, the default, or ``numpy``) or at run time with :func:`set_backend`.

BLAS threads: small layers make many tiny products (h_{t-1} U, microseconds
each), where OpenBLAS worker threads cost more than they save and spin against
each other on a busy machine; large layers gain from every core.
:func:`blas_threads_limited` caps every BLAS pool (NumPy's and SciPy's, which
the compiled kernels call) at :func:`blas_threads` threads while the library
runs, and restores them after; a recurrent layer whose largest product reaches
``LARGE_PRODUCT_MACS`` multiply-adds raises the cap to
:func:`large_work_threads` for its own forward and backward pass.

Cores: sequences are independent, so a large recurrent layer splits its batch
into one chunk per core and runs the chunks side by side (:func:`parallel_map`;
the compiled kernels release the GIL), Bidirectional runs its two directions
side by side, and a layer's weight gradients are computed on a spare core while
the layers below back-propagate (:func:`run_later`).  :func:`set_large_work_threads`
sets how many cores (1: none of this).  Memory: :func:`keep_freed_memory` stops
malloc from handing back the arrays a step frees, which the next step would pay
for again in page faults (``ALLOCATOR_TOP_PAD = None`` leaves malloc alone).
"""
import contextlib
import functools
import os
import threading
import types

import numpy as np

_BACKENDS = ("numba", "numpy")
_backend = os.environ.get("MINIRNN_BACKEND", "numba").lower()
if _backend not in _BACKENDS:
    raise ValueError(f"MINIRNN_BACKEND must be one of {_BACKENDS}, received {_backend!r}")
_floatx = "float32"

JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
_blas_threads = 1          # None: leave BLAS thread pools alone
_large_work_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
LARGE_PRODUCT_MACS = 2 ** 24   # from about here a product gains from a second BLAS thread
_blas = dict(controller=None, depth=0, limiter=None, current=None)
_pool = dict(executor=None, workers=0, pid=None)
_thread = threading.local()              # .worker: this thread runs a parallel_map item
PARALLEL_MIN_MACS = 2 ** 21              # from about here two passes side by side beat handing one to a thread
_compile_lock = threading.RLock()   # re-entrant: compiling a kernel compiles the kernels it calls


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


def blas_threads():
    """Threads BLAS may use while minirnn computes (1 by default; None: not limited)."""
    return _blas_threads


def set_blas_threads(threads):
    """Set :func:`blas_threads` (an int >= 1, or None to leave BLAS alone); returns the previous value."""
    global _blas_threads
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"BLAS threads must be a positive int or None, received {threads!r}")
    previous, _blas_threads = _blas_threads, threads
    return previous


def large_work_threads():
    """Threads BLAS may use for a layer whose products reach :data:`LARGE_PRODUCT_MACS`
    (every core this process may run on, by default)."""
    return _large_work_threads


def set_large_work_threads(threads):
    """Set :func:`large_work_threads` (an int >= 1); returns the previous value."""
    global _large_work_threads
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"large-work threads must be a positive int, received {threads!r}")
    previous, _large_work_threads = _large_work_threads, threads
    return previous


def threads_for(macs):
    """BLAS threads for a layer whose largest product has `macs` multiply-adds."""
    if _blas_threads is None:
        return None
    return _large_work_threads if macs >= LARGE_PRODUCT_MACS else _blas_threads


@contextlib.contextmanager
def blas_threads_limited(threads=None):
    """Cap the BLAS pools at `threads` (default :func:`blas_threads`) for the duration.

    Re-entrant: the outermost use (a whole fit, say) pays for finding the pools (~25 us);
    a nested use with another count (a large layer inside it) switches them directly."""
    if _blas_threads is None or in_parallel_worker():   # the caller of parallel_map set the pools
        yield
        return
    threads = threads or _blas_threads
    if _blas["depth"] == 0:
        if _blas["controller"] is None:    # built once (it scans the loaded libraries: ~10 ms)
            import scipy.linalg.cython_blas  # noqa: F401  load the BLAS Numba calls, so it is seen
            from threadpoolctl import ThreadpoolController

            _blas["controller"] = ThreadpoolController()
            if ALLOCATOR_TOP_PAD is not None:     # None: leave the C allocator alone
                keep_freed_memory()
        _blas["limiter"] = _blas["controller"].limit(limits=threads, user_api="blas")
        _blas["current"] = threads
    previous = _blas["current"]
    if threads != previous:
        _set_pool_threads(threads)
    _blas["depth"] += 1
    try:
        yield
    finally:
        _blas["depth"] -= 1
        if _blas["depth"] == 0:
            _blas["limiter"].restore_original_limits()
        elif threads != previous:
            _set_pool_threads(previous)


def _set_pool_threads(threads):
    for lib in _blas["controller"].lib_controllers:
        if lib.user_api == "blas":
            lib.set_num_threads(threads)
    _blas["current"] = threads


def in_parallel_worker():
    """True on a thread that runs an item of :func:`parallel_map`."""
    return getattr(_thread, "worker", False)


ALLOCATOR_TOP_PAD = 64 * 2 ** 20    # set to None before the first computation to leave malloc alone


def keep_freed_memory(top_pad=None):
    """Ask the C allocator (glibc's malloc) to serve arrays up to 32 MiB from its heaps and keep
    up to `top_pad` bytes (default ALLOCATOR_TOP_PAD) of freed memory at the top of each heap
    instead of returning it.

    Every step frees and allocates the same large arrays again; memory returned to the
    system comes back as fresh pages, each a page fault (measured: a 1024-sequence predict
    took 12 ms instead of 4, a training step 5-10 % longer).  Called once, by the first
    computation, unless ALLOCATOR_TOP_PAD is None; does nothing where malloc has no mallopt
    (other C libraries, other systems)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TOP_PAD, M_MMAP_THRESHOLD = -2, -3
    # Setting either fixes malloc's mmap threshold where it stands (it no longer adapts), so set
    # it too: arrays up to 32 MiB (malloc's ceiling) come from the heap, not from fresh mmaps.
    return bool(mallopt(M_MMAP_THRESHOLD, 32 * 2 ** 20)
                and mallopt(M_TOP_PAD, int(ALLOCATOR_TOP_PAD if top_pad is None else top_pad)))


def parallel_map(fn, items):
    """[fn(item) for item in items], run side by side on up to :func:`large_work_threads` threads.

    Meant for compiled kernels, which release the GIL (``nogil``).  BLAS is held at one thread
    meanwhile (the cores are busy with the items); inside an item, parallel_map runs serially
    and :func:`blas_threads_limited` leaves the pools alone."""
    items = list(items)
    if len(items) <= 1 or _large_work_threads < 2 or in_parallel_worker():
        return [fn(item) for item in items]
    helpers = min(len(items), _large_work_threads) - 1       # this thread runs an item too

    def run(batch):
        return [fn(item) for item in batch]

    batches = [items[k::helpers + 1] for k in range(helpers + 1)]   # round robin over the threads
    with blas_threads_limited(1):
        futures = [_executor(helpers).submit(_as_worker, run, batch) for batch in batches[1:]]
        done = [_as_worker(run, batches[0])] + [f.result() for f in futures]
    results = [None] * len(items)
    for k, batch_results in enumerate(done):
        results[k::helpers + 1] = batch_results
    return results


class _Done:
    """The result of work that already ran, with a Future's ``result()``."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Later:
    """fn() handed to a helper thread; ``result()`` runs it on the calling thread instead when
    no helper has started it yet (the helper is busy with earlier work)."""

    def __init__(self, fn):
        self.fn = fn
        self.future = _executor(1).submit(_as_worker, fn)

    def result(self):
        if self.future.cancel():
            return self.fn()
        return self.future.result()


def run_later(fn, worth_it=True):
    """Start fn() on a spare core; returns an object whose ``result()`` gives its value.  Runs
    it now when it is not `worth_it` (too small to pay for the hand-off) or there is no spare
    core: one core, or already inside parallel work."""
    if not worth_it or _large_work_threads < 2 or in_parallel_worker():
        return _Done(fn())
    return _Later(fn)


def _as_worker(fn, *args):
    _thread.worker = True
    try:
        return fn(*args)
    finally:
        _thread.worker = False


def _executor(helpers):
    """The helper threads (at least `helpers` of them), made once per process."""
    workers = max(helpers, _large_work_threads - 1, 1)
    if _pool["executor"] is None or _pool["workers"] != workers or _pool["pid"] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        if _pool["executor"] is not None and _pool["pid"] == os.getpid():
            _pool["executor"].shutdown(wait=False)
        # a forked child inherits the pool but not its threads: it builds its own
        _pool.update(executor=ThreadPoolExecutor(workers, thread_name_prefix="minirnn"),
                     workers=workers, pid=os.getpid())
    return _pool["executor"]


def limits_blas_threads(method):
    """Decorator: run `method` under :func:`blas_threads_limited`."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with blas_threads_limited():
            return method(*args, **kwargs)
    return wrapper


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
