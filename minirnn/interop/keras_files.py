"""Keras model files, read and written without TensorFlow or Keras.

    model = minirnn.load_model("model.keras")       Keras 3 native file
    model = minirnn.load_model("model.h5")          legacy Keras 2 / tf.keras HDF5 file
    model.load_weights("model.weights.h5")           Keras 3 weights file (or a legacy .h5)
    model.save("model.keras")                        opens in keras.models.load_model (Sequential
                                                     or functional)

Keras 3 ``.keras`` layout (a ZIP archive)
-----------------------------------------

``metadata.json``   ``{"keras_version": ..., "date_saved": ...}``
``config.json``     ``{"module": "keras", "class_name": "Sequential", "config": {"name", "layers":
                    [{"module", "class_name", "config", "build_config"}, ...]}, "compile_config":
                    {"optimizer", "loss", "metrics", ...}}``; a functional model is
                    ``{"class_name": "Functional", "config": {"name", "layers", "input_layers",
                    "output_layers"}, ...}``, each layer entry with its ``"name"`` and its calls,
                    ``"inbound_nodes": [{"args": [tensor or [tensors]], "kwargs": {}}, ...]``, a
                    tensor being ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
                    "keras_history": [layer name, node index, tensor index]}}``; with several
                    outputs the compile config holds one loss (and metric list) per output
``model.weights.h5`` HDF5 (also the whole of a ``.weights.h5`` file); a layer's ``<entry>`` is its
                    class in snake case, numbered from the second of a class on (``lstm``, ``lstm_1``):

    layers/<entry>/vars/<i>                             Dense, Conv1D, Embedding (Keras's order)
    layers/<entry>/cell/vars/<i>                        SimpleRNN, LSTM, GRU: W, U, b
    layers/<entry>/forward_layer/cell/vars/<i>          Bidirectional (and backward_layer/)
    layers/<entry>/layer/vars/<i>                       TimeDistributed
    layers/<entry>/layers/<inner entry>/...             a Sequential inside a functional model
    optimizer/vars/0, 1                                 iterations (int64), learning rate
    optimizer/vars/2...                                 slots, per trainable weight w_k:
        Adam     m_0 v_0 m_1 v_1 ...                    (interleaved)
        SGD      momentum_0 momentum_1 ...              (only with momentum)
        RMSprop  velocity_0..., then momentum_0..., then average_gradient_0...

Weights need no conversion: Keras and minirnn share shapes and gate orders (``i f c o``,
``z r h``, GRU ``reset_after=True`` bias (2, 3n)).  A legacy ``.h5`` file holds the config
as the ``model_config`` attribute and weight ``j`` of layer ``L`` at
``model_weights/<L>/<weight_names[j]>``, the layers with weights matched in order, as Keras
does; its optimizer state is not read.

Reading is safe for untrusted files: nothing in the file is executed or imported.  Keras
classes map to minirnn classes through the closed table :data:`LAYERS`; options minirnn does
not have (regularizers, constraints, mixed precision...) are collected and refused in one error.
A ``Lambda`` stores Python bytecode, which minirnn never runs, not even with
``safe_mode=False`` (where Keras would): pass the function as
``custom_objects={"<layer name>": fn}``.  A custom layer or function named in the file is
looked up only in ``custom_objects`` and :mod:`minirnn.registry`.  ZIP members and HDF5
reads are bounded as for minirnn's own files (see :mod:`minirnn.saving`: ``config.json`` by
``MAX_CONFIG_BYTES``, the weights by twice the weights file's size; ``safe_mode=False`` lifts
the size limits and nothing else); every dataset's shape and dtype are checked against the
layer before any data is read; external links, soft links, external storage, virtual
datasets and references are refused.
"""
import datetime
import io
import json
import os
import zipfile

import numpy as np

from .. import __version__, functional, initializers, losses, metrics as metrics_module, optimizers, registry
from ..layers import (GRU, LSTM, Add, Average, Bidirectional, Concatenate, Conv1D, Dense, Dot, Dropout,
                      Embedding, Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D, InputLayer, Lambda,
                      Masking, Maximum, MaxPooling1D, Minimum, Multiply, Permute, RepeatVector, Rescaling,
                      Reshape, SimpleRNN, Subtract, TimeDistributed)
from ..layers.base import constructor_arguments, snake_case
from ..layers.rnn import RNN
from ..models import Model, Sequential
from ..saving import (MAX_CONFIG_BYTES, MAX_WEIGHT_BYTES, ModelFileError, _building_limited, _serialize_metric,
                      _weight_budget, atomic_write, load_json, read_member, serialize_layer)

KERAS_VERSION = "3.15.1"           # the Keras release whose layout save_keras writes

#: Keras layer class -> minirnn layer class: the only classes a file can name.
LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Dense, SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Conv1D, Dropout, Masking,
    MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, Flatten, TimeDistributed, Lambda,
    Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, Reshape, Permute, RepeatVector,
    Rescaling)}
OPTIMIZERS = {"SGD": optimizers.SGD, "Adam": optimizers.Adam, "RMSprop": optimizers.RMSprop}

