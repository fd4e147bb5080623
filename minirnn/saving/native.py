"""minirnn's own format: ``.minirnn`` model files and ``.weights.npz`` weights files, JSON for
structure and plain NumPy arrays for numbers.

    model.save("model.minirnn")                   architecture + weights + compile state
    model = minirnn.models.load_model("model.minirnn")
    model.save_weights("model.weights.npz")       weights (+ optimizer state when compiled)
    model.load_weights("model.weights.npz")       into a model built in code

Format version 1
----------------

A ``.minirnn`` file is a ZIP archive with two members (and a lookup layer's vocabulary asset):

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

``assets/<i>/vocabulary.txt`` (only for a lookup layer whose vocabulary was given as a file): the
vocabulary of layer ``i`` of ``model.layers``, one token a line, as Keras keeps it in its own files.

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

Loading reads no more than the config needs, with the bounds of :mod:`minirnn.saving.readers`;
classes and functions come only from :mod:`minirnn.registry` and ``custom_objects``
(:mod:`minirnn.serialization`); writes are atomic (:mod:`minirnn.saving.atomic`).
"""
import io
import json
import os
import warnings
import zipfile

import numpy as np

from ..models import Model, Sequential
from ..serialization import (LoadOptions, ModelFileError, OverBudget, checked_layer_entry, checked_shape,
                             json_ready, loading_options, short_repr)
from ..version import __version__
from .atomic import atomic_write
from .compile_state import compile_config, compile_from_config, optimizer_state, restore_optimizer
from . import schema
from .readers import (MAX_CONFIG_BYTES, ZIP_METHODS, building_limited, load_json, open_archive, read_member,
                      read_npy, read_npy_header, read_vocabulary_assets, read_weights_member, reading,
                      vocabulary_assets)

FORMAT_VERSION = 1
MODEL_SUFFIX = ".minirnn"
WEIGHTS_SUFFIX = ".weights.npz"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.weights.npz"
MANIFEST_KEY = "__manifest__"


class WeightsArchive:
    """The arrays of a ``.weights.npz`` file, read one at a time on request."""

    def __init__(self, source, path):
        self.path = path
        self.archive = open_archive(source, path, "the weights archive")
        self.names = set(self.archive.namelist())

    def has(self, key):
        return f"{key}.npy" in self.names

    def read(self, key, shape=None):
        member = f"{key}.npy"
        where = f"array {key!r}"
        if member not in self.names:
            raise ModelFileError(self.path, where, "missing")
        with reading(self.path, where):
            info = self.archive.getinfo(member)
            if info.compress_type not in ZIP_METHODS:
                raise ModelFileError(self.path, where, f"compression method {info.compress_type} is not read")
            with self.archive.open(info) as f:
                return read_npy(f, self.path, where, shape)

    def manifest(self):
        where = f"array {MANIFEST_KEY!r}"
        if not self.has(MANIFEST_KEY):
            raise ModelFileError(self.path, where, "missing: this is not a minirnn weights file")
        with reading(self.path, where), self.archive.open(f"{MANIFEST_KEY}.npy") as f:
            shape, _, dtype = read_npy_header(f, self.path, where)
            if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_CONFIG_BYTES:
                raise ModelFileError(self.path, where, f"expected at most {MAX_CONFIG_BYTES:,} bytes "
                                                       f"of JSON text, found {dtype} {shape}")
        text = self.read(MANIFEST_KEY, shape).tobytes()
        manifest = load_json(text, self.path, where)
        _check_format(manifest, "minirnn.weights", self.path)
        schema.check_manifest(manifest, self.path)
        return manifest


def _check_format(config, expected, path):
    if not isinstance(config, dict) or config.get("format") != expected:
        found = config.get("format") if isinstance(config, dict) else None
        raise ModelFileError(path, "field 'format'", f"not a {expected} file (format {short_repr(found)})")
    version = config.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise ModelFileError(path, "field 'format_version'",
                             f"format_version {short_repr(version)}; this minirnn reads versions up to "
                             f"{FORMAT_VERSION} (the file was written by a newer minirnn)")


