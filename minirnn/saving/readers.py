"""Bounded reading of containers you did not write: ZIP members, JSON, ``.npy`` arrays, HDF5
datasets and safetensors files.

A file is untrusted input.  Every reader here reads no more than it was told to expect and
turns whatever a damaged or hostile file makes the libraries underneath raise into the one
error type, :class:`ModelFileError` (naming the file and the member or field):

* ZIP archives: each member name once; members deflate and stored only, at most ``max_bytes``
  decompressed, the CRC checked; the weights member of a model file budgeted by its size on
  disk (compressed), :func:`read_weights_member`;
* JSON: at most :data:`MAX_CONFIG_BYTES` and :data:`MAX_JSON_DEPTH` levels deep, no NaN, each
  key of an object once;
* ``.npy``: numeric dtypes only (no pickle, no text), the header checked against the shape
  the caller expects before the data is read;
* HDF5: plain groups and datasets only (no external, soft or virtual links, no references),
  every dataset's shape, dtype and storage checked before any data is read: chunks only
  through the filters h5py writes (:data:`H5_FILTERS`), each chunk no larger than the budget
  allows and, compressed, inflating to no more than its size (checked by inflating it here,
  bounded, before HDF5 does); no HDF5 plugin is searched for while a file is open;
* safetensors: the header (bounded JSON) checked against the file before any tensor is made;
* the budget: a file whose weights take ``n`` bytes on disk may make minirnn allocate at most
  :func:`weight_budget` ``(n)`` bytes (:data:`WEIGHT_BYTES_PER_FILE_BYTE` times ``n``, plus
  :data:`WEIGHT_SLACK_BYTES`, and never more than :data:`MAX_WEIGHT_BYTES`): weights, layers,
  graph nodes and every layer's output shape (:mod:`minirnn.budget`, :func:`building_limited`).
"""
import contextlib
import io
import json
import math
import mmap
import os
import re
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from .. import budget
from ..serialization import ModelFileError, OverBudget

MAX_CONFIG_BYTES = 16 * 2**20        # config.json / the weights manifest, decompressed
MAX_JSON_DEPTH = 64                  # nesting of lists and objects
MAX_WEIGHT_BYTES = 2 * 2**30         # weights a file may make minirnn allocate
WEIGHT_BYTES_PER_FILE_BYTE = 2       # ... relative to the weights member's bytes on disk
WEIGHT_SLACK_BYTES = 2**20
MAX_NPY_HEADER_BYTES = 10_000
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)   # bounded decompression only
# What a damaged archive or member raises while being read, besides ModelFileError.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, UnicodeError, ValueError,
               OverflowError, NotImplementedError, RuntimeError, IndexError, KeyError, TypeError, OSError,
               MemoryError, RecursionError, SyntaxError, tokenize.TokenError)   # tokenize: .npy headers


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
def open_archive(source, path, what="the archive"):
    """The ZipFile of `source` (a path or a file object), every member name in it once; a
    ModelFileError naming `path` otherwise (a damaged or truncated archive included)."""
    with reading(path, what):
        archive = zipfile.ZipFile(source)
    seen = set()
    for name in archive.namelist():
        if name in seen:
            archive.close()
            raise ModelFileError(path, f"member {name!r}", "it is in the archive more than once (which of "
                                                           "them would be read is not defined)")
        seen.add(name)
    return archive


def read_weights_member(archive, name, path, safe_mode=True):
    """(bytes of the weights member `name`, its size on disk): in safe mode it may hold at most
    :func:`weight_budget` of its compressed size, so a bomb is refused before it is inflated."""
    with reading(path, f"member {name!r}"):
        info = archive.getinfo(name)
    limit = weight_budget(info.compress_size) if safe_mode else max(info.file_size, 0)
    return read_member(archive, name, path, limit), info.compress_size


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


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


def _depth(text):
    """Deepest nesting of lists and objects in valid JSON `text`, counted on the text (strings
    taken out first, then the brackets in blocks of a MiB): no walk over the parsed values."""
    syntax = _STRINGS.sub("", text).encode("ascii", "replace")
    deepest, level, block = 0, 0, 2**20
    for start in range(0, len(syntax), block):
        b = np.frombuffer(syntax, np.uint8, min(block, len(syntax) - start), start)
        steps = (b == 91).astype(np.int32) + (b == 123) - (b == 93) - (b == 125)     # [ { ] }
        levels = np.cumsum(steps, dtype=np.int64) + level
        if len(levels):
            deepest, level = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {key[:100]!r} appears more than once in one object")
    return result


