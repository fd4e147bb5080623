"""Saving and loading models and weights: JSON for structure, plain NumPy arrays for numbers.

    model.save("model.minirnn")                   architecture + weights + compile state
    model = minirnn.models.load_model("model.minirnn")
    model.save_weights("model.weights.npz")       weights (+ optimizer state when compiled)
    model.load_weights("model.weights.npz")       into a model built in code

File formats (format_version 1)
-------------------------------

A ``.minirnn`` file is a ZIP archive with two members:

``config.json``::

    {"format": "minirnn.model", "format_version": 1, "minirnn_version": "0.1.0",
     "model": {"class_name": "Sequential",
               "config": {"name": "sequential",
                          "layers": [{"class_name": "InputLayer", "registered_name": "minirnn>InputLayer",
                                      "module": "minirnn.layers.core",
                                      "config": {"shape": [null, 1], "batch_size": null,
                                                 "dtype": "float32", "name": "input_layer"}},
                                     {"class_name": "LSTM", "registered_name": "minirnn>LSTM", ...,
                                      "config": {"name": "lstm", "units": 8, ...},
                                      "build_config": {"input_shape": [null, null, 1]}},
                                     ...]}},
     "compile_config": null   (not compiled, or saved with include_optimizer=False)
                    | {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001, ...}},
                       "loss": {"class_name": "MeanSquaredError", "config": {...}},
                       "metrics": [{"name": "mae", "function": "mae", "kwargs": {}},
                                   {"name": "acc", "class_name": "Accuracy",
                                    "config": {"name": "acc", "kind": "binary"}}]}}

  Each layer is ``{"class_name", "registered_name", "module", "config"}`` where ``config`` is
  ``layer.get_config()`` (every constructor argument: initializers as ``{"class_name",
  "config"}``, activations by name; Bidirectional nests its layers' entries) and
  ``build_config`` the input shape it was built for.  ``module`` is information only: nothing
  is imported from it.  A custom optimizer, loss or metric class adds its ``registered_name``.

  A function (a ``Lambda``'s, a metric's) is stored as its registered name
  (``"numpy>tanh"``, ``"my_project>scaled_tanh"``, see :mod:`minirnn.registry`), or, when
  it is not registered, as ``{"class_name": "__python_function__", "config": {"name",
  "module", "source"}}`` with its source text (best effort), which only ``safe_mode=False``
  turns back into a function.

``model.weights.npz``: exactly the file ``save_weights`` writes.

A ``.weights.npz`` file is an ``np.savez`` archive of numeric arrays:

``__manifest__``
    uint8 array holding UTF-8 JSON: ``{"format": "minirnn.weights", "format_version": 1,
    "input_shape": [...] | null, "layers": [{"name", "class_name", "input_shape",
    "shapes": [[...], ...], "dtypes": [...]}, ...], "optimizer": null | {"class_name",
    "iterations", "slots": {"<k>": [slot names]}}}``
``layers/<i>/<j>``
    weight ``j`` of layer ``i`` (``model.layers`` order, the Input not counted; within a
    layer Keras's order, ``layer.get_weights()``)
``optimizer/<k>/<slot>``
    optimizer state (e.g. Adam's ``m`` and ``v``) of the model's ``k``-th weight
    (``model.weights`` order); only weights the optimizer has updated have slots.

Loading a file you did not write
--------------------------------

A file is untrusted input.  With ``safe_mode=True`` (the default) loading runs no code from
the file, imports nothing, and writes nothing:

* Classes and functions are found by exact name in :mod:`minirnn.registry` (minirnn's own
  layers, cells, losses, metrics, optimizers, initializers, a fixed set of NumPy element-wise
  functions, and what the caller registered with ``@register_serializable`` or passes as
  ``custom_objects``); never by import and attribute look-up.  Old references
  ``"module:qualname"`` load only if they name a registered object.  A function saved as
  source needs ``safe_mode=False`` (or a substitute in ``custom_objects``).
* No pickle: arrays are read from their ``.npy`` headers, numeric dtypes only.
* Reads are bounded: only the members the config needs are read; ``config.json`` is at most
  :data:`MAX_CONFIG_BYTES` and :data:`MAX_JSON_DEPTH` deep; each array's header is checked
  against the layer's weight before its data is read; the weights a config builds may take
  at most :data:`WEIGHT_BYTES_PER_FILE_BYTE` times the weights member's size on disk (plus
  :data:`WEIGHT_SLACK_BYTES`) and at most :data:`MAX_WEIGHT_BYTES`.
* Every problem with the file raises :class:`ModelFileError` naming the file and the member
  or field.

Writes are atomic: the file is written to ``.<name>.<random>.minirnn-tmp`` beside the target,
flushed and fsync'ed, then moved over the target with ``os.replace``; a crash mid-save leaves
the previous file intact, and the next save to the same path removes what it left.
"""
import contextlib
import importlib
import inspect
import io
import json
import math
import os
import re
import secrets
import struct
import textwrap
import threading
import time as _time
import warnings
import zipfile
import zlib

try:
    import fcntl
except ImportError:                     # Windows: stale temporary files are found by age
    fcntl = None

import numpy as np

from . import initializers, losses, metrics as metrics_module, optimizers, registry
from .layers.base import get_layer_class

FORMAT_VERSION = 1
MODEL_SUFFIX = ".minirnn"
WEIGHTS_SUFFIX = ".weights.npz"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.weights.npz"
MANIFEST_KEY = "__manifest__"
PYTHON_FUNCTION = "__python_function__"
TEMP_SUFFIX = ".minirnn-tmp"