# Keras options minirnn does not have, accepted only at the value that means "off".
_OFF = {
    **{f"{w}_{kind}": None for w in ("kernel", "recurrent", "bias", "embeddings", "activity")
       for kind in ("regularizer", "constraint")},
    "activity_regularizer": None, "quantization_config": None, "lora_rank": None, "lora_alpha": None,
    "sparse": False, "ragged": False, "optional": False, "time_major": False, "groups": 1,
    "weight_decay": None, "use_ema": False, "loss_scale_factor": None, "amsgrad": False,
    "gradient_accumulation_steps": None, "ema_overwrite_frequency": None, "sample_weight": None,
    "reduction": "sum_over_batch_size", "axis": -1, "batch_size": None,
}
# Keras options with no effect on the numbers minirnn computes.
_IGNORED = {"trainable", "dtype", "implementation", "use_cudnn", "ema_momentum", "autocast",
            "registered_name", "module", "shared_object_id", "input_dim_fixed"}


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras files need h5py: pip install 'minirnn[files]' (or pip install h5py)") from None
    return h5py


# -- bounded reading ---------------------------------------------------------------------------
class H5Reader:
    """Bounded, link-checked reading of one HDF5 file: :meth:`check_dataset` checks a dataset's
    links, storage, shape and dtype before anything is read, and counts the bytes against
    `limit` (in safe mode: :func:`minirnn.saving._weight_budget` of the file's size)."""

    def __init__(self, source, path, member=None, safe_mode=True):
        h5py = _h5py()
        self.path, self.member = path, member
        size = source.getbuffer().nbytes if isinstance(source, io.BytesIO) else os.path.getsize(source)
        self.stored = size
        self.limit = _weight_budget(size) if safe_mode else float("inf")
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
        h5py = _h5py()
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
        h5py = _h5py()
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
        h5py = _h5py()
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


