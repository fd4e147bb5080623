"""Tuning of the C allocator (glibc's malloc): on by default, one switch to leave it alone.

Every training step frees and allocates the same large arrays again.  glibc hands
freed memory at the top of its heap back to the system (above ``M_TOP_PAD``, 128 KiB
by default) and serves arrays above its mmap threshold from fresh mmaps; memory
that comes back from the system arrives as fresh pages, each a page fault.
benchmarks/allocator.py measures it (2-core machine, December 2026): a predict over
1024 sequences makes about 3,600 page faults per call with glibc's defaults and none
with :func:`keep_freed_memory`, and takes 55-65 ms instead of 16-22 ms; an LSTM(64)
training step (batch 256, 120 steps) 357-382 ms instead of 235-360 ms.

So minirnn's first computation calls :func:`keep_freed_memory` once.  It changes the
allocator for the whole process, so it is documented (README, "What minirnn changes in
your process") and the caller's to refuse or undo:

    import minirnn.memory
    minirnn.memory.AUTOMATIC = False          # before the first computation: malloc left alone
    minirnn.memory.release_freed_memory()     # or later: glibc's defaults again

Both functions return False (and do nothing) where malloc has no ``mallopt`` (other C
libraries, other systems).
"""
import ctypes

AUTOMATIC = True                         # False: minirnn's first computation leaves malloc alone
DEFAULT_TOP_PAD = 64 * 2 ** 20           # what keep_freed_memory keeps by default
MMAP_THRESHOLD = 32 * 2 ** 20            # arrays up to this size come from the heap
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3   # mallopt's parameter numbers (malloc.h)
_GLIBC_TOP_PAD = _GLIBC_MMAP_THRESHOLD = 128 * 1024   # glibc's defaults
_decided = [False]                       # apply_once ran, or the caller chose already


def _mallopt():
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def keep_freed_memory(top_pad=DEFAULT_TOP_PAD):
    """Ask malloc to serve arrays up to 32 MiB from its heaps and keep up to `top_pad` bytes of
    freed memory at the top of each heap instead of returning it.  True when applied.

    Setting either parameter stops malloc from adapting its mmap threshold, so both are set:
    with M_TOP_PAD alone, arrays above the threshold where it froze would still come from
    fresh mmaps."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TOP_PAD, int(top_pad)))


def apply_once():
    """Called by minirnn's computations: :func:`keep_freed_memory` the first time, if AUTOMATIC
    (and the caller has not released it already); nothing after that."""
    if not _decided[0]:
        _decided[0] = True
        if AUTOMATIC:
            keep_freed_memory()


def release_freed_memory():
    """Undo :func:`keep_freed_memory`: glibc's default top pad and mmap threshold (128 KiB each).
    The threshold then stays fixed at its default (glibc adapts it only until it is first set).
    minirnn does not set them again.  True when applied."""
    _decided[0] = True
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_THRESHOLD) and mallopt(_M_TOP_PAD, _GLIBC_TOP_PAD))