MAX_CONFIG_BYTES = 16 * 2**20        # config.json / the weights manifest, decompressed
MAX_JSON_DEPTH = 64                  # nesting of lists and objects
MAX_WEIGHT_BYTES = 2 * 2**30         # weights a file may make minirnn allocate
WEIGHT_BYTES_PER_FILE_BYTE = 2       # ... relative to the weights member's bytes on disk
WEIGHT_SLACK_BYTES = 2**20
MAX_NPY_HEADER_BYTES = 10_000
MAX_INPUT_ITEMS = 2**22              # elements of an input shape (unknown sizes as 3), in safe mode
LAYER_DTYPES = ("float32", "float64")
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)   # bounded decompression only
# What a damaged archive or member raises while being read, besides ModelFileError.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, UnicodeDecodeError,
                ValueError, OverflowError, NotImplementedError, RuntimeError, IndexError, KeyError,
                TypeError, OSError, MemoryError, RecursionError)


class _OverBudget(ValueError):
    """A weight a file's config asks for that is larger than the file allows."""


class ModelFileError(ValueError):
    """A model or weights file that cannot be loaded (damaged, hostile, or naming something
    this process does not have).  ``path`` is the file, ``where`` the member or field."""

    def __init__(self, path, where, problem):
        self.path, self.where, self.problem = path, where, problem
        super().__init__(f"Cannot load {path!r}" + (f", {where}" if where else "") + f": {problem}")


# -- options while loading -----------------------------------------------------
class _Load:
    """What deserialization needs to know about the load in progress."""

    def __init__(self, custom_objects=None, safe_mode=True, path="<config>"):
        self.custom_objects, self.safe_mode, self.path = dict(custom_objects or {}), safe_mode, path

    def error(self, where, problem):
        return ModelFileError(self.path, where, problem)


_state = threading.local()


def _options():
    return getattr(_state, "load", None) or _Load()


@contextlib.contextmanager
def loading_options(custom_objects=None, safe_mode=None, path=None):
    """Within the block, deserialization uses these custom objects, safe mode and file name in
    its errors (unspecified ones are inherited from an enclosing block; defaults {}, True and
    ``"<config>"``)."""
    previous = getattr(_state, "load", None)
    outer = _options()
    _state.load = _Load({**outer.custom_objects, **dict(custom_objects or {})},
                        outer.safe_mode if safe_mode is None else bool(safe_mode),
                        outer.path if path is None else path)
    try:
        yield _state.load
    finally:
        _state.load = previous


def config_error(where, problem):
    """A ModelFileError naming the file being loaded (``"<config>"`` outside a load) and `where`,
    for ``from_config`` methods that find a field they cannot use."""
    return _options().error(where, problem)


