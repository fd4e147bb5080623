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
                          "layers": [{"class_name": "InputLayer", "module": "minirnn.layers.core",
                                      "config": {"shape": [null, 1], "batch_size": null,
                                                 "dtype": "float32", "name": "input_layer"}},
                                     {"class_name": "LSTM", "module": "minirnn.layers.rnn",
                                      "config": {"name": "lstm", "units": 8, ...},
                                      "build_config": {"input_shape": [null, null, 1]}},
                                     ...]}},
     "compile_config": null   (not compiled, or saved with include_optimizer=False)
                    | {"optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.001, ...}},
                       "loss": {"class_name": "MeanSquaredError", "config": {...}},
                       "metrics": [{"name": "mae", "function": "mae", "kwargs": {}},
                                   {"name": "acc", "class_name": "Accuracy",
                                    "config": {"name": "acc", "kind": "binary"}}]}}

  Each layer is ``{"class_name", "module", "config"}`` where ``config`` is ``layer.get_config()``
  (every constructor argument: initializers as ``{"class_name", "config"}``, activations by
  name; Bidirectional nests its layer's and backward layer's entries) and ``build_config``
  the input shape it was built for.  A built-in optimizer or loss is named by class; a custom
  one by reference, ``"ref": "module:qualname"``; a metric is a built-in metric class with
  its arguments, or a function (a built-in by name, a module-level one by reference).

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

Safety
------

* No pickle anywhere: every array is numeric, written by ``np.savez`` and read by
  ``np.load(..., allow_pickle=False)``; everything else is JSON.
* Nothing is evaluated on load.  Layer classes are found by name in the registry that
  ``Layer.__init_subclass__`` fills (so layers defined anywhere, once imported, load);
  an unknown name is a clear error.  Functions (a ``Lambda``'s, a custom metric's) are
  never stored as code, only as references ``"module:qualname"`` to module-level
  functions or NumPy ufuncs, resolved with ``getattr``.  With ``safe_mode=True`` (the
  default) the module must already be imported (so loading imports nothing) and the
  standard library is refused apart from ``math``, ``cmath`` and ``operator``;
  ``custom_objects={"name": obj}`` supplies objects by name or reference.
  ``safe_mode=False`` imports the module named in the file: only for files you trust.
* Writes are atomic: the file is written to a temporary file in the same directory,
  flushed and fsync'ed, then moved over the target with ``os.replace``, so a crash
  mid-save leaves the previous file intact.
