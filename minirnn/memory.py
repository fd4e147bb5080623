"""Opt-in tuning of the C allocator (glibc's malloc); minirnn never calls it by itself.

Every training step frees and allocates the same large arrays again.  glibc hands
freed memory at the top of its heap back to the system (above ``M_TOP_PAD``, 128 KiB
by default) and serves arrays above its mmap threshold from fresh mmaps; memory
that comes back from the system arrives as fresh pages, each a page fault.  For
big batches that can cost time (benchmarks/allocator.py measures it: page faults and
time per call with and without).  This changes the allocator for the whole process,
so it is the caller's choice:

    import minirnn.memory
    minirnn.memory.keep_freed_memory()        # once, before training
    ...
    minirnn.memory.release_freed_memory()     # glibc's defaults again

Both return False (and do nothing) where malloc has no ``mallopt`` (other C
libraries, other systems).
"""
import ctypes

DEFAULT_TOP_PAD = 64 * 2 ** 20           # what keep_freed_memory keeps by default
MMAP_THRESHOLD = 32 * 2 ** 20            # arrays up to this size come from the heap
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3   # mallopt's parameter numbers (malloc.h)
_GLIBC_TOP_PAD = _GLIBC_MMAP_THRESHOLD = 128 * 1024   # glibc's defaults


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


def release_freed_memory():
    """Undo :func:`keep_freed_memory`: glibc's default top pad and mmap threshold (128 KiB each).
    The threshold then stays fixed at its default (glibc adapts it only until it is first set).
    True when applied."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_THRESHOLD) and mallopt(_M_TOP_PAD, _GLIBC_TOP_PAD))