@contextlib.contextmanager
def _reading(path, where):
    """Turn what a damaged file makes the readers raise into a ModelFileError."""
    try:
        yield
    except (ModelFileError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except _READ_ERRORS as e:
        raise ModelFileError(path, where, f"the file is damaged or not a minirnn file "
                                          f"({type(e).__name__}: {e})") from None


# -- bounded reads (shared with the readers of other frameworks' files) ------------------
def read_member(archive, name, path, max_bytes):
    """The bytes of member `name` of the open ZipFile `archive`, decompressing at most
    `max_bytes` + 1 (deflate and stored members only, the CRC checked); a ModelFileError
    naming `path` and the member otherwise."""
    where = f"member {name!r}"
    with _reading(path, where):
        info = archive.getinfo(name)
        if info.compress_type not in _ZIP_METHODS:
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
    with _reading(path, where):
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
    with _reading(path, where):
        data = f.read(nbytes)
        trailing = f.read(1)
    if len(data) != nbytes or trailing:
        raise ModelFileError(path, where, f"the array's data is {'longer' if trailing else 'shorter'} "
                                          f"than its header {stored} {dtype} says")
    return np.frombuffer(data, dtype).reshape(stored, order="F" if fortran else "C")


class WeightsArchive:
    """The arrays of a ``.weights.npz`` file, read one at a time on request."""

    def __init__(self, source, path):
        self.path = path
        with _reading(path, "the weights archive"):
            self.archive = zipfile.ZipFile(source)
            self.names = set(self.archive.namelist())

    def has(self, key):
        return f"{key}.npy" in self.names

    def read(self, key, shape=None):
        member = f"{key}.npy"
        where = f"array {key!r}"
        if member not in self.names:
            raise ModelFileError(self.path, where, "missing")
        with _reading(self.path, where):
            info = self.archive.getinfo(member)
            if info.compress_type not in _ZIP_METHODS:
                raise ModelFileError(self.path, where, f"compression method {info.compress_type} is not read")
            with self.archive.open(info) as f:
                return read_npy(f, self.path, where, shape)

    def manifest(self):
        where = f"array {MANIFEST_KEY!r}"
        if not self.has(MANIFEST_KEY):
            raise ModelFileError(self.path, where, "missing: this is not a minirnn weights file")
        with _reading(self.path, where), self.archive.open(f"{MANIFEST_KEY}.npy") as f:
            shape, _, dtype = read_npy_header(f, self.path, where)
            if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_CONFIG_BYTES:
                raise ModelFileError(self.path, where, f"expected at most {MAX_CONFIG_BYTES:,} bytes "
                                                       f"of JSON text, found {dtype} {shape}")
        text = self.read(MANIFEST_KEY, shape).tobytes()
        manifest = load_json(text, self.path, where)
        _check_format(manifest, "minirnn.weights", self.path)
        return manifest


def _weight_budget(stored_bytes):
    """Bytes of weights a file whose weights take `stored_bytes` on disk may make us allocate."""
    return min(MAX_WEIGHT_BYTES, WEIGHT_BYTES_PER_FILE_BYTE * stored_bytes + WEIGHT_SLACK_BYTES)


@contextlib.contextmanager
def _building_limited(stored_bytes, safe_mode=True):
    """Within the block, layers built from a file whose weights take `stored_bytes` on disk may
    allocate at most :func:`_weight_budget` bytes of weights (no limit when not in safe mode)."""
    if not safe_mode:
        yield
        return

    def too_big(requested, remaining):
        return _OverBudget(f"its config asks for a {requested / 2**20:,.1f} MiB weight, more than the "
                           f"{remaining / 2**20:,.1f} MiB left of what a file whose weights take "
                           f"{stored_bytes:,} bytes may allocate (at most {WEIGHT_BYTES_PER_FILE_BYTE}x "
                           f"that, and {MAX_WEIGHT_BYTES / 2**30:g} GiB in all); if you trust the file, "
                           f"load it with safe_mode=False")

    with initializers.allocation_limit(_weight_budget(stored_bytes), too_big):
        yield


# -- functions --------------------------------------------------------------------
def _legacy_reference(fn):
    """``"module:qualname"`` of a module attribute (as format 1 files before the registry named
    functions), or None."""
    module = "numpy" if isinstance(fn, np.ufunc) else getattr(fn, "__module__", None)
    qualname = getattr(fn, "__name__" if isinstance(fn, np.ufunc) else "__qualname__", None)
    return f"{module}:{qualname}" if isinstance(module, str) and isinstance(qualname, str) else None


def _registered_by_reference(reference):
    """The registered object an old ``"module:qualname"`` reference names, or None."""
    for key in registry.registered_names():
        obj = registry.get_registered_object(key)
        if _legacy_reference(obj) == reference:
            return obj
    return None


def _lambda_source(fn, text):
    """The ``lambda ...`` expression of `fn` out of the source lines around it, or None: the
    shortest text from a ``lambda`` keyword, ending before a delimiter, that compiles to a
    function with the same arguments, names and constants."""
    def signature(code):
        return code.co_argcount, code.co_varnames, code.co_names, code.co_consts

    found = set()
    for start in (m.start() for m in re.finditer(r"\blambda\b", text)):
        for end in [m.start() for m in re.finditer(r"[,)\]}\n]", text) if m.start() > start] + [len(text)]:
            segment = text[start:end].strip()
            try:
                code = compile(segment, "<lambda>", "eval").co_consts[0]
            except (SyntaxError, IndexError):
                continue
            if inspect.iscode(code) and signature(code) == signature(fn.__code__):
                found.add(segment)
            break
    return found.pop() if len(found) == 1 else None


def function_source(fn):
    """The source text of a Python function (a ``lambda`` expression or a ``def``), best
    effort: None when Python does not have it."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    return _lambda_source(fn, text) if fn.__name__ == "<lambda>" else text


def serialize_function(fn, where="function"):
    """A function as a file stores it: its registered name, else its source (see the module
    docstring); anything that is not a Python function raises a ValueError naming `where`."""
    name = registry.registered_name(fn)
    if name is not None:
        return name
    if not inspect.isfunction(fn):
        raise ValueError(f"{where} is {fn!r}, which is neither a registered function nor a Python "
                         f"function, so it cannot be saved; register it with "
                         f"@minirnn.registry.register_serializable()")
    return {"class_name": PYTHON_FUNCTION,
            "config": {"name": fn.__qualname__, "module": fn.__module__, "source": function_source(fn)}}


def _how_to_register(short):
    return (f"pass custom_objects={{{short!r}: your_function}} or register the function with "
            f"@minirnn.registry.register_serializable() before loading")


def deserialize_function(entry, where="function"):
    """The function a file names: a registered name (or an old ``"module:qualname"`` reference
    to a registered object), ``custom_objects`` first; a function saved as source only with
    ``safe_mode=False``.  Nothing is imported or looked up by attribute in safe mode."""
    load = _options()
    if isinstance(entry, str):
        short = re.split("[>:.]", entry)[-1]
        fn = registry.get_registered_object(entry, load.custom_objects) if ">" in entry else None
        if fn is None and ":" in entry:
            fn = load.custom_objects.get(entry) or load.custom_objects.get(short)
            if fn is None:
                fn = _registered_by_reference(entry)
        if fn is None:
            fn = load.custom_objects.get(entry)
        if fn is None or not callable(fn) or isinstance(fn, type):
            raise load.error(where, f"{entry!r} is not a registered function: a file can only name "
                                    f"functions registered in minirnn.registry; {_how_to_register(short)}")
        return fn
    config = entry.get("config") if isinstance(entry, dict) and entry.get("class_name") == PYTHON_FUNCTION else None
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise load.error(where, f"expected a registered function name or a saved Python function, "
                                f"received {_short_repr(entry)}")
    name = config["name"]
    short = name.rpartition(".")[2]
    if short in load.custom_objects or name in load.custom_objects:
        return load.custom_objects.get(name, load.custom_objects.get(short))
    if load.safe_mode:
        raise load.error(where, f"the Python function {name!r} was saved as source code; making it "
                                f"again would run code from the file, which safe_mode=True refuses. "
                                f"Substitute it: {_how_to_register(short)}; or, if you trust the "
                                f"file, load it with safe_mode=False")
    return _function_from_source(config, load, where)


def _function_from_source(config, load, where):
    """Run the saved source (safe_mode=False only) in a copy of its module's namespace when
    that module can be imported, else with NumPy as ``np``."""
    name, source = config["name"], config.get("source")
    if not isinstance(source, str):
        raise load.error(where, f"the Python function {name!r} was saved without its source "
                                f"(Python could not find it); {_how_to_register(name.rpartition('.')[2])}")
    namespace = {"np": np, "numpy": np, "math": math}
    with contextlib.suppress(Exception):
        namespace = dict(vars(importlib.import_module(str(config.get("module")))))
    try:
        if name.rpartition(".")[2] == "<lambda>":
            return eval(compile(source, f"<{load.path}: {where}>", "eval"), namespace)
        exec(compile(source, f"<{load.path}: {where}>", "exec"), namespace)
        return namespace[name.rpartition(".")[2]]
    except Exception as e:
        raise load.error(where, f"cannot make the Python function {name!r} from its saved source "
                                f"({type(e).__name__}: {e})") from None


def _short_repr(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- layers -------------------------------------------------------------------
def serialize_layer(layer, build_config=False):
    """``{"class_name", "registered_name", "module", "config"}`` (and ``build_config`` with the
    input shape the layer was built for, if asked and known)."""
    cls = type(layer)
    entry = {"class_name": cls.__name__, "registered_name": registry.registered_name(cls),
             "module": cls.__module__, "config": layer.get_config()}
    shape = getattr(layer, "build_input_shape", None)
    if build_config and layer.built and shape is not None:
        entry["build_config"] = {"input_shape": list(shape)}
    return entry


def _checked_shape(shape, load, where):
    """A file's input shape as a tuple of ints >= 0 and Nones; in safe mode with at most
    MAX_INPUT_ITEMS elements (unknown sizes counted as 3), since layers probe their output
    shapes by calling themselves on zeros of that shape.  A layer of several inputs (a merge
    layer, a model) has a list of such shapes, each checked."""
    if isinstance(shape, list) and 1 < len(shape) <= 64 and all(isinstance(s, list) for s in shape):
        return tuple(_checked_shape(s, load, f"{where}[{k}]") for k, s in enumerate(shape))
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            d is None or (type(d) is int and 0 <= d) for d in shape):
        raise load.error(where, f"expected a shape (a list of up to 8 sizes >= 0 or null), "
                                f"received {_short_repr(shape)}")
    if load.safe_mode and math.prod(3 if d is None else d for d in shape) > MAX_INPUT_ITEMS:
        raise load.error(where, f"the shape {shape} has more than {MAX_INPUT_ITEMS:,} elements (unknown "
                                f"sizes counted as 3); if you trust the file, load it with safe_mode=False")
    return tuple(shape)


def deserialize_layer(entry, custom_objects=None, safe_mode=None):
    """A new layer from :func:`serialize_layer`'s output; the class comes from
    ``custom_objects`` or :mod:`minirnn.registry`, never from code in the file.  Every problem
    with the entry is a :class:`ModelFileError`."""
    with loading_options(custom_objects, safe_mode) as load:
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
                or not isinstance(entry.get("config", {}), dict):
            raise load.error("a layer entry", f"expected {{'class_name': ..., 'config': {{...}}}}, "
                                              f"received {_short_repr(entry)}")
        class_name, config = entry["class_name"], dict(entry.get("config") or {})
        where = f"layer {_short_repr(config.get('name'), 80)} ({class_name[:80]})"
        cls = None                  # the registered name first: a custom class may share a built-in's name
        if isinstance(entry.get("registered_name"), str):
            cls = get_layer_class(entry["registered_name"], load.custom_objects)
        if cls is None:
            cls = get_layer_class(class_name, load.custom_objects)
        if cls is None:
            raise load.error(where, f"unknown layer class {class_name!r}. A custom layer class must be "
                                    f"defined (its module imported) before loading, or passed as "
                                    f"custom_objects={{{class_name!r}: {class_name}}}")
        if "dtype" in config and config["dtype"] is not None and config["dtype"] not in LAYER_DTYPES:
            raise load.error(f"{where} field 'dtype'", f"expected one of {list(LAYER_DTYPES)}, "
                                                       f"received {_short_repr(config['dtype'])}")
        for key in ("shape", "input_shape", "batch_shape"):     # shapes a layer may probe with
            shape = config.get(key)
            field = f"{where} field {key!r}"
            if key == "shape" and isinstance(shape, list):       # an Input's, after its batch size
                shape, field = [config.get("batch_size")] + shape, f"{where} fields 'batch_size' and 'shape'"
            if shape is not None:
                _checked_shape(shape, load, field)
        build = entry.get("build_config") or {}
        shape = None
        if isinstance(build, dict) and build.get("input_shape") is not None:
            shape = _checked_shape(build["input_shape"], load, f"{where} field 'build_config'")
        try:
            layer = cls.from_config(config)
            if shape is not None and not layer.built:
                layer.ensure_built(shape)
        except ModelFileError:
            raise
        except _OverBudget as e:
            raise load.error(where, str(e)) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
                MemoryError, RecursionError) as e:
            raise load.error(where, f"its config cannot make the layer ({type(e).__name__}: {e})") from None
        return layer


# -- JSON checks ------------------------------------------------------------------
def _json_ready(value, where):
    """`value` with tuples as lists and NumPy scalars as Python ones, or a ValueError
    saying which entry cannot be stored and why."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise ValueError(f"{where} is {value}, which JSON cannot store")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} has the non-string key {k!r}, which JSON cannot store")
            out[k] = _json_ready(v, f"{where}.{k}")
        return out
    if callable(value):
        raise ValueError(f"{where} is the callable {value!r}, which cannot be stored as data; only "
                         f"a layer's function arguments (a Lambda's function and backward) are saved "
                         f"as functions")
    raise ValueError(f"{where} is {type(value).__name__} {value!r}, which cannot be stored in JSON")


