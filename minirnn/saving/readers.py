"""Bounded reading of containers you did not write: ZIP members, JSON, ``.npy`` arrays, HDF5
datasets and safetensors files.

A file is untrusted input.  Every reader here reads no more than it was told to expect and
turns whatever a damaged or hostile file makes the libraries underneath raise into the one
error type, :class:`ModelFileError` (naming the file and the member or field):

* ZIP members: deflate and stored only, at most ``max_bytes`` decompressed, the CRC checked;
* JSON: at most :data:`MAX_CONFIG_BYTES` and :data:`MAX_JSON_DEPTH` levels deep, no NaN;
* ``.npy``: numeric dtypes only (no pickle, no text), the header checked against the shape
  the caller expects before the data is read;
* HDF5: plain groups and datasets only (no external, soft or virtual links, no references),
  every dataset's shape and dtype checked before any data is read;
* weights: a file whose weights take ``n`` bytes on disk may make minirnn allocate at most
  :func:`weight_budget` ``(n)`` bytes (:data:`WEIGHT_BYTES_PER_FILE_BYTE` times ``n``, plus
  :data:`WEIGHT_SLACK_BYTES`, and never more than :data:`MAX_WEIGHT_BYTES`), layers built
  from its config included (:func:`building_limited`).
"""
import contextlib
import io
import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from .. import initializers
from ..serialization import ModelFileError, OverBudget

MAX_CONFIG_BYTES = 16 * 2**20        # config.json / the weights manifest, decompressed
MAX_JSON_DEPTH = 64                  # nesting of lists and objects
MAX_WEIGHT_BYTES = 2 * 2**30         # weights a file may make minirnn allocate
WEIGHT_BYTES_PER_FILE_BYTE = 2       # ... relative to the weights member's bytes on disk
WEIGHT_SLACK_BYTES = 2**20
MAX_NPY_HEADER_BYTES = 10_000
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)   # bounded decompression only
# What a damaged archive or member raises while being read, besides ModelFileError.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, UnicodeDecodeError,
               ValueError, OverflowError, NotImplementedError, RuntimeError, IndexError, KeyError,
               TypeError, OSError, MemoryError, RecursionError)