# -- Keras config -> minirnn ------------------------------------------------------------------
class Translator:
    """Keras configs to minirnn objects; collects every problem to report them together."""

    def __init__(self, custom_objects=None):
        self.custom_objects = dict(custom_objects or {})
        self.problems = []

    def problem(self, where, message):
        self.problems.append(f"{where}: {message}")

    def arguments(self, cls, config, where, renamed=None):
        """The constructor arguments of `cls` from a Keras config; unknown options with
        values that are not 'off' become problems."""
        accepted = set(constructor_arguments(cls))
        kwargs = {}
        for key, value in config.items():
            key = (renamed or {}).get(key, key)
            if key in accepted:
                kwargs[key] = value
            elif key in _OFF and value == _OFF[key] or key in _IGNORED:
                continue
            elif value is None:
                continue
            else:
                shown = value.get("class_name", value) if isinstance(value, dict) else value
                self.problem(where, f"{key}={shown!r} is not supported")
        return kwargs

    def dtype(self, value, where):
        if isinstance(value, dict):
            value = (value.get("config") or {}).get("name")
        if value is None:
            return None
        if value not in ("float32", "float64"):
            self.problem(where, f"dtype {value!r} is not supported (float32 and float64 are)")
            return None
        return value

    def initializer(self, value, where):
        if not isinstance(value, dict):
            return value
        name = value.get("class_name")
        cls = initializers._BY_NAME.get(name)
        if cls is None:
            self.problem(where, f"initializer {name!r} is not supported")
            return None
        return cls(**self.arguments(cls, dict(value.get("config") or {}), where))

    def function(self, value, where, fallback_key=None):
        """A registered function named by a Keras function entry (never code)."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            if value.get("class_name") == "__lambda__":
                if fallback_key in self.custom_objects:
                    return self.custom_objects[fallback_key]
                self.problem(where, f"holds Python bytecode (a Keras Lambda), which minirnn never runs; "
                                    f"pass the function as custom_objects={{{fallback_key!r}: fn}}")
                return None
            name = value.get("registered_name") if value.get("registered_name") not in (None, "function") \
                else value.get("config")
            fn = registry.get_registered_object(name, self.custom_objects) if isinstance(name, str) else None
            if fn is None and fallback_key in self.custom_objects:
                fn = self.custom_objects[fallback_key]
            if fn is None:
                self.problem(where, f"function {name!r} is not registered; pass it in custom_objects")
            return fn
        return value

    def layer(self, entry, strip_prefix=None):
        """An unbuilt minirnn layer from a Keras layer entry (None if it has problems)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            self.problem("model config", f"a layer entry must be a dict with 'class_name', received {entry!r:.200}")
            return None
        class_name, config = entry["class_name"], dict(entry.get("config") or {})
        name = config.get("name")
        if class_name == "Sequential" and entry.get("registered_name") in (None, class_name):
            return self.sequential(entry)
        if strip_prefix and isinstance(name, str) and name.startswith(strip_prefix):
            config["name"] = name[len(strip_prefix):]
        where = f"Layer {name!r} ({class_name})"
        custom = registry.get_registered_object(entry.get("registered_name") or class_name, self.custom_objects)
        cls = LAYERS.get(class_name) if entry.get("registered_name") in (None, class_name) else None
        if cls is None and isinstance(custom, type):
            try:
                return custom.from_config(config)
            except (TypeError, ValueError) as e:
                self.problem(where, f"from_config failed: {e}")
                return None
        if cls is None:
            self.problem(where, "no minirnn counterpart (supported: " + ", ".join(sorted(LAYERS)) + ")")
            return None
        count = len(self.problems)
        if cls is InputLayer:
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            if not isinstance(shape, list) or not shape:
                self.problem(where, f"batch_shape must be a list, received {shape!r}")
                return None
            return InputLayer(shape[1:], batch_size=shape[0], dtype=self.dtype(config.get("dtype"), where), name=name)
        kwargs = self.arguments(cls, config, where, renamed={"batch_input_shape": "input_shape"})
        kwargs["dtype"] = self.dtype(config.get("dtype"), where)
        if "input_shape" in kwargs and kwargs["input_shape"] is not None:
            kwargs["input_shape"] = tuple(kwargs["input_shape"])[1:]
        for key in [k for k in kwargs if k.endswith("_initializer")]:
            kwargs[key] = self.initializer(kwargs[key], f"{where} {key}")
        for key in ("activation", "recurrent_activation"):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = self.function(kwargs[key], f"{where} {key}")
        if cls is Bidirectional:
            kwargs["layer"] = self.layer(config.get("layer"), strip_prefix="forward_")
            if config.get("backward_layer") is not None:
                kwargs["backward_layer"] = self.layer(config.get("backward_layer"))
        elif cls is TimeDistributed:
            kwargs["layer"] = self.layer(config.get("layer"))
        elif cls is Lambda:
            kwargs["function"] = self.function(config.get("function"), where, fallback_key=name)
            for key in ("output_shape", "mask"):
                if isinstance(config.get(key), dict):
                    self.problem(where, f"{key} given as a function is not supported")
            if isinstance(kwargs.get("output_shape"), (list, tuple)):
                kwargs["output_shape"] = tuple(kwargs["output_shape"])
            kwargs.pop("mask", None)
        if len(self.problems) > count:
            return None
        try:
            return cls(**{k: v for k, v in kwargs.items() if v is not None or k in ("merge_mode",)})
        except (TypeError, ValueError) as e:
            self.problem(where, str(e))
            return None

    def sequential(self, entry):
        """An unbuilt minirnn Sequential from a Sequential entry (a layer of a functional model)."""

        count = len(self.problems)
        layers = [self.layer(e) for e in (entry.get("config") or {}).get("layers") or []]
        if len(self.problems) > count:
            return None
        return Sequential(layers, name=(entry.get("config") or {}).get("name"))

    def instance(self, entry, classes, what):
        """An instance of the class a Keras ``{"class_name", "config"}`` entry names, from `classes`."""
        name = entry.get("class_name") if isinstance(entry, dict) else None
        cls = classes.get(name)
        if cls is None:
            self.problem(what, f"{name!r} is not supported (supported: {', '.join(sorted(classes))})")
            return None
        config = dict(entry.get("config") or {})
        if isinstance(config.get("learning_rate"), dict):
            self.problem(f"{what} {name!r}", "a learning-rate schedule is not supported")
            return None
        try:
            return cls(**self.arguments(cls, config, f"{what} {name!r}"))
        except (TypeError, ValueError) as e:
            self.problem(f"{what} {name!r}", str(e))
            return None

    def optimizer(self, entry):
        if isinstance(entry, str):
            entry = {"class_name": {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}.get(entry.lower(), entry)}
        return self.instance(entry, OPTIMIZERS, "optimizer")

    def loss(self, entry):
        if isinstance(entry, str):
            if entry not in losses._BY_NAME:
                self.problem("loss", f"{entry!r} is not supported")
                return None
            return entry
        return self.instance(entry, losses._CLASSES, "loss")

    def metric(self, entry):
        if isinstance(entry, str):
            try:
                return metrics_module.tracker(entry)
            except ValueError as e:
                self.problem("metrics", str(e))
                return None
        return self.instance(entry, metrics_module._CLASSES, "metric")

    def compile_settings(self, config):
        """(optimizer, loss, [metrics], loss_weights) from a Keras compile config; a model of
        several outputs has a list of losses (and of metric lists), one per output."""
        optimizer = self.optimizer(config.get("optimizer") or config.get("optimizer_config"))
        loss = config.get("loss")
        loss = [None if e is None else self.loss(e) for e in loss] if isinstance(loss, list) else self.loss(loss)
        found = config.get("metrics") or []
        if found and isinstance(found[0], list):         # one list per output
            found = found[0] if len(found) == 1 else found
        metrics = [[self.metric(m) for m in ms] if isinstance(ms, list) else self.metric(ms) for ms in found]
        loss_weights = config.get("loss_weights")
        if loss_weights is not None and not (isinstance(loss_weights, list) and all(
                isinstance(w, (int, float)) for w in loss_weights)):
            self.problem("compile", f"loss_weights={loss_weights!r} is not supported (a list of numbers is)")
        if config.get("weighted_metrics"):
            self.problem("compile", f"weighted_metrics={config['weighted_metrics']!r} is not supported")
        return optimizer, loss, metrics, loss_weights

    def raise_problems(self, path):
        if self.problems:
            raise ModelFileError(path, "the model config", "minirnn cannot rebuild this model:\n  - "
                                 + "\n  - ".join(self.problems)
                                 + ("\n(custom layers and functions: pass them in custom_objects; "
                                    "compile=False skips the compile settings)"))