"""
import contextlib
import importlib
import io
import json
import os
import pkgutil
import re
import secrets
import sys
import threading
import warnings
import zipfile

import numpy as np

from . import losses, metrics as metrics_module, optimizers
from .layers.base import Layer, get_layer_class

FORMAT_VERSION = 1
MODEL_SUFFIX = ".minirnn"
WEIGHTS_SUFFIX = ".weights.npz"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.weights.npz"
MANIFEST_KEY = "__manifest__"
SAFE_STDLIB = frozenset({"math", "cmath", "operator"})

_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NOT_CODE = ("minirnn never stores code. Use a function defined at module level (saved by "
             "reference as 'module:qualname') or a NumPy ufunc such as np.tanh; or save only the "
             "weights with model.save_weights(...) and rebuild the model in code.")


# -- options while loading -----------------------------------------------------
_state = threading.local()


def _options():
    """(custom_objects, safe_mode) of the load in progress."""
    return getattr(_state, "options", None) or ({}, True)


@contextlib.contextmanager
def loading_options(custom_objects=None, safe_mode=None):
    """Within the block, deserialization uses these custom objects and safe mode
    (unspecified ones are inherited from an enclosing block; defaults {} and True)."""
    previous = getattr(_state, "options", None)
    inherited_objects, inherited_safe = _options()
    _state.options = ({**inherited_objects, **dict(custom_objects or {})},
                      inherited_safe if safe_mode is None else bool(safe_mode))
    try:
        yield
    finally:
        _state.options = previous


# -- functions by reference ------------------------------------------------------
def function_reference(fn):
    """``"module:qualname"`` if `fn` is that module attribute (a module-level function, class
    or NumPy ufunc), else None (a lambda, a closure, a bound method...)."""
    if isinstance(fn, np.ufunc):
        module, qualname = getattr(fn, "__module__", None) or "numpy", fn.__name__
    else:
        module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if not _REFERENCE.match(module) or not _REFERENCE.match(qualname):
        return None                                   # "<lambda>", "f.<locals>.g"
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return f"{module}:{qualname}" if obj is fn else None


def resolve_function(reference, what="function"):
    """The object a ``"module:qualname"`` reference names, found by import and getattr
    (never eval).  ``custom_objects`` (by reference or by bare name) come first."""
    custom_objects, safe_mode = _options()
    if not isinstance(reference, str):
        raise ValueError(f"{what}: expected a reference 'module:qualname', received {reference!r}")
    module, _, qualname = reference.partition(":")
    for key in (reference, qualname.rpartition(".")[2]):
        if key in custom_objects:
            return custom_objects[key]
    if not _REFERENCE.match(module) or not _REFERENCE.match(qualname):
        raise ValueError(f"{what}: {reference!r} is not a reference 'module:qualname'")
    hint = f"pass custom_objects={{{qualname.rpartition('.')[2]!r}: ...}}"
    if safe_mode:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names and top not in SAFE_STDLIB:
            raise ValueError(f"{what}: {reference!r} is refused in safe mode (standard-library "
                             f"modules other than {sorted(SAFE_STDLIB)} are not loaded); {hint}, or "
                             f"safe_mode=False if you trust the file")
        obj = sys.modules.get(module)
        if obj is None:
            raise ValueError(f"{what}: {reference!r} refers to module {module!r}, which is not "
                             f"imported; safe mode imports nothing, so import it first, {hint}, or "
                             f"pass safe_mode=False if you trust the file")
    else:
        try:
            obj = importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"{what}: cannot import module {module!r} for {reference!r}: {e}") from None
    for part in qualname.split("."):
        if part.startswith("__"):
            raise ValueError(f"{what}: {reference!r} names a dunder attribute, which is refused")
        obj = getattr(obj, part, None)
    if obj is None or not callable(obj):
        raise ValueError(f"{what}: {reference!r} does not name a callable; {hint}")
    return obj


# -- layers -------------------------------------------------------------------
def serialize_layer(layer, build_config=False):
    """``{"class_name", "module", "config"}`` (and ``build_config`` with the input shape the
    layer was built for, if asked and known)."""
    entry = {"class_name": type(layer).__name__, "module": type(layer).__module__,
             "config": layer.get_config()}
    shape = getattr(layer, "build_input_shape", None)
    if build_config and layer.built and shape is not None:
        entry["build_config"] = {"input_shape": list(shape)}
    return entry


def _import_layer_modules():
    """Import every module of minirnn.layers so all built-in layer classes are registered."""
    from . import layers

    for info in pkgutil.iter_modules(layers.__path__):
        importlib.import_module(f"{layers.__name__}.{info.name}")


def deserialize_layer(entry, custom_objects=None, safe_mode=None):
    """A new layer from :func:`serialize_layer`'s output; the class comes from
    ``custom_objects`` or the layer registry, never from code in the file."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"A layer entry must be {{'class_name': ..., 'config': {{...}}}}, received {entry!r}")
    with loading_options(custom_objects, safe_mode):
        class_name, config = entry["class_name"], dict(entry.get("config") or {})
        cls = _options()[0].get(class_name) or get_layer_class(class_name, entry.get("module"))
        if cls is None:
            _import_layer_modules()
            cls = get_layer_class(class_name, entry.get("module"))
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise ValueError(
                f"Unknown layer class {class_name!r} (layer {config.get('name')!r}, module "
                f"{entry.get('module')!r}). A custom layer must be defined (its module imported) "
                f"before loading, or passed as custom_objects={{{class_name!r}: {class_name}}}")
        layer = cls.from_config(config)
        build = entry.get("build_config") or {}
        if build.get("input_shape") is not None and not layer.built:
            layer.ensure_built(tuple(build["input_shape"]))
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
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", repr(value))
        kind = ("a Python lambda" if "<lambda>" in str(name) else
                "a nested function or closure" if "<locals>" in str(name) else
                "a callable that is not a module-level function")
        raise ValueError(f"{where} is {value!r}, {kind}, which cannot be saved: {_NOT_CODE}")
    raise ValueError(f"{where} is {type(value).__name__} {value!r}, which cannot be stored in JSON")


