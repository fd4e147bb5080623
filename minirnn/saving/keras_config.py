"""Keras configs to minirnn objects and back: the ``config.json`` of a ``.keras`` file (and
the ``model_config`` of a legacy ``.h5``), layers, models and compile settings.

Keras classes map to minirnn classes through the closed table :data:`LAYERS`; options minirnn
does not have (regularizers, constraints, mixed precision...) are collected by
:class:`Translator` and refused in one error.  A ``Lambda`` stores Python bytecode, which
minirnn never runs: pass the function as ``custom_objects={"<layer name>": fn}``.  A custom
layer or function named in a file is looked up only in ``custom_objects`` and
:mod:`minirnn.registry`.  The file layout is described in :mod:`minirnn.saving.keras_files`.
"""
from .. import functional, initializers, losses, metrics as metrics_module, optimizers, registry
from .. import layers as layers_module
from ..layers import (GRU, LSTM, Add, Average, Bidirectional, Concatenate, Conv1D, Dense, Dot, Dropout,
                      Embedding, Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D, InputLayer, Lambda,
                      Masking, Maximum, MaxPooling1D, Minimum, Multiply, Permute, RepeatVector, Rescaling,
                      Reshape, SimpleRNN, Subtract, TimeDistributed)
from ..layers.base import Layer, constructor_arguments
from ..models import Model, Sequential
from ..serialization import ModelFileError, serialize_layer
from .compile_state import serialize_metric
from .keras_weights import model_dtype

KERAS_VERSION = "3.15.1"           # the Keras release whose layout save_keras writes

#: Keras layer class -> minirnn layer class: the only classes a file can name.
LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Dense, SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Conv1D, Dropout, Masking,
    MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, Flatten, TimeDistributed, Lambda,
    Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, Reshape, Permute, RepeatVector,
    Rescaling)}
LAYERS.update({name: getattr(layers_module, name) for name in (
    "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Conv2D",
    "Conv3D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "StringLookup", "IntegerLookup", "TextVectorization",
    "GroupNormalization", "RMSNormalization", "UnitNormalization", "SpectralNormalization",
    "Hashing")})
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
    "synchronized": False, "renorm": False, "renorm_clipping": None, "rms_scaling": False,
}
# Keras options with no effect on the numbers minirnn computes.
_IGNORED = {"trainable", "dtype", "implementation", "use_cudnn", "ema_momentum", "autocast",
            "registered_name", "module", "shared_object_id", "input_dim_fixed",
            "renorm_momentum"}            # BatchNormalization: used only with renorm=True


# -- Keras config -> minirnn -------------------------------------------------------------
class Translator:
    """Keras configs to minirnn objects; collects every problem to report them together."""

    def __init__(self, custom_objects=None):
        self.custom_objects = dict(custom_objects or {})
        self.problems = []

    def problem(self, where, message):
        if message.startswith(f"{where}: "):           # a layer's own error names it already
            message = message[len(where) + 2:]
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

    def dtype(self, value, where, input_layer=False, allowed=("float32", "float64")):
        if isinstance(value, dict):
            value = (value.get("config") or {}).get("name")
        if value is None:
            return None
        if input_layer and value in _INPUT_DTYPES:            # ids and text enter through an Input
            return value
        if value not in allowed:
            self.problem(where, f"dtype {value!r} is not supported ({' and '.join(allowed)} are)")
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
        if cls is None and custom is not None:
            if not (isinstance(custom, type) and issubclass(custom, Layer)):
                self.problem(where, f"{entry.get('registered_name') or class_name!r} names {custom!r}, which is "
                                    f"not a layer class")
                return None
            try:
                return custom.from_config(config)
            except ModelFileError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
                self.problem(where, f"from_config failed ({type(e).__name__}: {e})")
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
            try:
                return InputLayer(shape[1:], batch_size=shape[0],
                                  dtype=self.dtype(config.get("dtype"), where, True), name=name)
            except ValueError as e:                       # the budget of the file, above all
                self.problem(where, str(e))
                return None
        kwargs = self.arguments(cls, config, where, renamed={"batch_input_shape": "input_shape"})
        kwargs["dtype"] = self.dtype(config.get("dtype"), where, allowed=getattr(cls, "config_dtypes",
                                                                             ("float32", "float64")))
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
        elif cls in (TimeDistributed, layers_module.SpectralNormalization):
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
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as e:
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


_INPUT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string")


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
    elif weightless(layers):
        input_layer = None              # a stack of lookups, as Keras saves it unbuilt: no weights to check
    else:
        raise ModelFileError(path, "the model config", "the model has no input shape, so its weights "
                                                       "cannot be checked")
    return body.get("name"), input_layer, layers, compiled


def weightless(layers):
    """Whether `layers` are all built when made and without weights (lookup and hashing layers): a
    Sequential of them may be saved and loaded before it knows its input shape, as in Keras."""
    return bool(layers) and all(layer.built and not layer.weights and not isinstance(layer, Sequential)
                                for layer in layers)