# -- weights -----------------------------------------------------------------------------
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
        manifest["optimizer"], slot_arrays = optimizer_state(model)
        arrays.update(slot_arrays)
    text = json.dumps(json_ready(manifest, "The weights manifest"), allow_nan=False)
    arrays[MANIFEST_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return arrays


def _build_from_manifest(model, saved, path):
    """Build the layers the model could not build, from the input shapes in the manifest."""
    load = LoadOptions(path=path)
    for i, (layer, entry) in enumerate(zip(model.layers, saved)):
        if not layer.built and isinstance(entry, dict) and entry.get("input_shape") is not None and entry.get("shapes"):
            shape = checked_shape(entry["input_shape"], load, f"manifest layer {i} field 'input_shape'")
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
                                                              f"received {short_repr(saved)}")
    if len(saved) != len(layers):
        raise ValueError(f"Model '{model.name}' has {len(layers)} layers "
                         f"{[layer.name for layer in layers]}, but {path!r} holds {len(saved)} "
                         f"{[short_repr(entry.get('name'), 40) for entry in saved]}")
    _build_from_manifest(model, saved, path)
    plan = []
    for i, (layer, entry) in enumerate(zip(layers, saved)):
        what = f"Layer '{layer.name}' ({type(layer).__name__})"
        shapes = entry.get("shapes", [])
        if not isinstance(shapes, list):
            raise ModelFileError(path, f"manifest layer {i} field 'shapes'", f"expected a list, "
                                                                             f"received {short_repr(shapes)}")
        own = layer.weights
        problem = None
        if type(layer).__name__ != entry.get("class_name"):
            saved_class = entry.get("class_name")
            problem = (f"cannot load the weights of the saved "
                       f"{saved_class if isinstance(saved_class, str) else '?'} {short_repr(entry.get('name'), 40)}")
        elif not layer.built and shapes:
            problem = (f"is not built, so it cannot load {len(shapes)} weight arrays: call the model "
                       f"on data or build(input_shape) first")
        elif len(own) != len(shapes):
            problem = (f"expects {len(own)} weight arrays, but {path!r} holds {len(shapes)} for "
                       f"layer {short_repr(entry.get('name'), 40)}")
        else:
            for j, (w, s) in enumerate(zip(own, shapes)):
                if not isinstance(s, list) or tuple(s) != w.shape:
                    problem = (f"weight {j} has shape {w.shape}, but {path!r} holds shape "
                               f"{tuple(s) if isinstance(s, list) else short_repr(s)} for layer "
                               f"{short_repr(entry.get('name'), 40)}")
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
        restore_optimizer(model, manifest["optimizer"], weights, path)


# -- files -------------------------------------------------------------------------------
def _target(filepath, suffix, what, overwrite):
    path = os.fspath(filepath)
    if not path.endswith(suffix):
        raise ValueError(f"{what} writes files whose name ends in {suffix!r}, received {path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    return path


def require_built(model, what):
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built, so it has no weights to {what}: "
                         f"call it on data or build(input_shape) first")