def sequential_from_config(config, path, custom_objects=None, compile=True):
    """(name, input layer, [layers], compile settings or None) of a Keras Sequential config,
    every layer unbuilt: nothing is allocated until the file's weights are checked."""
    translator = Translator(custom_objects)
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        name = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(path, "the model config", f"model class {name!r}: minirnn reads Keras "
                                                       f"Sequential and functional models")
    body = config.get("config") or {}
    layers = [translator.layer(entry) for entry in body.get("layers") or []]
    compiled = None
    if compile and config.get("compile_config"):
        compiled = translator.compile_settings(config["compile_config"])
    translator.raise_problems(path)
    inputs = [layer for layer in layers if isinstance(layer, InputLayer)]
    layers = [layer for layer in layers if not isinstance(layer, InputLayer)]
    shape = body.get("build_input_shape") or (config.get("build_config") or {}).get("input_shape")
    if inputs:
        input_layer = inputs[0]
    elif layers and layers[0].input_shape_hint is not None:
        input_layer = InputLayer(layers[0].input_shape_hint[1:], dtype=layers[0].dtype)
    elif shape is not None and layers:
        input_layer = InputLayer(tuple(shape)[1:], batch_size=shape[0], dtype=layers[0].dtype)
    else:
        raise ModelFileError(path, "the model config", "the model has no input shape, so its weights "
                                                       "cannot be checked")
    return body.get("name"), input_layer, layers, compiled


def build_sequential(name, input_layer, layers):
    return Sequential(layers=[input_layer] + layers, name=name)


def _history(value):
    """The ``[layer, node, tensor]`` references in a Keras call's arguments (Keras 3 tensors
    ``{"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}``, nested in lists)."""
    if isinstance(value, dict):
        history = (value.get("config") or {}).get("keras_history")
        return [list(history)] if value.get("class_name") == "__keras_tensor__" and history else []
    if isinstance(value, (list, tuple)):
        return [ref for item in value for ref in _history(item)]
    return []


def _calls(entry, where, translator):
    """The layer's calls as lists of ``[layer, node, tensor]`` (Keras 3 ``{"args", "kwargs"}``
    nodes, or Keras 2's ``[[layer, node, tensor, kwargs], ...]``)."""
    calls = []
    for node in entry.get("inbound_nodes") or []:
        if isinstance(node, dict):
            refs = _history(node.get("args"))
            kwargs = node.get("kwargs") or {}
        else:
            refs = [list(ref[:3]) for ref in node if isinstance(ref, list) and len(ref) >= 3]
            kwargs = {k: v for ref in node if isinstance(ref, list) and len(ref) > 3 and isinstance(ref[3], dict)
                      for k, v in ref[3].items()}
        extra = {k: v for k, v in kwargs.items() if k not in ("training", "mask") and v is not None}
        if extra or _history(kwargs):
            translator.problem(where, f"call arguments {sorted(kwargs)} are not supported")
        calls.append(refs)
    return calls


def functional_from_config(config, path, custom_objects, compile, reader):
    """(minirnn Model, its layers in the file's order, compile settings or None) of a Keras
    functional config.  The layers are built as the graph is made, within the weight budget
    of the file; their weights are checked against the file before any is read."""

    translator = Translator(custom_objects)
    body = config.get("config") if isinstance(config.get("config"), dict) else {}
    entries = []
    for entry in body.get("layers") or []:
        layer = translator.layer(entry)
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"Layer {name!r}"
        entries.append({"name": name, "inbound_nodes": _calls(entry, where, translator), "layer": layer})
    compiled = translator.compile_settings(config["compile_config"]) \
        if compile and config.get("compile_config") else None
    translator.raise_problems(path)

    def refs(value):
        return [value] if value and not isinstance(value[0], list) else list(value or [])
    graph = {"layers": entries, "input_layers": refs(body.get("input_layers")),
             "output_layers": refs(body.get("output_layers"))}
    try:
        with _building_limited(reader.stored, reader.limit != float("inf")):
            inputs, outputs = functional.rebuild_graph(graph, lambda entry: entry["layer"])
            model = Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                          name=body.get("name"))
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise ModelFileError(path, "the model config", f"the functional graph cannot be made "
                                                       f"({type(e).__name__}: {e})") from None
    return model, [entry["layer"] for entry in entries], compiled