def build_sequential(name, input_layer, layers):
    return Sequential(layers=([] if input_layer is None else [input_layer]) + layers, name=name)


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
    calls, n_states, n_masks = [], [], []
    for node in entry.get("inbound_nodes") or []:
        if isinstance(node, dict):
            refs = _history(node.get("args"))
            kwargs = node.get("kwargs") or {}
        else:
            refs = [list(ref[:3]) for ref in node if isinstance(ref, list) and len(ref) >= 3]
            kwargs = {k: v for ref in node if isinstance(ref, list) and len(ref) > 3 and isinstance(ref[3], dict)
                      for k, v in ref[3].items()}
        # symbolic initial_state and mask become inputs of the call, after the inputs themselves
        states, mask = _history(kwargs.get("initial_state")), _history(kwargs.get("mask"))
        extra = {k: v for k, v in kwargs.items() if k not in ("training", "mask", "initial_state") and v is not None}
        if extra or _history(extra) or (kwargs.get("mask") is not None and not mask):
            translator.problem(where, f"call arguments {sorted(kwargs)} are not supported")
        calls.append(refs + states + mask[:1])
        n_states.append(len(states))
        n_masks.append(min(len(mask), 1))
    return calls, n_states, n_masks


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
        calls, n_states, n_masks = _calls(entry, where, translator)
        entries.append({"name": name, "inbound_nodes": calls, "inbound_states": n_states,
                        "inbound_masks": n_masks, "layer": layer})
    compiled = translator.compile_settings(config["compile_config"]) \
        if compile and config.get("compile_config") else None
    translator.raise_problems(path)

    def refs(value):
        return [value] if value and not isinstance(value[0], list) else list(value or [])
    graph = {"layers": entries, "input_layers": refs(body.get("input_layers")),
             "output_layers": refs(body.get("output_layers"))}
    try:
        inputs, outputs = functional.rebuild_graph(graph, lambda entry: entry["layer"])
        model = Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                      name=body.get("name"))
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise ModelFileError(path, "the model config", f"the functional graph cannot be made "
                                                       f"({type(e).__name__}: {e})") from None
    return model, [entry["layer"] for entry in entries], compiled


# -- minirnn -> Keras --------------------------------------------------------------------
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
    if not type(layer).__module__.startswith("minirnn.") and layer.traces_call():
        return _custom_entry(layer, problems)
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


def _custom_entry(layer, problems):
    """A layer written Keras's way: its class by name (Keras finds it registered or in
    custom_objects), its own get_config, its add_weight weights in the layer's ``vars``."""
    cls = type(layer)
    if layer.sublayers():
        problems.append(f"Layer '{layer.name}' ({cls.__name__}): a custom layer holding other layers has no Keras "
                        f"file form in minirnn; save it as .minirnn")
        return None
    registered = registry.registered_name(cls)
    if registered is None or registered.startswith("Custom>"):
        registered = cls.__name__                    # Keras's name for an unregistered class
    out = {"module": cls.__module__, "class_name": cls.__name__, "config": layer.get_config(),
           "registered_name": registered}
    shape = getattr(layer, "build_input_shape", None)
    if layer.built and shape is not None:
        out["build_config"] = {"input_shape": list(shape)}
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
        entry = serialize_metric(metric)
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
    entry = {"module": "keras", "class_name": "Sequential",
             "config": {"name": model.name, "trainable": True, "dtype": str(model_dtype(model)), "layers": entries},
             "registered_name": None, "build_config": {"input_shape": shape}}
    if shape is None:
        del entry["build_config"]           # as Keras writes a Sequential not built yet
    return entry


def _keras_call(node, ref):
    """One layer call as Keras 3 writes it: the input tensor (a list of them for a merge layer)
    as ``__keras_tensor__`` entries naming the ``[layer, node, tensor]`` that computes each."""
    def tensor(t):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": ref(t)}}
    if not node.single:
        return {"args": [[tensor(t) for t in node.inputs]], "kwargs": {}}
    kwargs = {}
    if node.n_states:
        kwargs["initial_state"] = [tensor(t) for t in node.inputs[1:1 + node.n_states]]
    if node.n_masks:
        kwargs["mask"] = tensor(node.inputs[-1])
    return {"args": [tensor(node.inputs[0])], "kwargs": kwargs}


def keras_functional_config(model, problems):
    """The ``config`` of a Keras 3 ``Functional``: every layer (Input layers included, in
    ``model.layers`` order) with its ``inbound_nodes``, then ``input_layers`` and
    ``output_layers`` (one reference, or a list of them)."""

    for kind, what in ((model._inputs_kind, "inputs"), (model._outputs_kind, "outputs")):
        if kind == "dict":
            problems.append(f"{what} given as a dict have no Keras file form in minirnn; pass a list")
    for node in model._nodes:
        if node.kwargs:
            problems.append(f"Layer '{node.layer.name}': a call with arguments {sorted(node.kwargs)} has no "
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
