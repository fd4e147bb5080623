"""Cores and BLAS threads: everything minirnn runs side by side.

Sequences are independent, so a large recurrent layer splits its batch into one
chunk per core and runs the chunks side by side (:func:`batch_chunks`,
:func:`forward_in_chunks`, :func:`backward_in_chunks`; the compiled kernels
release the GIL); ``Bidirectional`` runs its two directions side by side
(:func:`parallel_map`); and the weight gradients of a layer from ``LATER_MIN_MACS``
multiply-adds are computed on a spare core while the layers below back-propagate
(:func:`run_later`).
:func:`set_large_work_threads` sets how many cores (1: none of this).

BLAS threads: small layers make many tiny products (h_{t-1} U, microseconds
each), where OpenBLAS worker threads cost more than they save and spin against
each other on a busy machine; large layers gain from every core.
:func:`blas_threads_limited` caps every BLAS pool (the one :mod:`minirnn.blas` calls
among them) at :func:`blas_threads` threads while minirnn computes,
and restores them after; a recurrent layer whose largest product reaches
``LARGE_PRODUCT_MACS`` multiply-adds raises the cap to :func:`large_work_threads`
for its own forward and backward pass.  ``set_blas_threads(None)`` leaves the pools
alone.
"""
import contextlib
import functools
import os
import threading

import numpy as np

from . import blas, memory

_blas_threads = 1          # None: leave BLAS thread pools alone
_large_work_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
LARGE_PRODUCT_MACS = 2 ** 24   # from about here a product gains from a second BLAS thread
_blas = dict(controller=None, depth=0, limiter=None, current=None)
_pool = dict(executor=None, workers=0, pid=None)
_thread = threading.local()              # .worker: this thread runs a parallel_map item
PARALLEL_MIN_MACS = 2 ** 21              # from about here two passes side by side beat handing one to a thread
MIN_CHUNK_ROWS = 32                      # a batch chunk has at least this many sequences
# Splitting adds copies and joins to the hand-off to a thread, so it needs more work than running
# two whole passes side by side (measured: SimpleRNN(40) at batch 128 loses, GRU(32) gains).
SPLIT_MIN_MACS = 3 * PARALLEL_MIN_MACS
# Handing a layer's weight gradients to the spare core (run_later) gained nothing below this
# (measured on a 2-core Xeon: SimpleRNN(40) at batch 128, 4.1M multiply-adds, 1.77 -> 1.67 ms
# a training step when computed in line; GRU(32) at batch 32 the same either way).
LATER_MIN_MACS = SPLIT_MIN_MACS


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
    a nested use with another count (a large layer inside it) switches them directly.
    The first use also tunes the C allocator once (:func:`minirnn.memory.apply_once`)."""
    memory.apply_once()
    if _blas_threads is None or in_parallel_worker():   # the caller of parallel_map set the pools
        yield
        return
    threads = threads or _blas_threads
    if _blas["depth"] == 0:
        if _blas["controller"] is None:    # built once (it scans the loaded libraries: ~10 ms)
            blas.load_library()            # the BLAS the products call, so that it is seen
            from threadpoolctl import ThreadpoolController

            _blas["controller"] = ThreadpoolController()
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


# -- a recurrent layer's batch, split across cores ------------------------------------
def batch_chunks(batch, macs):
    """Row ranges of the batch that run side by side, one per core, for a layer whose largest
    product has `macs` multiply-adds: sequences are independent, so each range is a whole
    forward (or backward) pass of its own.  One range when the batch or the work is too small
    to gain from it."""
    parts = min(_large_work_threads, batch // MIN_CHUNK_ROWS)
    if parts < 2 or macs < SPLIT_MIN_MACS or in_parallel_worker():
        return [slice(0, batch)]
    edges = np.linspace(0, batch, parts + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def rows(a, chunk, axis):
    """The chunk's rows of a (contiguous); empty 'unused' arrays pass through.  A sequence's
    chunk is the cell's ``batch_rows`` (a view where the cell reads one as it stands)."""
    if a.shape[0] == 0:
        return a
    return np.ascontiguousarray(a[(slice(None),) * axis + (chunk,)])


def forward_in_chunks(cell, chunks, X, states, M, R, input_masks, last_only=False):
    """cell.forward over the batch chunks (time-major arrays), joined: (H, final_states, cache),
    where cache = (chunks, one cell cache per chunk).  With `last_only` H holds the last step
    only, (1, B, n): a layer that returns no sequence joins no more."""
    if len(chunks) == 1:
        H, final_states, cache = cell.forward(X, states, M, R, input_masks)
        return H[-1:] if last_only else H, final_states, (chunks, [cache])

    def part(chunk):
        chunk_masks = None if input_masks is None else [rows(m, chunk, 0) for m in input_masks]
        return cell.forward(cell.batch_rows(X, chunk), [rows(s, chunk, 0) for s in states], rows(M, chunk, 1),
                            rows(R, chunk, 1), chunk_masks)
    results = parallel_map(part, chunks)
    H = np.concatenate([r[0][-1:] if last_only else r[0] for r in results], axis=1)
    final_states = [np.concatenate([r[1][k] for r in results]) for k in range(len(states))]
    return H, final_states, (chunks, [r[2] for r in results])


def backward_in_chunks(cell, cache, dH, dstates, macs, input_grad=True):
    """cell.backward over the chunks of :func:`forward_in_chunks`: (dX, weight-gradient job,
    dstates0); the job's ``result()`` is the list of gradients aligned with ``cell.weights``.
    dX is None when not `input_grad` (a cell that ``skips_input_grad``).

    One chunk: the weight gradients, needed only by the optimizer, are computed on a spare
    core while the layers below back-propagate (see ``Cell.backward_phases``), when they are
    big enough (`macs`) to pay for the hand-off and there are layers below (`input_grad`;
    without them the optimizer would wait for the gradients at once).  Several chunks: each
    runs its whole backward pass side by side, dX is joined and the gradients summed."""
    chunks, caches = cache
    if len(chunks) == 1:
        dX, dstates0, weight_grads = (cell.backward_phases(caches[0], dH, dstates) if input_grad else
                                      cell.backward_phases(caches[0], dH, dstates, input_grad=False))
        later = macs >= LATER_MIN_MACS and input_grad
        return dX, run_later(lambda: cell.ordered(weight_grads()), later), dstates0

    def part(job):
        chunk, chunk_cache = job
        dX, dstates0, grads = cell.backward(chunk_cache, cell.batch_rows(dH, chunk),
                                            [rows(d, chunk, 0) for d in dstates],
                                            input_grad)
        return dX, dstates0, cell.ordered(grads)
    results = parallel_map(part, list(zip(chunks, caches)))
    dX = np.concatenate([r[0] for r in results], axis=1) if input_grad else None
    dstates0 = [np.concatenate([r[1][k] for r in results]) for k in range(len(dstates))]
    grads = [sum(r[2][k] for r in results) for k in range(len(results[0][2]))]
    return dX, run_later(lambda: grads, worth_it=False), dstates0