# -- weights ------------------------------------------------------------------------------------
def weight_groups(layer, input_shape):
    """[(group path inside the layer's entry, [weight shapes])] of `layer` on `input_shape`,
    computed without building it (so a file is checked before anything is allocated)."""

    if isinstance(layer, Sequential):
        inner = layer_shapes(layer.layers, input_shape)
        return [(f"{entry}/{group}", shapes) for (inner_layer, shape), entry in zip(inner, keras_paths(layer.layers))
                for group, shapes in weight_groups(inner_layer, shape)]
    if isinstance(layer, Bidirectional):
        return [(f"{half}/cell/vars", list(getattr(layer, half).cell.weight_shapes(input_shape[-1]).values()))
                for half in ("forward_layer", "backward_layer")]
    if isinstance(layer, RNN):
        return [("cell/vars", list(layer.cell.weight_shapes(input_shape[-1]).values()))]
    if isinstance(layer, TimeDistributed):
        inner = (input_shape[0],) + tuple(input_shape[2:])
        return [(f"layer/{group}", shapes) for group, shapes in weight_groups(layer.layer, inner)]
    if isinstance(layer, Dense):
        return [("vars", [(input_shape[-1], layer.units)] + ([(layer.units,)] if layer.use_bias else []))]
    if isinstance(layer, Conv1D):
        channels = input_shape[-1] if layer.data_format == "channels_last" else input_shape[1]
        return [("vars", [(layer.kernel_size, channels, layer.filters)]
                 + ([(layer.filters,)] if layer.use_bias else []))]
    if isinstance(layer, Embedding):
        return [("vars", [(layer.input_dim, layer.output_dim)])]
    if not layer.weights:
        return [("vars", [])]
    return [("vars", [w.shape for w in layer.weights])]


def layer_shapes(layers, shape):
    """[(layer, input shape)] along a stack of layers, from the shapes alone (nothing built)."""
    out = []
    for layer in layers:
        out.append((layer, tuple(shape)))
        shape = layer.compute_output_shape(tuple(shape))
        if isinstance(shape, list):
            shape = shape[0]
    return out


def keras_paths(layers):
    """Each layer's entry in a Keras 3 weights file: ``layers/<class in snake case>``, then
    ``_1``, ``_2``... for later layers of the same class (the layer's own name is not used)."""
    counts, out = {}, []
    for layer in layers:
        base = snake_case(type(layer).__name__)
        out.append(f"layers/{base}" + (f"_{counts[base]}" if counts.get(base) else ""))
        counts[base] = counts.get(base, 0) + 1
    return out


def read_keras_weights(shaped, reader, dtype):
    """[[arrays] per layer] for ``[(layer, input shape)]`` (the model's layers in Keras's order)
    from a Keras 3 weights file, every dataset checked before anything is read."""
    plan = []
    for (layer, shape), entry in zip(shaped, keras_paths([layer for layer, _ in shaped])):
        items = []
        for group, shapes in weight_groups(layer, shape):
            where = f"{entry}/{group}"
            found = reader.get(where) if shapes else None
            keys = sorted(found.keys()) if found is not None else []
            if shapes and keys != sorted(str(i) for i in range(len(shapes))):
                raise reader.error(where, f"layer '{layer.name}' ({type(layer).__name__}) has "
                                          f"{len(shapes)} weights, the file holds {keys[:10]}")
            items += [(f"{where}/{i}", s) for i, s in enumerate(shapes)]
        plan.append(items)
    return _read_planned(plan, reader, dtype)


def _read_planned(plan, reader, dtype):
    for items in plan:                       # check every dataset before reading any
        for where, s in items:
            reader.check_dataset(where, s)
    reader.read_bytes = 0
    return [[reader.array(where, s, dtype) for where, s in items] for items in plan]


def model_dtype(model):
    return np.dtype(model.layers[0].dtype if model.layers else "float32")


def built_shapes(model):
    """[(layer, input shape)] of a built model's layers (Keras's order: the model's)."""

    if isinstance(model, Sequential):
        return layer_shapes(model.layers, model.input_shape)
    return [(layer, layer.build_input_shape) for layer in model.layers]


def assign_weights(layers, values, path):
    """Copy each layer's arrays into its (built) weights, every shape checked first."""
    for layer, arrays in zip(layers, values, strict=True):
        own = layer.weights
        shapes = [w.shape for w in own]
        if shapes != [v.shape for v in arrays]:
            raise ModelFileError(path, f"layer '{layer.name}'", f"weights of shapes {shapes}, the file "
                                                                f"{[v.shape for v in arrays]}")
    for layer, arrays in zip(layers, values):
        for w, v in zip(layer.weights, arrays):
            w[...] = v


def trainable_weights(layers):
    return [w for layer in layers if layer.trainable for w in layer.weights]


def slot_order(optimizer, count):
    """[(k, slot name)] of optimizer/vars/2... for `count` trainable weights (Keras's order)."""
    if isinstance(optimizer, optimizers.Adam):
        return [(k, s) for k in range(count) for s in ("m", "v")]
    return [(k, s) for s in optimizer._slot_names for k in range(count)]