def _checked_layer_entries(model):
    entries = []
    for layer in ([model.input_layer] if model.input_layer is not None else []) + list(model.layers):
        where = f"Layer '{layer.name}' ({type(layer).__name__}): config entry"
        entry = serialize_layer(layer, build_config=True)
        entry["config"] = {k: _json_ready(v, f"{where} {k!r}") for k, v in entry["config"].items()}
        entries.append(_json_ready(entry, where))
    return entries


# -- compile state -------------------------------------------------------------------
def _serialize_object(obj, module, what):
    """A built-in optimizer / loss by class name, a custom one by reference."""
    entry = module.serialize(obj)
    try:
        builtin = module._REGISTRY.lookup(entry["class_name"]) is type(obj)
    except ValueError:
        builtin = False
    if not builtin:
        ref = function_reference(type(obj))
        if ref is None:
            raise ValueError(f"The {what} {obj!r} is an instance of {type(obj).__qualname__}, which is "
                             f"neither built in nor a module-level class, so it cannot be saved; save "
                             f"with include_optimizer=False and compile after loading")
        entry["ref"] = ref
    return _json_ready(entry, f"The {what} config")


def _deserialize_object(entry, module, what):
    custom_objects, _ = _options()
    name = entry.get("class_name")
    if name in custom_objects:
        cls = custom_objects[name]
    elif entry.get("ref"):
        cls = resolve_function(entry["ref"], f"The {what} {name!r}")
    else:
        cls = module._REGISTRY.lookup(name)
    return cls.from_config(dict(entry.get("config") or {}))


def _serialize_metric(metric):
    """A built-in metric class with its constructor arguments, or a wrapped function (built in,
    by name, or module-level, by reference) with its keyword arguments."""
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
        function = (metric.name if metric.name in named else named[0]) if named else function_reference(metric.fn)
        if function is None:
            raise ValueError(f"The metric {metric.name!r} is the function {metric.fn!r}, which cannot be "
                             f"saved: {_NOT_CODE}")
        entry = {"name": metric.name, "function": function, "kwargs": dict(metric.fn_kwargs)}
    else:
        raise ValueError(f"The metric {metric.name!r} ({cls.__qualname__}) is not a built-in metric, so it "
                         f"cannot be saved; save with include_optimizer=False and compile after loading")
    return _json_ready(entry, f"The metric {metric.name!r}")


def _deserialize_metric(entry):
    custom_objects = _options()[0]
    name = entry.get("name")
    if "class_name" in entry:
        cls = custom_objects.get(entry["class_name"]) or metrics_module._CLASSES.get(entry["class_name"])
        if cls is None:
            raise ValueError(f"Unknown metric class {entry['class_name']!r} (metric {name!r})")
        metric = cls(**dict(entry.get("config") or {}))
    else:
        function = entry["function"]
        if function in custom_objects:
            fn = custom_objects[function]
        elif ":" in function:
            fn = resolve_function(function, f"The metric {name!r}")
        elif function in metrics_module._FUNCTIONS:
            fn = metrics_module._FUNCTIONS[function]
        else:
            raise ValueError(f"Unknown metric function {function!r} (metric {name!r})")
        metric = metrics_module.MeanMetricWrapper(fn, name, **dict(entry.get("kwargs") or {}))
    metric.name = name
    return metric


def compile_config(model):
    """The JSON compile config of a compiled model (optimizer, loss, metrics), else None."""
    if not getattr(model, "compiled", False):
        return None
    if callable(getattr(model.optimizer, "_learning_rate", None)):
        raise ValueError(f"Model '{model.name}': the optimizer's learning_rate is a schedule (a callable), "
                         f"which cannot be saved ({_NOT_CODE}); save with include_optimizer=False")
    return {"optimizer": _serialize_object(model.optimizer, optimizers, "optimizer"),
            "loss": _serialize_object(model.loss, losses, "loss"),
            "metrics": [_serialize_metric(m) for m in model.metrics]}