def _checked_layer_entry(layer):
    where = f"Layer '{layer.name}' ({type(layer).__name__}): config entry"
    entry = serialize_layer(layer, build_config=True)
    entry["config"] = {k: _json_ready(v, f"{where} {k!r}") for k, v in entry["config"].items()}
    return _json_ready(entry, where)


# -- compile state -------------------------------------------------------------------
def _serialize_object(obj, module, what):
    """A built-in optimizer / loss by class name; a custom one adds its registered name."""
    entry = module.serialize(obj)
    if module._REGISTRY.by_name.get(entry["class_name"]) is not type(obj):
        entry["registered_name"] = registry.registered_name(type(obj))
        entry["module"] = type(obj).__module__
    return _json_ready(entry, f"The {what} config")


def _deserialize_object(entry, module, base, what):
    load = _options()
    where = f"compile_config field {what!r}"
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise load.error(where, f"expected {{'class_name': ..., 'config': {{...}}}}, received {_short_repr(entry)}")
    name = entry["class_name"]
    candidates = [load.custom_objects.get(name)]
    if isinstance(entry.get("registered_name"), str):
        candidates.append(registry.get_registered_object(entry["registered_name"], load.custom_objects))
    if isinstance(entry.get("ref"), str):                 # files written before the registry
        candidates.append(_registered_by_reference(entry["ref"]))
    candidates.append(module._REGISTRY.by_name.get(name))
    cls = next((c for c in candidates if isinstance(c, type) and issubclass(c, base)), None)
    if cls is None:
        raise load.error(where, f"unknown {what} class {name!r}; pass custom_objects={{{name!r}: {name}}} "
                                f"or register the class with @minirnn.registry.register_serializable()")
    try:
        return cls.from_config(dict(entry.get("config") or {}))
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise load.error(where, f"its config cannot make the {what} ({type(e).__name__}: {e})") from None