def read_optimizer_state(model, layers, reader):
    """Restore iterations, learning rate and slots from ``optimizer/vars`` (slots in the order
    of `layers`' trainable weights) when the model's optimizer has as many (else leave it fresh)."""
    group = reader.get("optimizer/vars")
    weights = trainable_weights(layers)
    order = slot_order(model.optimizer, len(weights))
    if group is None or sorted(group.keys(), key=int) != [str(i) for i in range(2 + len(order))]:
        return False
    iterations = int(reader.array("optimizer/vars/0", (), np.int64))
    learning_rate = float(reader.array("optimizer/vars/1", (), np.float64))
    slots = {}
    for i, (k, name) in enumerate(order):
        w = weights[k]
        slots.setdefault(k, {})[name] = reader.array(f"optimizer/vars/{2 + i}", w.shape, w.dtype)
    optimizer = model.optimizer
    for k, named in slots.items():
        optimizer._slots[id(weights[k])] = (weights[k], named)
    optimizer.iterations = iterations
    if not callable(optimizer._learning_rate):
        optimizer.learning_rate = learning_rate
    return True


# -- files ---------------------------------------------------------------------------------------
def _open_keras(path):
    if not zipfile.is_zipfile(path):
        raise ModelFileError(path, None, "not a .keras file (a ZIP archive written by Keras 3)")
    return zipfile.ZipFile(path)


def _model_from_file(config, path, reader, read_weights, custom_objects, compile):
    """(model, its layers in Keras's order): translate the config, check and read the weights
    (a Sequential's before anything is built), build, fill and compile."""
    if isinstance(config, dict) and config.get("class_name") in ("Functional", "Model"):
        model, layers, compiled = functional_from_config(config, path, custom_objects, compile, reader)
        values = read_weights([(layer, layer.build_input_shape) for layer in layers], reader, model_dtype(model))
    else:
        name, input_layer, layers, compiled = sequential_from_config(config, path, custom_objects, compile)
        dtype = np.dtype(layers[0].dtype if layers else "float32")
        values = read_weights(layer_shapes(layers, input_layer.shape), reader, dtype)
        with _building_limited(reader.stored, reader.limit != float("inf")):
            model = build_sequential(name, input_layer, layers)
    assign_weights(layers, values, path)
    if compiled is not None:
        optimizer, loss, metrics, loss_weights = compiled
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights)
    return model, layers