def compile_from_config(model, config):
    """``model.compile`` with the optimizer, loss and metrics of :func:`compile_config`."""
    model.compile(optimizer=_deserialize_object(config["optimizer"], optimizers, "optimizer"),
                  loss=_deserialize_object(config["loss"], losses, "loss"),
                  metrics=[_deserialize_metric(entry) for entry in config.get("metrics") or []])


# -- weights ---------------------------------------------------------------------------
def _optimizer_state(model):
    """(manifest entry, arrays) of the optimizer's iteration count and slots."""
    optimizer = model.optimizer
    slots, arrays = {}, {}
    # Optimizer slots are kept per parameter array (see optimizers.Optimizer._slots_for).
    registry = getattr(optimizer, "_slots", {})
    for k, weight in enumerate(model.weights):
        entry = registry.get(id(weight))
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
        raise ValueError(f"{path!r} is not a {expected} file (format {config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path!r} has format_version {version!r}; this minirnn reads versions up to "
                         f"{FORMAT_VERSION} (the file was written by a newer minirnn)")


def _read_arrays(source, path):
    """(manifest, {key: array}) from a ``.weights.npz`` file or file object; no pickle."""
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"Cannot read weights from {path!r}: {e}") from None
    if MANIFEST_KEY not in arrays:
        raise ValueError(f"{path!r} is not a minirnn weights file (it has no {MANIFEST_KEY!r} entry)")
    manifest = json.loads(arrays.pop(MANIFEST_KEY).tobytes().decode("utf-8"))
    _check_format(manifest, "minirnn.weights", path)
    return manifest, arrays


def _restore_optimizer(model, saved, arrays, path):
    optimizer = model.optimizer
    if type(optimizer).__name__ != saved.get("class_name"):
        warnings.warn(f"{path!r} holds {saved.get('class_name')} state but model '{model.name}' is "
                      f"compiled with {type(optimizer).__name__}; the optimizer state is not loaded")
        return
    weights = model.weights
    expected = set(getattr(optimizer, "_slot_names", ()))
    restored = {}
    for k, names in saved.get("slots", {}).items():
        k = int(k)
        if k >= len(weights) or set(names) != expected:
            warnings.warn(f"{path!r}: the optimizer state does not match model '{model.name}''s "
                          f"weights or optimizer configuration; it is not loaded")
            return
        values = {name: arrays[f"optimizer/{k}/{name}"] for name in names}
        if any(v.shape != weights[k].shape for v in values.values()):
            warnings.warn(f"{path!r}: optimizer slot shapes do not match model '{model.name}''s "
                          f"weights; the optimizer state is not loaded")
            return
        restored[k] = {name: np.array(v, dtype=weights[k].dtype) for name, v in values.items()}
    for k, slots in restored.items():
        optimizer._slots[id(weights[k])] = (weights[k], slots)
    optimizer.iterations = int(saved.get("iterations", 0))


def apply_weights(model, manifest, arrays, path="<weights>", skip_mismatch=False):
    """Check every layer's weight count and shapes against the file, then load them all
    (nothing is changed if any check fails, unless ``skip_mismatch``)."""
    saved = manifest.get("layers", [])
    layers = list(model.layers)
    if len(saved) != len(layers):
        raise ValueError(f"Model '{model.name}' has {len(layers)} layers "
                         f"{[layer.name for layer in layers]}, but {path!r} holds {len(saved)} "
                         f"{[entry.get('name') for entry in saved]}")
    for layer, entry in zip(layers, saved):             # build layers the model could not
        if not layer.built and entry.get("input_shape") is not None and entry.get("shapes"):
            layer.ensure_built(tuple(entry["input_shape"]))
    plan = []
    for i, (layer, entry) in enumerate(zip(layers, saved)):
        what = f"Layer '{layer.name}' ({type(layer).__name__})"
        try:
            values = [arrays[f"layers/{i}/{j}"] for j in range(len(entry.get("shapes", [])))]
        except KeyError as e:
            raise ValueError(f"{path!r} is damaged: the entry {e} of layer {entry.get('name')!r} is missing") from None
        own = layer.weights
        problem = None
        if type(layer).__name__ != entry.get("class_name"):
            problem = f"cannot load the weights of the saved {entry.get('class_name')} {entry.get('name')!r}"
        elif not layer.built and values:
            problem = (f"is not built, so it cannot load {len(values)} weight arrays: call the model "
                       f"on data or build(input_shape) first")
        elif len(own) != len(values):
            problem = (f"expects {len(own)} weight arrays, but {path!r} holds {len(values)} for "
                       f"layer {entry.get('name')!r}")
        else:
            for j, (w, v) in enumerate(zip(own, values)):
                if w.shape != v.shape:
                    problem = (f"weight {j} has shape {w.shape}, but {path!r} holds shape {v.shape} "
                               f"for layer {entry.get('name')!r}")
                    break
        if problem is not None:
            if not skip_mismatch:
                raise ValueError(f"{what} {problem}")
            warnings.warn(f"{what} {problem}; skipped (skip_mismatch=True)")
            continue
        plan.append((own, values))
    for own, values in plan:
        for w, v in zip(own, values):
            w[...] = v
    if manifest.get("optimizer") and getattr(model, "compiled", False):
        _restore_optimizer(model, manifest["optimizer"], arrays, path)