def _serialize_metric(metric):
    """A built-in metric class with its constructor arguments, or a wrapped function (a
    built-in by name, another as :func:`serialize_function` stores it) with its keyword
    arguments."""
    from .layers.base import constructor_arguments

    cls = type(metric)
    if metrics_module._CLASSES.get(cls.__name__) is cls:
        fn_kwargs = getattr(metric, "fn_kwargs", {})
        config = {}
        for arg in constructor_arguments(cls):
            if hasattr(metric, arg):
                config[arg] = getattr(metric, arg)
            elif arg in fn_kwargs:
                config[arg] = fn_kwargs[arg]
            else:
                raise ValueError(f"The metric {metric.name!r} ({cls.__name__}) cannot be saved: its "
                                 f"constructor argument {arg!r} is not stored")
        entry = {"name": metric.name, "class_name": cls.__name__, "config": config}
    elif cls is metrics_module.MeanMetricWrapper:
        named = [k for k, f in metrics_module._FUNCTIONS.items() if f is metric.fn]
        function = ((metric.name if metric.name in named else named[0]) if named
                    else serialize_function(metric.fn, f"The metric {metric.name!r}"))
        entry = {"name": metric.name, "function": function, "kwargs": dict(metric.fn_kwargs)}
    else:
        raise ValueError(f"The metric {metric.name!r} ({cls.__qualname__}) is not a built-in metric, so it "
                         f"cannot be saved; save with include_optimizer=False and compile after loading")
    return _json_ready(entry, f"The metric {metric.name!r}")


def _deserialize_metric(entry):
    load = _options()
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise load.error("compile_config field 'metrics'", f"expected {{'name': ..., ...}}, "
                                                           f"received {_short_repr(entry)}")
    name = entry["name"]
    where = f"compile_config metric {name!r}"
    try:
        if "class_name" in entry:
            cls = load.custom_objects.get(entry["class_name"]) or metrics_module._CLASSES.get(entry["class_name"])
            if not (isinstance(cls, type) and issubclass(cls, metrics_module.Mean)):
                raise load.error(where, f"unknown metric class {_short_repr(entry['class_name'])}")
            metric = cls(**dict(entry.get("config") or {}))
        else:
            function = entry.get("function")
            if isinstance(function, str) and function in metrics_module._FUNCTIONS:
                fn = metrics_module._FUNCTIONS[function]
            else:
                fn = deserialize_function(function, where)
            metric = metrics_module.MeanMetricWrapper(fn, name, **dict(entry.get("kwargs") or {}))
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise load.error(where, f"its config cannot make the metric ({type(e).__name__}: {e})") from None
    metric.name = name
    return metric