def load_keras(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A minirnn model from a Keras 3 ``.keras`` file (Sequential or functional), compiled as
    saved (unless ``compile=False``) with its optimizer state where minirnn has that optimizer.
    ``safe_mode=False`` lifts the size limits; nothing in a file is ever executed."""
    path = os.fspath(filepath)
    with _open_keras(path) as archive:
        config = load_json(read_member(archive, "config.json", path, MAX_CONFIG_BYTES), path, "member 'config.json'")
        weights = read_member(archive, "model.weights.h5", path, MAX_WEIGHT_BYTES if safe_mode else float("inf"))
    with H5Reader(io.BytesIO(weights), path, "member 'model.weights.h5'", safe_mode) as reader:
        model, layers = _model_from_file(config, path, reader, read_keras_weights, custom_objects, compile)
        if getattr(model, "compiled", False):
            read_optimizer_state(model, layers, reader)
    return model


def load_keras_weights(model, filepath):
    """Weights (and optimizer state, when compiled alike) from a ``.keras`` or ``.weights.h5`` file."""
    path = os.fspath(filepath)
    source, member = path, None
    if path.endswith(".keras"):
        with _open_keras(path) as archive:
            member = "member 'model.weights.h5'"
            source = io.BytesIO(read_member(archive, "model.weights.h5", path, MAX_WEIGHT_BYTES))
    with H5Reader(source, path, member) as reader:
        assign_weights(model.layers, read_keras_weights(built_shapes(model), reader, model_dtype(model)), path)
        if getattr(model, "compiled", False):
            read_optimizer_state(model, model.layers, reader)


def load_legacy_h5(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A minirnn model from a legacy Keras 2 / tf.keras ``.h5`` file (config and weights;
    compile settings without optimizer state)."""
    path = os.fspath(filepath)
    with H5Reader(path, path, safe_mode=safe_mode) as reader:
        text = reader.attribute("/", "model_config")
        if text is None:
            raise ModelFileError(path, "attribute 'model_config'", "missing: the file holds weights "
                                 "only; build the model in code and call model.load_weights")
        config = load_json(text.encode("utf-8"), path, "attribute 'model_config'")
        training = reader.attribute("/", "training_config") if compile else None
        if training:
            config["compile_config"] = load_json(training.encode("utf-8"), path, "attribute 'training_config'")
        return _model_from_file(config, path, reader, read_legacy_weights, custom_objects, compile)[0]


def read_legacy_weights(shaped, reader, dtype):
    """[[arrays] per layer] for ``[(layer, input shape)]`` from a legacy file, matched as Keras
    matches them: the file's layers that have weights (``layer_names``, each with
    ``weight_names``), in order, to the model's layers that have weights; every dataset
    checked before anything is read."""
    root = "model_weights" if reader.get("model_weights") is not None else ""
    saved = []
    for name in reader.attribute(root, "layer_names") or []:
        names = reader.attribute(f"{root}/{name}".strip("/"), "weight_names") or []
        names = [names] if isinstance(names, str) else names
        if names:
            saved.append((f"{root}/{name}".strip("/"), names))
    ours = [(layer, [s for _, group in weight_groups(layer, shape) for s in group]) for layer, shape in shaped]
    with_weights = [(layer, shapes) for layer, shapes in ours if shapes]
    if len(with_weights) != len(saved):
        raise reader.error(root or "/", f"the model has {len(with_weights)} layers with weights "
                                        f"{[layer.name for layer, _ in with_weights]}, the file {len(saved)} "
                                        f"{[where for where, _ in saved]}")
    found = iter(saved)
    plan = []
    for layer, shapes in ours:
        where, names = next(found) if shapes else (None, [])
        if len(names) != len(shapes):
            raise reader.error(where, f"layer '{layer.name}' ({type(layer).__name__}) has {len(shapes)} "
                                      f"weights, the file {len(names)}: {names[:6]}")
        plan.append([(f"{where}/{name}", s) for name, s in zip(names, shapes)])
    return _read_planned(plan, reader, dtype)


def load_legacy_weights(model, filepath):
    """Weights from a legacy ``.h5`` file onto a model of the same architecture."""
    path = os.fspath(filepath)
    with H5Reader(path, path) as reader:
        assign_weights(model.layers, read_legacy_weights(built_shapes(model), reader, model_dtype(model)), path)


# -- minirnn -> Keras ---------------------------------------------------------------------------
def _keras_object(module, entry):
    return {"module": module, "class_name": entry["class_name"], "config": entry["config"],
            "registered_name": None}


def keras_layer_entry(layer, problems):
    """The Keras config entry of a minirnn layer."""


    cls = type(layer).__name__
    if isinstance(layer, Sequential):
        return keras_sequential_entry(layer, problems)
    if isinstance(layer, Model):
        problems.append(f"Layer '{layer.name}' ({cls}): a functional model nested in a model has no Keras "
                        f"file form in minirnn (a nested Sequential has); save it as .minirnn")
        return None
    if LAYERS.get(cls) is not type(layer) or isinstance(layer, Lambda):
        problems.append(f"Layer '{layer.name}' ({cls}) has no Keras file form; save it as .minirnn")
        return None
    if isinstance(layer, InputLayer):
        config = {"batch_shape": list(layer.shape), "dtype": layer.dtype, "name": layer.name}
        return {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}
    entry = serialize_layer(layer, build_config=True)
    config = {}
    for key, value in entry["config"].items():
        if key == "input_shape" or (key == "input_length" and value is None):
            continue
        if isinstance(value, dict) and key.endswith("_initializer"):
            value = _keras_object("keras.initializers", value)
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            inner = getattr(layer, "forward_layer" if key == "layer" and isinstance(layer, Bidirectional)
                            else key)
            value = keras_layer_entry(inner, problems)
            if key == "layer" and isinstance(layer, Bidirectional):
                value["config"]["name"] = layer.forward_layer.name.removeprefix("forward_")
        config[key] = value
    out = {"module": "keras.layers", "class_name": cls, "config": config, "registered_name": None}
    if "build_config" in entry:
        out["build_config"] = entry["build_config"]
    return out


def keras_compile_config(model, problems):
    optimizer = model.optimizer
    if type(optimizer) not in OPTIMIZERS.values() or callable(optimizer._learning_rate):
        problems.append(f"optimizer {optimizer!r} has no Keras file form (SGD, Adam, RMSprop with a "
                        f"constant learning rate do); save with include_optimizer=False")
        return None

    def keras_loss(fn):
        if fn is None:
            return None
        entry = losses.serialize(fn)
        if losses._CLASSES.get(entry["class_name"]) is not type(fn):
            problems.append(f"loss {fn!r} has no Keras file form")
        return _keras_object("keras.losses", entry)

    def keras_metric(metric):
        entry = _serialize_metric(metric)
        if "class_name" in entry:
            return _keras_object("keras.metrics", {"class_name": entry["class_name"],
                                                   "config": entry.get("config", {})})
        if entry.get("function") in metrics_module._FUNCTIONS and not entry.get("kwargs"):
            return entry["function"]
        problems.append(f"metric {metric.name!r} has no Keras file form")
        return None

    # Several outputs: Keras writes one loss, one weight and one list of metrics per output.
    per_output = model.metrics_per_output()
    if len(per_output) == 1:
        loss, loss_weights = keras_loss(model._losses[0]), None
        metrics = [keras_metric(m) for m in per_output[0]] or None
    else:
        loss = [keras_loss(fn) for fn in model._losses]
        loss_weights = None if all(w == 1.0 for w in model.loss_weights) else list(model.loss_weights)
        metrics = [[keras_metric(m) for m in ms] for ms in per_output] if any(per_output) else None
    return {"optimizer": _keras_object("keras.optimizers", optimizers.serialize(optimizer)),
            "loss": loss, "loss_weights": loss_weights, "metrics": metrics,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def keras_sequential_entry(model, problems):
    """A Sequential's entry (the whole ``config.json`` but the compile settings, or a layer of
    a functional model): its Input layer and layers."""
    inputs = [model.input_layer] if model.input_layer is not None else []
    entries = [keras_layer_entry(layer, problems) for layer in inputs + list(model.layers)]
    shape = None if model.input_shape is None else list(model.input_shape)
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": model.name, "trainable": True, "dtype": str(model_dtype(model)), "layers": entries},
            "registered_name": None, "build_config": {"input_shape": shape}}


def _keras_call(node, ref):
    """One layer call as Keras 3 writes it: the input tensor (a list of them for a merge layer)
    as ``__keras_tensor__`` entries naming the ``[layer, node, tensor]`` that computes each."""
    def tensor(t):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": ref(t)}}
    return {"args": [tensor(node.inputs[0]) if node.single else [tensor(t) for t in node.inputs]],
            "kwargs": {}}


def keras_functional_config(model, problems):
    """The ``config`` of a Keras 3 ``Functional``: every layer (Input layers included, in
    ``model.layers`` order) with its ``inbound_nodes``, then ``input_layers`` and
    ``output_layers`` (one reference, or a list of them)."""

    for kind, what in ((model._inputs_kind, "inputs"), (model._outputs_kind, "outputs")):
        if kind == "dict":
            problems.append(f"{what} given as a dict have no Keras file form in minirnn; pass a list")
    for node in model._nodes:
        if node.n_states or node.kwargs:
            problems.append(f"Layer '{node.layer.name}': a call with arguments "
                            f"{sorted(node.kwargs) + ['initial_state'] * bool(node.n_states)} has no "
                            f"Keras file form in minirnn")
    config = functional.graph_config(model.layers, model._nodes, model._input_tensors, model._output_tensors,
                                     lambda layer: keras_layer_entry(layer, problems) or {}, _keras_call)

    def refs(items):
        return items[0] if len(items) == 1 else items
    return {"name": model.name, "trainable": True, "layers": config["layers"],
            "input_layers": refs(config["input_layers"]), "output_layers": refs(config["output_layers"])}


def keras_config(model, include_optimizer=True):
    """The ``config.json`` of a ``.keras`` file for a minirnn Sequential or functional model."""

    problems = []
    if isinstance(model, Sequential):
        out = keras_sequential_entry(model, problems)
    else:
        out = {"module": "keras.src.models.functional", "class_name": "Functional",
               "config": keras_functional_config(model, problems), "registered_name": "Functional",
               "build_config": {"input_shape": None}}
    out["compile_config"] = None
    if include_optimizer and getattr(model, "compiled", False):
        out["compile_config"] = keras_compile_config(model, problems)
    if problems:
        raise ValueError(f"Model '{model.name}' cannot be written as a Keras file:\n  - "
                         + "\n  - ".join(problems))
    return out


def write_keras_weights(model, file, include_optimizer=True):
    """Write the Keras 3 weights HDF5 (``model.weights.h5`` / ``.weights.h5``) to `file`."""
    h5py = _h5py()
    with h5py.File(file, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        for (layer, shape), entry in zip(built_shapes(model), keras_paths(model.layers)):
            weights = iter(layer.weights)
            base = f.create_group(entry)
            base.create_group("vars").attrs["name"] = layer.name
            for group, shapes in weight_groups(layer, shape):
                g = base.require_group(group)
                for i, _ in enumerate(shapes):
                    g.create_dataset(str(i), data=next(weights))
        if include_optimizer and getattr(model, "compiled", False):
            optimizer = model.optimizer
            g = f.create_group("optimizer/vars")
            g.attrs["name"] = optimizer.name
            g.create_dataset("0", data=np.int64(optimizer.iterations))
            g.create_dataset("1", data=np.float32(optimizer.learning_rate))
            weights = trainable_weights(model.layers)
            for i, (k, name) in enumerate(slot_order(optimizer, len(weights))):
                entry = optimizer._slots.get(id(weights[k]))
                value = entry[1][name] if entry is not None and entry[0] is weights[k] else np.zeros_like(weights[k])
                g.create_dataset(str(2 + i), data=value)


def save_keras(model, filepath, overwrite=True, include_optimizer=True):
    """Write `model` as a Keras 3 ``.keras`` file (atomically)."""

    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built: call it on data or build(input_shape) first")
    config = json.dumps(keras_config(model, include_optimizer), allow_nan=False)
    metadata = json.dumps({"keras_version": KERAS_VERSION, "saved_by": f"minirnn {__version__}",
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    weights = io.BytesIO()
    write_keras_weights(model, weights, include_optimizer)

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr("metadata.json", metadata)
            archive.writestr("config.json", config)
            archive.writestr("model.weights.h5", weights.getvalue(), compress_type=zipfile.ZIP_STORED)

    atomic_write(path, write)


def save_keras_weights(model, filepath, overwrite=True):
    """Write the weights (and optimizer state) as a Keras 3 ``.weights.h5`` file."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    weights = io.BytesIO()
    write_keras_weights(model, weights)
    atomic_write(path, lambda f: f.write(weights.getvalue()))