# -- files ------------------------------------------------------------------------
def atomic_write(path, write):
    """Write `path` through ``write(file)`` atomically: a temporary file in the same directory,
    flushed and fsync'ed, then ``os.replace``d over `path`.  On any error the temporary file
    is removed and the previous `path`, if any, is left untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
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
        with zipfile.ZipFile(path) as archive:
            source = io.BytesIO(archive.read(WEIGHTS_NAME))
    elif path.endswith(WEIGHTS_SUFFIX):
        source = path
    else:
        raise ValueError(f"load_weights() reads '{WEIGHTS_SUFFIX}' files (from save_weights) or "
                         f"'{MODEL_SUFFIX}' files (from save), received {path!r}")
    manifest, arrays = _read_arrays(source, path)
    apply_weights(model, manifest, arrays, path, skip_mismatch)


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
                        "config": {"name": model.name, "layers": _checked_layer_entries(model)}},
              "compile_config": compile_config(model) if include_optimizer else None}
    text = json.dumps(config, indent=1, allow_nan=False)

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr(CONFIG_NAME, text, compress_type=zipfile.ZIP_DEFLATED)
            weights = io.BytesIO()
            np.savez(weights, **weight_arrays(model, include_optimizer))
            archive.writestr(WEIGHTS_NAME, weights.getvalue())

    atomic_write(path, write)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a ``.minirnn`` file, compiled as it was saved (unless ``compile=False``),
    its optimizer state included.  See the module docstring for `custom_objects` and `safe_mode`.
    Keras files load by suffix: ``.keras`` (Keras 3) and ``.h5`` (legacy Keras 2 / tf.keras)."""
    from .models import Sequential

    path = os.fspath(filepath)
    if path.endswith((".keras", ".h5", ".hdf5")):
        from .interop import keras_files

        load = keras_files.load_keras if path.endswith(".keras") else keras_files.load_legacy_h5
        return load(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a minirnn model file (a ZIP archive written by model.save)")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        missing = {CONFIG_NAME, WEIGHTS_NAME} - names
        if missing:
            raise ValueError(f"{path!r} is not a minirnn model file: it lacks {sorted(missing)}")
        config = json.loads(archive.read(CONFIG_NAME).decode("utf-8"))
        weights = archive.read(WEIGHTS_NAME)
    _check_format(config, "minirnn.model", path)
    with loading_options(custom_objects, safe_mode):
        entry = config["model"]
        classes = {"Sequential": Sequential, **{k: v for k, v in _options()[0].items()
                                                if isinstance(v, type) and issubclass(v, Sequential)}}
        cls = classes.get(entry.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown model class {entry.get('class_name')!r} in {path!r}; pass it in "
                             f"custom_objects")
        model = cls.from_config(entry["config"])
        if compile and config.get("compile_config"):
            compile_from_config(model, config["compile_config"])
    manifest, arrays = _read_arrays(io.BytesIO(weights), path)
    apply_weights(model, manifest, arrays, path)
    return model