def compile_config(model):
    """The JSON compile config of a compiled model (optimizer, loss, metrics), else None."""
    if not getattr(model, "compiled", False):
        return None
    if callable(getattr(model.optimizer, "_learning_rate", None)):
        raise ValueError(f"Model '{model.name}': the optimizer's learning_rate is a schedule (a callable), "
                         f"which cannot be saved; save with include_optimizer=False")
    if isinstance(model.loss, list):               # several outputs: one loss and metric list each
        return {"optimizer": _serialize_object(model.optimizer, optimizers, "optimizer"),
                "loss": [None if fn is None else _serialize_object(fn, losses, "loss") for fn in model.loss],
                "loss_weights": list(model.loss_weights),
                "metrics": [[_serialize_metric(m) for m in group] for group in model.metrics_per_output()]}
    return {"optimizer": _serialize_object(model.optimizer, optimizers, "optimizer"),
            "loss": _serialize_object(model.loss, losses, "loss"),
            "metrics": [_serialize_metric(m) for m in model.metrics]}


def compile_from_config(model, config):
    """``model.compile`` with the optimizer, loss and metrics of :func:`compile_config`."""
    load = _options()
    if not isinstance(config, dict) or not isinstance(config.get("metrics") or [], list):
        raise load.error("compile_config", f"expected {{'optimizer', 'loss', 'metrics'}}, "
                                           f"received {_short_repr(config)}")
    optimizer = _deserialize_object(config.get("optimizer"), optimizers, optimizers.Optimizer, "optimizer")
    loss, metrics = config.get("loss"), config.get("metrics") or []
    if isinstance(loss, list):                     # several outputs: one loss and metric list each
        loss = [None if entry is None else _deserialize_object(entry, losses, losses.Loss, "loss") for entry in loss]
        metrics = [[_deserialize_metric(entry) for entry in group] if isinstance(group, list) else
                   _deserialize_metric(group) for group in metrics]
    else:
        loss = _deserialize_object(loss, losses, losses.Loss, "loss")
        metrics = [_deserialize_metric(entry) for entry in metrics]
    try:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=config.get("loss_weights"))
    except (TypeError, ValueError) as e:
        raise load.error("compile_config", f"cannot compile the model ({e})") from None


# -- weights ---------------------------------------------------------------------------
def _optimizer_state(model):
    """(manifest entry, arrays) of the optimizer's iteration count and slots."""
    optimizer = model.optimizer
    slots, arrays = {}, {}
    # Optimizer slots are kept per parameter array (see optimizers.Optimizer._slots_for).
    kept = getattr(optimizer, "_slots", {})
    for k, weight in enumerate(model.weights):
        entry = kept.get(id(weight))
        if entry is None or entry[0] is not weight:
            continue
        slots[str(k)] = list(entry[1])
        for name, value in entry[1].items():
            arrays[f"optimizer/{k}/{name}"] = np.ascontiguousarray(value)
    manifest = {"class_name": type(optimizer).__name__, "iterations": int(optimizer.iterations),
                "slots": slots}
    return manifest, arrays