def load_json(data, path, where, max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_JSON_DEPTH):
    """Parse UTF-8 JSON `data` (bytes) of at most `max_bytes` and `max_depth` levels of nesting
    (no NaN/Infinity); a ModelFileError naming `path` and `where` otherwise."""
    if len(data) > max_bytes:
        raise ModelFileError(path, where, f"{len(data):,} bytes of JSON, more than {max_bytes:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(path, where, f"not UTF-8 text ({e})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ModelFileError(path, where, f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as e:
        raise ModelFileError(path, where, f"not valid JSON ({e})") from None
    if _depth(text) > max_depth:                    # valid JSON: every string ends, the scan is linear
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
    """Within the block, what the model made from a file whose weights take `stored_bytes` on
    disk may allocate (weights, layers, graph nodes, every layer's output for a batch, see
    :mod:`minirnn.budget`) takes at most :func:`weight_budget` bytes; for a model made from a
    config alone (`stored_bytes` None: ``model_from_json``, whose weights are drawn, not read)
    at most :data:`MAX_WEIGHT_BYTES`.  No limit when not in safe mode."""
    if not safe_mode:
        yield
        return
    if stored_bytes is None:
        limit, of = MAX_WEIGHT_BYTES, f"the {MAX_WEIGHT_BYTES / 2**30:g} GiB a model config may make minirnn allocate"
        advice = "if you trust the config, pass safe_mode=False"
    else:
        limit = weight_budget(stored_bytes)
        of = (f"the budget of a file whose weights take {stored_bytes:,} bytes ({WEIGHT_BYTES_PER_FILE_BYTE}x "
              f"that plus {WEIGHT_SLACK_BYTES / 2**20:g} MiB, at most {MAX_WEIGHT_BYTES / 2**30:g} GiB)")
        advice = "if you trust the file, load it with safe_mode=False"

    def too_big(requested, remaining, what):
        return OverBudget(f"{what} takes {budget.describe(requested)}, more than the "
                          f"{budget.describe(remaining)} left of {of}; {advice}")

    with budget.limited(limit, too_big):
        yield


# -- vocabulary assets (lookup layers) ---------------------------------------------------
def read_vocabulary_assets(archive, wanted, path, safe_mode=True):
    """Give each lookup layer its ``vocabulary.txt`` asset, `wanted` being ``[(layer, member
    name)]``: only the members named from the model's own layers are read (never a path the file
    gives), each bounded by its size on disk and by MAX_CONFIG_BYTES.  A layer whose config
    says its vocabulary is in an asset needs the member."""
    present = set(archive.namelist())
    for layer, name in wanted:
        if name not in present:
            if getattr(layer, "vocabulary_in_asset", False):
                raise ModelFileError(path, f"member {name!r}", f"missing: layer '{layer.name}' "
                                     f"({type(layer).__name__}) keeps its vocabulary there")
            continue
        data, _ = read_weights_member(archive, name, path, safe_mode)
        if len(data) > MAX_CONFIG_BYTES:
            raise ModelFileError(path, f"member {name!r}", f"{len(data):,} bytes, more than {MAX_CONFIG_BYTES:,}")
        try:
            layer.load_vocabulary_asset(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ModelFileError(path, f"member {name!r}", f"not a vocabulary ({e})") from None


def vocabulary_assets(layers, names):
    """[(member name, text)] of the layers that keep their vocabulary as an asset, `names` giving
    each layer's member names (one or several)."""
    out = []
    for layer, members in zip(layers, names):
        text = getattr(layer, "vocabulary_asset", lambda: None)()
        if text is not None:
            out += [(name, text) for name in ([members] if isinstance(members, str) else members)]
    return out


# -- HDF5 (Keras files) ------------------------------------------------------------------
H5_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32"}   # the filters read: what h5py writes for Keras
_FLETCHER32_BYTES = 4


def require_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras files need h5py: pip install 'minirnn[files]' (or pip install h5py)") from None
    return h5py


@contextlib.contextmanager
def no_plugin_search():
    """Within the block HDF5's plugin path table is empty: a filter the library does not have
    is an error, not a search of the plugin directories (whose libraries HDF5 would load and
    run).  The table, from ``HDF5_PLUGIN_PATH`` or ``h5py.h5pl``, is put back afterwards."""
    from h5py import h5pl

    saved = [h5pl.get(i) for i in range(h5pl.size())]
    for _ in saved:
        h5pl.remove(0)
    try:
        yield
    finally:
        present = [h5pl.get(i) for i in range(h5pl.size())]
        for entry in saved:
            if entry not in present:
                h5pl.append(entry)


class H5Reader:
    """Bounded, link-checked reading of one HDF5 file: :meth:`check_dataset` checks a dataset's
    links, storage, shape and dtype before anything is read, and counts the bytes HDF5 will
    decompress against `limit` (in safe mode: :func:`weight_budget` of `stored`, the bytes the
    weights take on disk, by default the size of `source`).  While the file is open no HDF5
    plugin is searched for (:func:`no_plugin_search`)."""

    def __init__(self, source, path, member=None, safe_mode=True, stored=None):
        h5py = require_h5py()
        self.path, self.member, self.source, self.safe_mode = path, member, source, safe_mode
        self.size = size = source.getbuffer().nbytes if isinstance(source, io.BytesIO) else os.path.getsize(source)
        self.stored = size if stored is None else stored
        self.limit = weight_budget(self.stored) if safe_mode else float("inf")
        self.read_bytes = 0
        self._checked = set()
        self._lengths = {}
        self._plugins = no_plugin_search()
        self._plugins.__enter__()
        try:
            self.file = h5py.File(source, "r")
        except READ_ERRORS as e:
            self._plugins.__exit__(None, None, None)
            raise ModelFileError(path, member, f"not an HDF5 file ({type(e).__name__}: {e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.file.close()
        finally:
            self._plugins.__exit__(None, None, None)

    def error(self, where, message):
        return ModelFileError(self.path, self._where(where), message)

    def _where(self, where):
        inside = f"HDF5 entry {where!r}"
        return f"{self.member}, {inside}" if self.member else inside

    def get(self, where):
        """The group or dataset at `where`, or None; every step must be a plain (hard) link."""
        h5py = require_h5py()
        obj = self.file
        with reading(self.path, self._where(where)):
            for part in where.strip("/").split("/"):
                if not isinstance(obj, h5py.Group) or part not in obj:
                    return None
                link = obj.get(part, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    raise self.error(where, f"{type(link).__name__} {part!r} is refused (only plain "
                                            f"groups and datasets are read)")
                obj = obj[part]
        return obj

    def group_keys(self, where):
        """The names in the group at `where` (None if there is none there)."""
        h5py = require_h5py()
        group = self.get(where)
        if group is None:
            return None
        if not isinstance(group, h5py.Group):
            raise self.error(where, "expected a group, found a dataset")
        with reading(self.path, self._where(where)):
            return list(group.keys())

    def check_dataset(self, where, shape):
        """The dataset at `where`, checked (shape `shape`, numeric, stored in this file, its
        chunks within the budget)."""
        h5py = require_h5py()
        ds = self.get(where)
        if ds is None:
            raise self.error(where, "missing")
        if not isinstance(ds, h5py.Dataset):
            raise self.error(where, "expected a dataset, found a group")
        with reading(self.path, self._where(where)):
            if ds.dtype.kind not in "fiub" or h5py.check_dtype(ref=ds.dtype) or h5py.check_dtype(vlen=ds.dtype):
                raise self.error(where, f"dtype {ds.dtype} is refused (numeric arrays only)")
            if ds.is_virtual or ds.external:
                raise self.error(where, "a virtual dataset or one stored outside the file is refused")
            if tuple(ds.shape) != tuple(shape):
                raise self.error(where, f"shape {tuple(ds.shape)} does not match the layer's {tuple(shape)}")
            nbytes = math.prod(shape) * ds.dtype.itemsize
            plist = ds.id.get_create_plist()
            if plist.get_layout() == h5py.h5d.CHUNKED:
                nbytes = max(nbytes, self._check_chunks(ds, where, plist))
        self.read_bytes += nbytes
        if self.read_bytes > self.limit:
            raise self.error(where, f"reading it would pass the limit of {self.limit:,} bytes for a "
                                    f"file of {self.stored:,} bytes; if you trust the file, load it "
                                    f"with safe_mode=False")
        return ds

    def _check_chunks(self, ds, where, plist):
        """Bytes HDF5 will inflate to read chunked dataset `ds`, after checking its filters and,
        in safe mode, that each stored chunk inflates to no more than a chunk's size."""
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        for code in filters:
            if code not in H5_FILTERS:
                raise self.error(where, f"HDF5 filter {code} is refused: only {', '.join(H5_FILTERS.values())} "
                                        f"are read (no plugin is loaded for a file)")
        chunk = plist.get_chunk()
        chunk_bytes = math.prod(chunk) * ds.dtype.itemsize
        expected = math.prod(-(-n // c) for n, c in zip(ds.shape, chunk))
        total = expected * chunk_bytes
        if where in self._checked or self.limit == float("inf"):
            return total
        if total > self.limit - self.read_bytes:
            raise self.error(where, f"its {expected:,} chunk(s) of {chunk} would inflate to {total:,} bytes and "
                                    f"pass the limit of {self.limit:,} bytes for a file of {self.stored:,} bytes; "
                                    f"if you trust the file, load it with safe_mode=False")
        stored = ds.id.get_num_chunks()
        if stored > expected:
            raise self.error(where, f"{stored:,} chunks stored for a dataset of {expected:,}")
        for i in range(stored):
            info = ds.id.get_chunk_info(i)
            if info.size > chunk_bytes + chunk_bytes // 100 + 64:
                raise self.error(where, f"chunk {info.chunk_offset} takes {info.size:,} bytes on disk, more than "
                                        f"a chunk of {chunk_bytes:,} bytes can")
            if 1 in filters and not info.filter_mask & (1 << filters.index(1)):
                self._check_inflated(where, ds, info, filters, chunk_bytes)
        self._checked.add(where)
        return total

    def _check_inflated(self, where, ds, info, filters, chunk_bytes):
        """Inflate one gzip'ed chunk here, at most `chunk_bytes` + 1 bytes of it: HDF5 itself
        inflates a chunk's whole stream, whatever the chunk's size."""
        _, data = ds.id.read_direct_chunk(info.chunk_offset)
        for k in range(len(filters) - 1, -1, -1):          # the filters in reading order
            if info.filter_mask & (1 << k):
                continue
            if filters[k] == 3:
                data = data[:-_FLETCHER32_BYTES]
            elif filters[k] == 1:
                inflater = zlib.decompressobj()
                try:
                    out = inflater.decompress(data, chunk_bytes + 1)
                except zlib.error as e:
                    raise self.error(where, f"chunk {info.chunk_offset} is damaged ({e})") from None
                if len(out) > chunk_bytes or inflater.unconsumed_tail:
                    raise self.error(where, f"chunk {info.chunk_offset} inflates to more than a chunk's "
                                            f"{chunk_bytes:,} bytes")
                return

    def array(self, where, shape, dtype):
        ds = self.check_dataset(where, shape)
        try:
            with reading(self.path, self._where(where)):
                return np.asarray(ds[()], dtype=dtype).reshape(shape)
        except ModelFileError as e:             # damaged data, a checksum or a filter HDF5 cannot undo
            raise self.error(where, f"cannot be read ({e.problem})") from None

    def attribute(self, where, name):
        """A string attribute (bounded), or None."""
        h5py = require_h5py()
        obj = self.file if where in ("", "/") else self.get(where)
        at = f"{where}@{name}"
        with reading(self.path, self._where(at)):
            if obj is None:
                return None
            if name not in obj.attrs and f"{name}0" in obj.attrs:
                parts, k = [], 0              # a long list Keras split into <name>0, <name>1, ...
                while f"{name}{k}" in obj.attrs and k < 1000:
                    part = self.attribute(where, f"{name}{k}")
                    parts += part if isinstance(part, list) else [part]
                    k += 1
                return parts
            if name not in obj.attrs:
                return None
            attr = obj.attrs.get_id(name)
            if attr.shape and 0 in attr.shape:              # Keras writes [] for "no weights"
                return []
            if attr.get_storage_size() > MAX_CONFIG_BYTES:
                raise self.error(at, f"attribute is larger than {MAX_CONFIG_BYTES} bytes")
            if math.prod(attr.shape or ()) > MAX_ATTRIBUTE_ITEMS:
                raise self.error(at, f"attribute has {math.prod(attr.shape):,} entries")
            text = h5py.check_string_dtype(attr.dtype)
            if h5py.check_dtype(ref=attr.dtype) or attr.dtype.kind not in "SUO" or (
                    attr.dtype.kind == "O" and text is None):
                raise self.error(at, f"attribute dtype {attr.dtype} is refused")
            if text is not None and text.length is None and self.safe_mode:
                self._check_variable_length(at, name)
            value = obj.attrs[name]
            if isinstance(value, np.ndarray):
                return [_text(v) for v in value.ravel()]
            return _text(value)

    def _check_variable_length(self, at, name):
        """HDF5 allocates (and clears) as many bytes as a variable-length string's stored length
        says, before it finds the string is not that long: check those lengths first, in every
        attribute message named `name` in the file's bytes (:func:`_variable_lengths`)."""
        if name not in self._lengths:
            sizes = self.file.id.get_create_plist().get_sizes()
            if isinstance(self.source, io.BytesIO):
                self._lengths[name] = _variable_lengths(self.source.getvalue(), name, *sizes)
            else:
                with open(self.source, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as image:
                    self._lengths[name] = _variable_lengths(image, name, *sizes)
        lengths = self._lengths[name]
        if lengths is None:
            raise self.error(at, "its variable-length strings cannot be checked before HDF5 reads them "
                                 "(an attribute stored in a way minirnn does not read); if you trust the file, "
                                 "load it with safe_mode=False")
        longest = max(lengths, default=0)
        if longest > min(self.size, MAX_CONFIG_BYTES):
            raise self.error(at, f"a string of {longest:,} bytes is claimed in a file of {self.size:,} bytes")


MAX_ATTRIBUTE_ITEMS = 100_000


def _variable_lengths(data, name, sizeof_addr, sizeof_size):
    """The lengths the variable-length elements of every attribute message named `name` in the
    HDF5 file image `data` (bytes or mmap) claim, all in one list; None if one of them cannot
    be read here (a shared datatype, an unknown layout) or none is variable-length.

    An attribute message (versions 1-3) is ``version, flags, name size, datatype size, dataspace
    size[, encoding], name, datatype, dataspace, data`` (version 1 pads the last four to 8
    bytes); its data holds, per element, a 4-byte length and a global heap ID."""
    key = name.encode("utf-8") + b"\0"
    lengths, variable, at = [], False, data.find(key)
    while at != -1:
        found = _attribute_lengths(data, at, len(key), sizeof_addr, sizeof_size)
        if found is None:
            return None
        if found is not _NOT_VARIABLE:
            lengths += found
            variable = True
        at = data.find(key, at + 1)
    return lengths if variable else None


_NOT_VARIABLE = object()


def _attribute_lengths(data, at, name_size, sizeof_addr, sizeof_size):
    def pad(n, padded):
        return -(-n // 8) * 8 if padded else n

    for version, header, padded in ((1, 8, True), (2, 8, False), (3, 9, False)):
        start = at - header
        if start < 0 or data[start] != version or struct.unpack_from("<H", data, start + 2)[0] != name_size:
            continue
        # A shared datatype or dataspace (flags of the message, or of its object header prefix:
        # version 1 headers put them 4 bytes before the message, version 2 ones 1 or 3) is
        # stored elsewhere: not read here.
        shared = data[start + 1] & 3 if version > 1 else 0
        for kind, flags in ((-8, -4), (-4, -1), (-6, -3)):
            if start + kind >= 0 and data[start + kind] == 0x0C:
                shared |= data[start + flags] & 2
        dt_size, ds_size = struct.unpack_from("<HH", data, start + 4)
        dt = at + pad(name_size, padded)
        ds = dt + pad(dt_size, padded)
        values = ds + pad(ds_size, padded)
        if shared or values > len(data) or dt_size < 8 or ds_size < 4:
            return None
        if data[dt] & 0x0F != 9:                 # not variable-length: nothing HDF5 would allocate
            return _NOT_VARIABLE
        if data[ds] == 1:                        # dataspace version 1: rank, flags, 5 reserved bytes
            rank, dims = data[ds + 1], ds + 8
        elif data[ds] == 2:                      # version 2: rank, flags, type (2: null)
            rank, dims = (0 if data[ds + 3] == 2 else data[ds + 1]), ds + 4
            if data[ds + 3] == 2:
                return []
        else:
            return None
        if rank > 32 or dims + rank * sizeof_size > values:
            return None
        count = math.prod(int.from_bytes(data[dims + k * sizeof_size:dims + (k + 1) * sizeof_size], "little")
                          for k in range(rank))
        element = 4 + sizeof_addr + 4
        if count > MAX_ATTRIBUTE_ITEMS or values + count * element > len(data):
            return None
        return [struct.unpack_from("<I", data, values + k * element)[0] for k in range(count)]
    return _NOT_VARIABLE            # the name, but not in an attribute message (a link, some text)


def _text(value):
    if not isinstance(value, (bytes, str)):
        raise ValueError(f"expected text, found {type(value).__name__}")
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    text.encode("utf-8")                                    # no lone surrogates
    return text


# -- safetensors (PyTorch weights) -------------------------------------------------------
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def read_safetensors(path, max_bytes=None):
    """{name: ndarray} of a ``.safetensors`` file: an 8-byte little-endian header length, a JSON
    header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``
    and the tensors' bytes.  Every entry is checked against the file before any tensor is made;
    BF16 tensors become float32 (exactly); 8-bit floats are refused (NumPy has none)."""
    path = os.fspath(path)
    limit = MAX_WEIGHT_BYTES if max_bytes is None else max_bytes
    with reading(path, None):
        size = os.path.getsize(path)
        if size > limit:
            raise ModelFileError(path, None, f"{size:,} bytes, more than the {limit:,} a safetensors file may have")
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    if len(raw) < 8:
        raise ModelFileError(path, "the header length", f"the file has {len(raw)} bytes, fewer than the 8 of "
                                                        f"the header length: not a safetensors file")
    (length,) = struct.unpack("<Q", raw[:8])
    if length > min(MAX_CONFIG_BYTES, len(raw) - 8):
        raise ModelFileError(path, "the header length", f"a header of {length:,} bytes in a file of {len(raw):,} "
                                                        f"(at most {MAX_CONFIG_BYTES:,}): not a safetensors file")
    header = load_json(raw[8:8 + length], path, "the header")
    if not isinstance(header, dict):
        raise ModelFileError(path, "the header", f"expected a JSON object, received {type(header).__name__}")
    data = memoryview(raw)[8 + length:]
    out = {}
    for name, entry in header.items():
        where = f"tensor {name!r}"
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise ModelFileError(path, "the header field '__metadata__'", "expected an object of strings")
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(path, where, f"expected {{'dtype', 'shape', 'data_offsets'}}, "
                                              f"received {str(entry)[:200]}")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            why = " (NumPy has no 8-bit floats)" if isinstance(dtype, str) and dtype.startswith("F8") else ""
            raise ModelFileError(path, where, f"dtype {str(dtype)[:40]!r} is not read{why}; "
                                              f"read are {', '.join(SAFETENSORS_DTYPES)}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(type(d) is int and d >= 0 for d in shape):
            raise ModelFileError(path, where, f"expected a shape (up to 8 sizes >= 0), received {str(shape)[:100]}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= len(data)):
            raise ModelFileError(path, where, f"data_offsets {str(offsets)[:100]} are not a range of the "
                                              f"{len(data):,} bytes of data")
        itemsize = np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
        if offsets[1] - offsets[0] != math.prod(shape) * itemsize:
            raise ModelFileError(path, where, f"{offsets[1] - offsets[0]:,} bytes for a {dtype} tensor of "
                                              f"shape {shape}, which takes {math.prod(shape) * itemsize:,}")
        array = np.frombuffer(data[offsets[0]:offsets[1]], SAFETENSORS_DTYPES[dtype]).reshape(shape)
        if dtype == "BF16":                         # the top half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        out[name] = array
    return out