def save_weights(model, filepath, overwrite=True):
    """Write the model's weights (and optimizer state, when compiled) to a ``.weights.npz`` file."""
    path = _target(filepath, WEIGHTS_SUFFIX, "save_weights()", overwrite)
    require_built(model, "save")
    arrays = weight_arrays(model)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights from a ``.weights.npz`` file or a ``.minirnn`` model file."""
    path = os.fspath(filepath)
    if path.endswith(MODEL_SUFFIX):
        with open_archive(path, path) as archive:
            _require_members(archive, path, [WEIGHTS_NAME])
            data, stored = read_weights_member(archive, WEIGHTS_NAME, path)
        source = io.BytesIO(data)
    elif path.endswith(WEIGHTS_SUFFIX):
        source, stored = path, os.path.getsize(path)
    else:
        raise ValueError(f"load_weights() reads '{WEIGHTS_SUFFIX}' files (from save_weights) or "
                         f"'{MODEL_SUFFIX}' files (from save), received {path!r}")
    weights = WeightsArchive(source, path)
    with weights.archive, building_limited(stored):
        try:
            apply_weights(model, weights.manifest(), weights, path, skip_mismatch)
        except ModelFileError:
            raise
        except ValueError as e:                     # the file's weights do not fit this model
            raise ModelFileError(path, "manifest", str(e)) from None


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write the model (architecture, weights, compile state) to a ``.minirnn`` file."""
    path = _target(filepath, MODEL_SUFFIX, "save()", overwrite)
    config = {"format": "minirnn.model", "format_version": FORMAT_VERSION, "minirnn_version": __version__,
              "model": {"class_name": type(model).__name__,
                        "config": json_ready(model.get_config(serialize=checked_layer_entry), "The model config")},
              "compile_config": compile_config(model) if include_optimizer else None}
    text = json.dumps(config, indent=1, allow_nan=False)
    weights = io.BytesIO()
    np.savez(weights, **weight_arrays(model, include_optimizer))
    assets = vocabulary_assets(model.layers, _asset_names(model.layers))

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr(CONFIG_NAME, text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(WEIGHTS_NAME, weights.getvalue())
            for name, content in assets:
                archive.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)

    atomic_write(path, write)


def _asset_names(layers):
    """The member of each layer's vocabulary asset: ``assets/<index in model.layers>/vocabulary.txt``."""
    return [f"assets/{i}/vocabulary.txt" for i in range(len(layers))]


def _require_members(archive, path, names):
    missing = sorted(set(names) - set(archive.namelist()))
    if missing:
        raise ModelFileError(path, f"member {missing[0]!r}", "missing: this is not a minirnn model file")


def _model_from_config(entry, load):
    """The model (fresh weights) of config.json's ``"model"`` entry."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict) \
            or not isinstance(entry["config"].get("layers", []), list):
        raise load.error("field 'model'", f"expected {{'class_name', 'config': {{'name', 'layers'}}}}, "
                                          f"received {short_repr(entry)}")
    classes = {"Sequential": Sequential, "Model": Model,
               **{k: v for k, v in load.custom_objects.items() if isinstance(v, type) and issubclass(v, Model)}}
    cls = classes.get(entry.get("class_name")) if isinstance(entry.get("class_name"), str) else None
    if cls is None:
        raise load.error("field 'model.class_name'", f"unknown model class {short_repr(entry.get('class_name'))}"
                                                     f"; pass it in custom_objects")
    try:
        return cls.from_config(entry["config"])
    except ModelFileError:
        raise
    except OverBudget as e:
        raise load.error("field 'model.config'", str(e)) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
        raise load.error("field 'model.config'", f"cannot make the model ({type(e).__name__}: {e})") from None


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a ``.minirnn`` file, compiled as it was saved (unless ``compile=False``),
    its optimizer state included.  ``custom_objects`` ({name: class or function}) supply what
    the file names beyond :mod:`minirnn.registry`; ``safe_mode=False`` trusts the file: it makes
    functions saved as source code and lifts the size limits.  Every problem with the file
    raises :class:`ModelFileError`."""
    path = os.fspath(filepath)
    with open_archive(path, path) as archive:
        _require_members(archive, path, [CONFIG_NAME, WEIGHTS_NAME])
        config = load_json(read_member(archive, CONFIG_NAME, path, MAX_CONFIG_BYTES), path,
                           f"member {CONFIG_NAME!r}")
        _check_format(config, "minirnn.model", path)
        schema.check_minirnn(config, path, f"member {CONFIG_NAME!r}")
        data, stored = read_weights_member(archive, WEIGHTS_NAME, path, safe_mode)
    with loading_options(custom_objects, safe_mode, path) as load, building_limited(stored, safe_mode):
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
    wanted = [(layer, name) for layer, name in zip(model.layers, _asset_names(model.layers))
              if hasattr(layer, "load_vocabulary_asset")]
    if wanted:
        with open_archive(path, path) as archive:
            read_vocabulary_assets(archive, wanted, path, safe_mode)
    return model