def weight_arrays(model, include_optimizer=True):
    """{key: array} of a ``.weights.npz`` file, the manifest included."""
    arrays, entries = {}, []
    for i, layer in enumerate(model.layers):
        own = layer.weights
        for j, w in enumerate(own):
            if w.dtype.kind not in "biuf":
                raise ValueError(f"Layer '{layer.name}': weight {j} has dtype {w.dtype}; only numeric "
                                 f"arrays are saved")
            arrays[f"layers/{i}/{j}"] = np.ascontiguousarray(w)
        shape = getattr(layer, "build_input_shape", None) if layer.built else None
        entries.append({"name": layer.name, "class_name": type(layer).__name__,
                        "input_shape": None if shape is None else list(shape),
                        "shapes": [list(w.shape) for w in own], "dtypes": [w.dtype.name for w in own]})
    manifest = {"format": "minirnn.weights", "format_version": FORMAT_VERSION,
                "input_shape": None if model.input_shape is None else list(model.input_shape),
                "layers": entries, "optimizer": None}
    if include_optimizer and getattr(model, "compiled", False):
        manifest["optimizer"], slot_arrays = _optimizer_state(model)
        arrays.update(slot_arrays)
    text = json.dumps(_json_ready(manifest, "The weights manifest"), allow_nan=False)
    arrays[MANIFEST_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return arrays


def _check_format(config, expected, path):
    if not isinstance(config, dict) or config.get("format") != expected:
        found = config.get("format") if isinstance(config, dict) else None
        raise ModelFileError(path, "field 'format'", f"not a {expected} file (format {_short_repr(found)})")
    version = config.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise ModelFileError(path, "field 'format_version'",
                             f"format_version {_short_repr(version)}; this minirnn reads versions up to "
                             f"{FORMAT_VERSION} (the file was written by a newer minirnn)")


def _restore_optimizer(model, saved, weights, path):
    optimizer = model.optimizer
    where = "manifest field 'optimizer'"
    if not isinstance(saved, dict) or not isinstance(saved.get("slots", {}), dict):
        raise ModelFileError(path, where, f"expected {{'class_name', 'iterations', 'slots'}}, "
                                          f"received {_short_repr(saved)}")
    if type(optimizer).__name__ != saved.get("class_name"):
        warnings.warn(f"{path!r} holds {saved.get('class_name')} state but model '{model.name}' is "
                      f"compiled with {type(optimizer).__name__}; the optimizer state is not loaded")
        return
    params = model.weights
    expected = set(getattr(optimizer, "_slot_names", ()))
    plan = []
    for k, names in saved.get("slots", {}).items():
        k = int(k) if isinstance(k, str) and k.isdigit() else -1
        if not 0 <= k < len(params) or not isinstance(names, list) or set(names) != expected:
            warnings.warn(f"{path!r}: the optimizer state does not match model '{model.name}''s "
                          f"weights or optimizer configuration; it is not loaded")
            return
        plan.append((k, names))
    iterations = saved.get("iterations", 0)
    if type(iterations) is not int or iterations < 0:
        raise ModelFileError(path, f"{where}.iterations", f"expected a count >= 0, received {_short_repr(iterations)}")
    restored = {k: {name: np.array(weights.read(f"optimizer/{k}/{name}", params[k].shape), dtype=params[k].dtype)
                    for name in names} for k, names in plan}
    for k, slots in restored.items():
        optimizer._slots[id(params[k])] = (params[k], slots)
    optimizer.iterations = iterations


def _build_from_manifest(model, saved, path):
    """Build the layers the model could not build, from the input shapes in the manifest."""
    load = _Load(path=path)
    for i, (layer, entry) in enumerate(zip(model.layers, saved)):
        if not layer.built and isinstance(entry, dict) and entry.get("input_shape") is not None and entry.get("shapes"):
            shape = _checked_shape(entry["input_shape"], load, f"manifest layer {i} field 'input_shape'")
            try:
                layer.ensure_built(shape)
            except ModelFileError:
                raise
            except (TypeError, ValueError, MemoryError) as e:
                raise load.error(f"manifest layer {i} field 'input_shape'",
                                 f"cannot build layer '{layer.name}' for {shape} ({e})") from None


def apply_weights(model, manifest, weights, path="<weights>", skip_mismatch=False):
    """Check every layer's weight count and shapes against the file, then load them all
    (nothing is changed if any check fails, unless ``skip_mismatch``).  `weights` is a
    :class:`WeightsArchive`; each array's header is checked before its data is read."""
    saved = manifest.get("layers")
    layers = list(model.layers)
    if not isinstance(saved, list) or not all(isinstance(entry, dict) for entry in saved):
        raise ModelFileError(path, "manifest field 'layers'", f"expected a list of layer entries, "
                                                             f"received {_short_repr(saved)}")
    if len(saved) != len(layers):
        raise ValueError(f"Model '{model.name}' has {len(layers)} layers "
                         f"{[layer.name for layer in layers]}, but {path!r} holds {len(saved)} "
                         f"{[_short_repr(entry.get('name'), 40) for entry in saved]}")
    _build_from_manifest(model, saved, path)
    plan = []
    for i, (layer, entry) in enumerate(zip(layers, saved)):
        what = f"Layer '{layer.name}' ({type(layer).__name__})"
        shapes = entry.get("shapes", [])
        if not isinstance(shapes, list):
            raise ModelFileError(path, f"manifest layer {i} field 'shapes'", f"expected a list, "
                                                                             f"received {_short_repr(shapes)}")
        own = layer.weights
        problem = None
        if type(layer).__name__ != entry.get("class_name"):
            saved_class = entry.get("class_name")
            problem = (f"cannot load the weights of the saved "
                       f"{saved_class if isinstance(saved_class, str) else '?'} {_short_repr(entry.get('name'), 40)}")
        elif not layer.built and shapes:
            problem = (f"is not built, so it cannot load {len(shapes)} weight arrays: call the model "
                       f"on data or build(input_shape) first")
        elif len(own) != len(shapes):
            problem = (f"expects {len(own)} weight arrays, but {path!r} holds {len(shapes)} for "
                       f"layer {_short_repr(entry.get('name'), 40)}")
        else:
            for j, (w, s) in enumerate(zip(own, shapes)):
                if not isinstance(s, list) or tuple(s) != w.shape:
                    problem = (f"weight {j} has shape {w.shape}, but {path!r} holds shape "
                               f"{tuple(s) if isinstance(s, list) else _short_repr(s)} for layer "
                               f"{_short_repr(entry.get('name'), 40)}")
                    break
        if problem is not None:
            if not skip_mismatch:
                raise ValueError(f"{what} {problem}")
            warnings.warn(f"{what} {problem}; skipped (skip_mismatch=True)")
            continue
        plan.append((own, [weights.read(f"layers/{i}/{j}", w.shape) for j, w in enumerate(own)]))
    for own, values in plan:
        for w, v in zip(own, values):
            w[...] = v
    if manifest.get("optimizer") and getattr(model, "compiled", False):
        _restore_optimizer(model, manifest["optimizer"], weights, path)


# -- files ------------------------------------------------------------------------
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


def _target(filepath, suffix, what, overwrite):
    path = os.fspath(filepath)
    if not path.endswith(suffix):
        raise ValueError(f"{what} writes files whose name ends in {suffix!r}, received {path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    return path


def _require_built(model, what):
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built, so it has no weights to {what}: "
                         f"call it on data or build(input_shape) first")


def save_weights(model, filepath, overwrite=True):
    """Write the model's weights (and optimizer state, when compiled) to a ``.weights.npz`` file
    (or, for a name ending in ``.weights.h5``, Keras 3's weights file)."""
    if os.fspath(filepath).endswith(".weights.h5"):
        from .interop import keras_files

        _require_built(model, "save")
        return keras_files.save_keras_weights(model, filepath, overwrite=overwrite)
    path = _target(filepath, WEIGHTS_SUFFIX, "save_weights()", overwrite)
    _require_built(model, "save")
    arrays = weight_arrays(model)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _open_archive(path):
    with _reading(path, "the archive"):
        return zipfile.ZipFile(path)


def _weights_member(archive, path, safe_mode):
    """(bytes of the model file's weights member, its size on disk), bounded in safe mode."""
    where = f"member {WEIGHTS_NAME!r}"
    with _reading(path, where):
        info = archive.getinfo(WEIGHTS_NAME)
    limit = _weight_budget(info.compress_size) if safe_mode else max(info.file_size, 0)
    return read_member(archive, WEIGHTS_NAME, path, limit), info.compress_size


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights from a ``.weights.npz`` file or a ``.minirnn`` model file; Keras files by
    suffix: ``.keras`` and ``.weights.h5`` (Keras 3), ``.h5`` (legacy Keras 2 / tf.keras)."""
    path = os.fspath(filepath)
    if path.endswith((".keras", ".weights.h5")):
        from .interop import keras_files

        return keras_files.load_keras_weights(model, path)
    if path.endswith((".h5", ".hdf5")):
        from .interop import keras_files

        return keras_files.load_legacy_weights(model, path)
    if path.endswith(MODEL_SUFFIX):
        with _open_archive(path) as archive:
            _require_members(archive, path, [WEIGHTS_NAME])
            data, stored = _weights_member(archive, path, True)
        source = io.BytesIO(data)
    elif path.endswith(WEIGHTS_SUFFIX):
        source, stored = path, os.path.getsize(path)
    else:
        raise ValueError(f"load_weights() reads '{WEIGHTS_SUFFIX}' files (from save_weights) or "
                         f"'{MODEL_SUFFIX}' files (from save), received {path!r}")
    weights = WeightsArchive(source, path)
    with weights.archive, _building_limited(stored):
        apply_weights(model, weights.manifest(), weights, path, skip_mismatch)


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write the model (architecture, weights, compile state) to a ``.minirnn`` file, or to a
    Keras 3 ``.keras`` file (see :mod:`minirnn.interop.keras_files`)."""
    from . import __version__

    if os.fspath(filepath).endswith(".keras"):
        from .interop import keras_files

        return keras_files.save_keras(model, filepath, overwrite, include_optimizer)
    path = _target(filepath, MODEL_SUFFIX, "save()", overwrite)
    config = {"format": "minirnn.model", "format_version": FORMAT_VERSION, "minirnn_version": __version__,
              "model": {"class_name": type(model).__name__,
                        "config": _json_ready(model.get_config(serialize=_checked_layer_entry), "The model config")},
              "compile_config": compile_config(model) if include_optimizer else None}
    text = json.dumps(config, indent=1, allow_nan=False)
    weights = io.BytesIO()
    np.savez(weights, **weight_arrays(model, include_optimizer))

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr(CONFIG_NAME, text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(WEIGHTS_NAME, weights.getvalue())

    atomic_write(path, write)


def _require_members(archive, path, names):
    missing = sorted(set(names) - set(archive.namelist()))
    if missing:
        raise ModelFileError(path, f"member {missing[0]!r}", "missing: this is not a minirnn model file")


def _model_from_config(entry, load):
    """The model (fresh weights) of config.json's ``"model"`` entry."""
    from .models import Model, Sequential

    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict) \
            or not isinstance(entry["config"].get("layers", []), list):
        raise load.error("field 'model'", f"expected {{'class_name', 'config': {{'name', 'layers'}}}}, "
                                          f"received {_short_repr(entry)}")
    classes = {"Sequential": Sequential, "Model": Model,
               **{k: v for k, v in load.custom_objects.items() if isinstance(v, type) and issubclass(v, Model)}}
    cls = classes.get(entry.get("class_name")) if isinstance(entry.get("class_name"), str) else None
    if cls is None:
        raise load.error("field 'model.class_name'", f"unknown model class {_short_repr(entry.get('class_name'))}"
                                                     f"; pass it in custom_objects")
    try:
        return cls.from_config(entry["config"])
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        raise load.error("field 'model.config'", f"cannot make the model ({type(e).__name__}: {e})") from None


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a ``.minirnn`` file, compiled as it was saved (unless ``compile=False``),
    its optimizer state included.  ``custom_objects`` ({name: class or function}) supply what
    the file names beyond :mod:`minirnn.registry`; ``safe_mode=False`` trusts the file: it makes
    functions saved as source code and lifts the size limits.  Every problem with the file
    raises :class:`ModelFileError` (see the module docstring).  Keras files load by suffix:
    ``.keras`` (Keras 3) and ``.h5`` (legacy Keras 2 / tf.keras), see :mod:`minirnn.interop.keras_files`."""
    path = os.fspath(filepath)
    if path.endswith((".keras", ".h5", ".hdf5")):
        from .interop import keras_files

        load = keras_files.load_keras if path.endswith(".keras") else keras_files.load_legacy_h5
        return load(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    with _open_archive(path) as archive:
        _require_members(archive, path, [CONFIG_NAME, WEIGHTS_NAME])
        config = load_json(read_member(archive, CONFIG_NAME, path, MAX_CONFIG_BYTES), path,
                           f"member {CONFIG_NAME!r}")
        _check_format(config, "minirnn.model", path)
        data, stored = _weights_member(archive, path, safe_mode)
    with loading_options(custom_objects, safe_mode, path) as load, _building_limited(stored, safe_mode):
        model = _model_from_config(config.get("model"), load)
        if compile and config.get("compile_config"):
            compile_from_config(model, config["compile_config"])
        weights = WeightsArchive(io.BytesIO(data), path)
        with weights.archive:
            try:
                apply_weights(model, weights.manifest(), weights, path)
            except ModelFileError:
                raise
            except ValueError as e:                 # the weights do not fit the model the config made
                raise load.error(f"member {WEIGHTS_NAME!r}", str(e)) from None
    return model