@contextlib.contextmanager
def reading(path, where):
    """Turn what a damaged file makes the readers raise into a ModelFileError."""
    try:
        yield
    except (ModelFileError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except READ_ERRORS as e:
        raise ModelFileError(path, where, f"the file is damaged or not a minirnn file "
                                          f"({type(e).__name__}: {e})") from None


# -- ZIP, JSON and .npy ------------------------------------------------------------------
def read_member(archive, name, path, max_bytes):
    """The bytes of member `name` of the open ZipFile `archive`, decompressing at most
    `max_bytes` + 1 (deflate and stored members only, the CRC checked); a ModelFileError
    naming `path` and the member otherwise."""
    where = f"member {name!r}"
    with reading(path, where):
        info = archive.getinfo(name)
        if info.compress_type not in ZIP_METHODS:
            raise ModelFileError(path, where, f"compression method {info.compress_type} is not read "
                                              f"(only stored and deflate)")
        if info.file_size > max_bytes:
            raise ModelFileError(path, where, f"it holds {info.file_size:,} bytes, more than the "
                                              f"{max_bytes:,} this member may have")
        with archive.open(info) as f:
            data = f.read(max_bytes + 1)
            if f.read(1):                           # reach the end so the CRC is checked
                raise ModelFileError(path, where, f"it holds more than {max_bytes:,} bytes")
    if len(data) > max_bytes:
        raise ModelFileError(path, where, f"it holds more than {max_bytes:,} bytes")
    return data


def _depth(value):
    """Nesting depth of lists and dicts, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def load_json(data, path, where, max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_JSON_DEPTH):
    """Parse UTF-8 JSON `data` (bytes) of at most `max_bytes` and `max_depth` levels of nesting
    (no NaN/Infinity); a ModelFileError naming `path` and `where` otherwise."""
    if len(data) > max_bytes:
        raise ModelFileError(path, where, f"{len(data):,} bytes of JSON, more than {max_bytes:,}")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as e:
        raise ModelFileError(path, where, f"not UTF-8 text ({e})") from None
    except RecursionError:
        raise ModelFileError(path, where, f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as e:
        raise ModelFileError(path, where, f"not valid JSON ({e})") from None
    if _depth(value) > max_depth:
        raise ModelFileError(path, where, f"JSON nested deeper than {max_depth} levels")
    return value


def read_npy_header(f, path, where):
    """(shape, fortran_order, dtype) from the ``.npy`` header at the start of stream `f`, which
    is left at the data; refuses object, string and structured dtypes (no pickle, no text)."""
    with reading(path, where):
        version = np.lib.format.read_magic(f)
        readers = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ModelFileError(path, where, f".npy format version {version} is not read")
        shape, fortran, dtype = readers[version](f, max_header_size=MAX_NPY_HEADER_BYTES)
    if dtype.kind not in "biuf" or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        kind = "text" if dtype.kind in "SU" else "not numbers"
        raise ModelFileError(path, where, f"an array of dtype {dtype} ({kind}); only numeric arrays are read")
    return tuple(shape), bool(fortran), dtype


def read_npy(f, path, where, shape=None, max_bytes=None):
    """The array in the ``.npy`` stream `f`, its header checked first (numeric dtype; `shape`
    and `max_bytes`, when given, must fit) so no more than the expected bytes are ever read.
    Pass one of them when `f` comes from a file you did not write."""
    stored, fortran, dtype = read_npy_header(f, path, where)
    if shape is not None and stored != tuple(shape):
        raise ModelFileError(path, where, f"an array of shape {stored}, expected {tuple(shape)}")
    nbytes = math.prod(stored) * dtype.itemsize
    if max_bytes is not None and nbytes > max_bytes:
        raise ModelFileError(path, where, f"an array of shape {stored} {dtype} ({nbytes:,} bytes), more "
                                          f"than the {max_bytes:,} bytes it may have")
    with reading(path, where):
        data = f.read(nbytes)
        trailing = f.read(1)
    if len(data) != nbytes or trailing:
        raise ModelFileError(path, where, f"the array's data is {'longer' if trailing else 'shorter'} "
                                          f"than its header {stored} {dtype} says")
    return np.frombuffer(data, dtype).reshape(stored, order="F" if fortran else "C")


# -- the weights a file may make us allocate ---------------------------------------------
def weight_budget(stored_bytes):
    """Bytes of weights a file whose weights take `stored_bytes` on disk may make us allocate."""
    return min(MAX_WEIGHT_BYTES, WEIGHT_BYTES_PER_FILE_BYTE * stored_bytes + WEIGHT_SLACK_BYTES)


@contextlib.contextmanager
def building_limited(stored_bytes, safe_mode=True):
    """Within the block, layers built from a file whose weights take `stored_bytes` on disk may
    allocate at most :func:`weight_budget` bytes of weights (no limit when not in safe mode)."""
    if not safe_mode:
        yield
        return

    def too_big(requested, remaining):
        return OverBudget(f"its config asks for a {requested / 2**20:,.1f} MiB weight, more than the "
                          f"{remaining / 2**20:,.1f} MiB left of what a file whose weights take "
                          f"{stored_bytes:,} bytes may allocate (at most {WEIGHT_BYTES_PER_FILE_BYTE}x "
                          f"that, and {MAX_WEIGHT_BYTES / 2**30:g} GiB in all); if you trust the file, "
                          f"load it with safe_mode=False")

    with initializers.allocation_limit(weight_budget(stored_bytes), too_big):
        yield


# -- HDF5 (Keras files) ------------------------------------------------------------------
def require_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras files need h5py: pip install 'minirnn[files]' (or pip install h5py)") from None
    return h5py


class H5Reader:
    """Bounded, link-checked reading of one HDF5 file: :meth:`check_dataset` checks a dataset's
    links, storage, shape and dtype before anything is read, and counts the bytes against
    `limit` (in safe mode: :func:`weight_budget` of the file's size)."""

    def __init__(self, source, path, member=None, safe_mode=True):
        h5py = require_h5py()
        self.path, self.member = path, member
        size = source.getbuffer().nbytes if isinstance(source, io.BytesIO) else os.path.getsize(source)
        self.stored = size
        self.limit = weight_budget(size) if safe_mode else float("inf")
        self.read_bytes = 0
        try:
            self.file = h5py.File(source, "r")
        except OSError as e:
            raise ModelFileError(path, member, f"not an HDF5 file ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def error(self, where, message):
        inside = f"HDF5 entry {where!r}"
        return ModelFileError(self.path, f"{self.member}, {inside}" if self.member else inside, message)

    def get(self, where):
        """The group or dataset at `where`, or None; every step must be a plain (hard) link."""
        h5py = require_h5py()
        obj = self.file
        for part in where.strip("/").split("/"):
            if not isinstance(obj, h5py.Group) or part not in obj:
                return None
            link = obj.get(part, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise self.error(where, f"{type(link).__name__} {part!r} is refused (only plain "
                                        f"groups and datasets are read)")
            obj = obj[part]
        return obj

    def check_dataset(self, where, shape):
        """The dataset at `where`, checked (shape `shape`, numeric, stored in this file)."""
        h5py = require_h5py()
        ds = self.get(where)
        if ds is None:
            raise self.error(where, "missing")
        if not isinstance(ds, h5py.Dataset):
            raise self.error(where, "expected a dataset, found a group")
        if ds.dtype.kind not in "fiub" or h5py.check_dtype(ref=ds.dtype) or h5py.check_dtype(vlen=ds.dtype):
            raise self.error(where, f"dtype {ds.dtype} is refused (numeric arrays only)")
        if ds.is_virtual or ds.external:
            raise self.error(where, "a virtual dataset or one stored outside the file is refused")
        if tuple(ds.shape) != tuple(shape):
            raise self.error(where, f"shape {tuple(ds.shape)} does not match the layer's {tuple(shape)}")
        self.read_bytes += int(np.prod(shape, dtype=np.int64)) * ds.dtype.itemsize
        if self.read_bytes > self.limit:
            raise self.error(where, f"reading it would pass the limit of {self.limit:,} bytes for a "
                                    f"file of {self.stored:,} bytes; if you trust the file, load it "
                                    f"with safe_mode=False")
        return ds

    def array(self, where, shape, dtype):
        ds = self.check_dataset(where, shape)
        try:
            return np.asarray(ds[()], dtype=dtype).reshape(shape)
        except OSError as e:                    # damaged data or a filter h5py cannot undo
            raise self.error(where, f"cannot be read ({e})") from None

    def attribute(self, where, name):
        """A string attribute (bounded), or None."""
        h5py = require_h5py()
        obj = self.file if where in ("", "/") else self.get(where)
        if obj is None or name not in obj.attrs:
            return None
        attr = obj.attrs.get_id(name)
        if attr.shape and 0 in attr.shape:              # Keras writes [] for "no weights"
            return []
        if attr.get_storage_size() > MAX_CONFIG_BYTES:
            raise self.error(f"{where}@{name}", f"attribute is larger than {MAX_CONFIG_BYTES} bytes")
        if h5py.check_dtype(ref=attr.dtype) or attr.dtype.kind not in "SUO":
            raise self.error(f"{where}@{name}", f"attribute dtype {attr.dtype} is refused")
        value = obj.attrs[name]
        if isinstance(value, np.ndarray):
            if value.size > 100_000:
                raise self.error(f"{where}@{name}", f"attribute has {value.size} entries")
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.ravel()]
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# -- safetensors (PyTorch weights) -------------------------------------------------------
def read_safetensors(path, max_bytes=None):
    """{name: ndarray} of a .safetensors file (a JSON header and raw arrays; nothing executed)."""
    from safetensors.numpy import load_file

    size = os.path.getsize(path)
    limit = MAX_WEIGHT_BYTES if max_bytes is None else max_bytes
    if size > limit:
        raise ValueError(f"{os.fspath(path)!r} is {size} bytes, above the limit of {limit}")
    return load_file(os.fspath(path))
