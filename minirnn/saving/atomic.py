"""Atomic writes: a crash mid-save leaves the previous file intact.

The file is written to ``.<name>.<random>.minirnn-tmp`` beside the target (locked while it
is written), flushed and fsync'ed, then moved over the target with ``os.replace``; the next
save to the same path removes what an interrupted save left behind.
"""
import contextlib
import os
import re
import secrets
import time as _time

try:
    import fcntl
except ImportError:                     # Windows: stale temporary files are found by age
    fcntl = None

TEMP_SUFFIX = ".minirnn-tmp"


def _temp_pattern(path):
    return re.compile(re.escape(f".{os.path.basename(path)}.") + r"[0-9a-f]{12}" + re.escape(TEMP_SUFFIX) + "$")


def _remove_stale_temps(path):
    """Remove the temporary files that interrupted saves to `path` left behind: those no live
    writer holds locked (without file locks, those older than an hour)."""
    directory = os.path.dirname(os.path.abspath(path))
    pattern = _temp_pattern(path)
    try:
        names = [n for n in os.listdir(directory) if pattern.match(n)]
    except OSError:
        return
    for name in names:
        temp = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if fcntl is None:
                if os.stat(temp).st_mtime < _time.time() - 3600:
                    os.unlink(temp)
                continue
            fd = os.open(temp, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # fails while its writer lives
                os.unlink(temp)
            finally:
                os.close(fd)


def atomic_write(path, write):
    """Write `path` through ``write(file)`` atomically: a temporary file
    ``.<name>.<random>.minirnn-tmp`` beside it (locked while written), flushed and fsync'ed,
    then ``os.replace``d over `path`.  On any error the temporary file is removed and the
    previous `path`, if any, is left untouched; temporary files of interrupted earlier saves
    to `path` are removed first.  OS errors name `path`, not the temporary file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temps(path)
    temp = None
    try:
        while True:
            temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                break
            except FileExistsError:
                continue
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:
                os.replace(temp, path)              # still locked: no cleaner takes it meanwhile
        if fcntl is None:
            os.replace(temp, path)
    except BaseException as e:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        if isinstance(e, OSError):                  # name the target, not the temporary file
            message = f"Cannot save {path!r}: {e.strerror or e}"
            raise (type(e)(e.errno, message) if e.errno else type(e)(message)) from None
        raise
    if hasattr(os, "O_DIRECTORY"):                      # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
