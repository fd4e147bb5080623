"""Models: ``Model(inputs, outputs)`` over a graph of layers, and ``Sequential``, a stack.

``Sequential([...])`` is a ``Model`` whose graph is a chain; both share one forward / backward /
summary / saving implementation, and the training loops (``compile``, ``fit``, ``evaluate``,
``predict``), which a model inherits from :class:`minirnn.trainer.Trainer`.  The graph itself
(nodes in order, run forward and backward) is :mod:`minirnn.functional`'s.
"""
import functools
import inspect

import numpy as np

from . import functional
from .layers.base import Layer, snake_case, trusted_inputs, unique_name
from .layers.core import InputLayer
from .parallel import limits_blas_threads
from .serialization import deserialize_layer, loading_options, serialize_layer
from .summary import summary_lines
from .symbolic import KerasTensor
from .trainer import Trainer


@functools.lru_cache(maxsize=None)
def _takes_mask(layer_class):
    """Whether the class's __call__ has a `mask` argument (inspect is slow: once per class)."""
    return "mask" in inspect.signature(layer_class.__call__).parameters


def _takes_mask_of(layer):
    return _takes_mask(type(layer))


def _structure(tensors, what):
    """(kind, keys, flat list): a model's inputs or outputs as one tensor, a list or a dict."""
    if isinstance(tensors, dict):
        keys = list(tensors)
        flat = [tensors[k] for k in keys]
        kind = "dict"
    elif isinstance(tensors, (list, tuple)):
        keys, flat, kind = None, list(tensors), "list"
    else:
        keys, flat, kind = None, [tensors], "single"
    for t in flat:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"Model {what} must be symbolic tensors (from Input(...) and layers called "
                             f"on them), received {type(t).__name__}")
    if not flat:
        raise ValueError(f"Model {what} are empty")
    return kind, keys, flat


class Model(Trainer, Layer):
    """A graph of layers from symbolic inputs to outputs::

        inputs = Input(shape=(None, 1))
        x = LSTM(32)(inputs)
        outputs = Dense(1)(x)
        model = Model(inputs, outputs)

    Inputs and outputs may be one tensor, a list or a dict; the graph may branch, merge and
    call one layer several times (shared weights, gradients summed).  A model is itself a
    layer: call it on symbolic tensors to nest it in another model.
    """

    _default_name = "functional"

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if (inputs is None or outputs is None) and type(self) is Model:
            raise ValueError("Model(inputs, outputs) needs both: the Input(...) tensors and the tensors "
                             "computed from them (or subclass Model and write call())")
        # A subclass with its own call() and no graph: Keras's subclassed model, run by tracing call.
        self._subclassed = inputs is None and type(self).call is not Layer.call
        self._sub_grads = None
        Layer.__init__(self, name=name or unique_name(self._default_name if not self._subclassed else
                                                      snake_case(type(self).__name__)),
                       trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._steps = None
        self._shared_grads, self._skipped = {}, set()
        self._last_output_mask = None
        if inputs is not None:
            self._set_graph(inputs, outputs)

    # -- the graph ---------------------------------------------------------------------
    def _set_graph(self, inputs, outputs):
        self._inputs_kind, self._input_keys, self._input_tensors = _structure(inputs, "inputs")
        self._outputs_kind, self._output_keys, self._output_tensors = _structure(outputs, "outputs")
        for t in self._input_tensors:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model '{self.name}': its inputs must come from Input(...), received "
                                 f"the output of layer '{t.node.layer.name}'")
        if len({id(t) for t in self._input_tensors}) != len(self._input_tensors):    # as Keras refuses
            names = [t.node.layer.name for t in self._input_tensors]
            raise ValueError(f"Model '{self.name}': each input may appear once among the inputs, received {names}")
        self._nodes, self._graph_layers = functional.map_graph(self._input_tensors, self._output_tensors)
        self._steps, slot_of = functional.compile_steps(self._input_tensors, self._nodes, _takes_mask_of)
        self._n_slots = len(slot_of)
        self._output_slots = [slot_of[id(t)] for t in self._output_tensors]
        self._input_layers = [t.node.layer for t in self._input_tensors]
        self._input_names = (list(self._input_keys) if self._input_keys is not None else
                             [layer.name for layer in self._input_layers])
        self._output_names = (list(self._output_keys) if self._output_keys is not None else
                              [t.node.layer.name for t in self._output_tensors])

    # -- subclassed models: call() traced (see minirnn.layers.tracing) ------------------------
    def traces_call(self):
        return self._subclassed

    def _sub_output_mask(self, inputs, y):
        mask = self.compute_mask(inputs, None) if type(self).compute_mask is not Model.compute_mask else None
        return mask

    def _graph(self):
        """The steps of the forward pass (a Sequential builds its graph on first use)."""
        if self._steps is None:
            raise ValueError(f"Model '{self.name}' has not been built: start it with Input(shape=...), "
                             f"call build(input_shape) or call it on data first")
        return self._steps

    @property
    def layers(self):
        """Every layer once, in Keras's order (a functional model's Input layers included)."""
        if self._subclassed:
            return self.sublayers()
        return list(self._graph_layers) if self._steps is not None else []

    @property
    def inputs(self):
        return list(self._input_tensors) if self._steps is not None else None

    @property
    def outputs(self):
        return list(self._output_tensors) if self._steps is not None else None

    @property
    def input(self):
        """The symbolic input(s) of the graph (Keras's ``model.input``)."""
        if self._subclassed or self._steps is None:
            return Layer.input.fget(self)
        found = list(self._input_tensors)
        return dict(zip(self._input_keys, found)) if self._inputs_kind == "dict" else \
            found[0] if len(found) == 1 else found

    @property
    def output(self):
        """The symbolic output(s) of the graph (Keras's ``model.output``)."""
        if self._subclassed or self._steps is None:
            return Layer.output.fget(self)
        found = list(self._output_tensors)
        return found[0] if len(found) == 1 else found

    @property
    def input_names(self):
        return list(self._input_names)

    @property
    def output_names(self):
        return list(self._output_names) if self._steps is not None else [self.name]

    @property
    def input_layer(self):
        return self._input_layers[0] if self._steps is not None else None

    @property
    def input_shape(self):
        if self._steps is None:
            return None
        shapes = [t.shape for t in self._input_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or the one at position `index` of :attr:`layers`."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Model '{self.name}' has {len(layers)} layers, received index={index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}' has no layer named {name!r}; its layers are "
                         f"{[layer.name for layer in layers]}")

    @property
    def built(self):
        if self.__dict__.get("_subclassed"):
            return self.__dict__.get("_sub_built", False)
        return self._steps is not None and all(layer.built for layer in self.layers)

    @built.setter
    def built(self, value):           # Layer.__init__ sets it; a model is built by its graph
        if self.__dict__.get("_subclassed"):
            self._sub_built = value

    def build(self, input_shape=None):
        if self._subclassed:
            if not self.built and input_shape is not None:    # Keras builds a subclass by calling it
                from .layers.base import _probe
                self._sub_built = True
                self(_probe(input_shape, 1, self.dtype))
            self._sub_built = True
            return
        self._graph()

    @property
    def build_input_shape(self):
        """The input shape(s) the graph was built for (saved as the model's build_config)."""
        return self.input_shape

    @build_input_shape.setter
    def build_input_shape(self, value):     # Layer.ensure_built sets it; the graph holds it
        pass

    def output_shapes(self):
        """The (first) output shape of every node, in the order they run."""
        self._graph()
        return [node.outputs[0].shape for node in self._nodes]

    def compute_output_shape(self, input_shape):
        if self._subclassed:
            return Layer.compute_output_shape(self, input_shape)
        shapes = [t.shape for t in self._output_tensors]
        batch = (input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape)[0]
        shapes = [(batch,) + tuple(s[1:]) for s in shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def compute_mask(self, inputs, mask=None):
        return None if self._subclassed else self._last_output_mask

    def _require_layers(self, what):
        """A functional model always has its layers (a Sequential may have none yet)."""

    # -- weights -------------------------------------------------------------------------
    @property
    def weights(self):
        if self._subclassed:
            return Layer.weights.fget(self)
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        if self._subclassed:
            return Layer.trainable_weights.fget(self)
        return [p for p, _ in self._param_grad_pairs(with_grads=False)]

    def set_weights(self, weights):
        weights = list(weights)
        expected = len(self.weights)
        if len(weights) != expected:
            raise ValueError(f"Model '{self.name}' expects {expected} weight arrays, received {len(weights)}")
        offset = 0
        for layer in self.layers:                          # check all before changing any
            for k, w in enumerate(layer.weights):
                if np.shape(weights[offset + k]) != w.shape:
                    raise ValueError(f"Model '{self.name}': layer '{layer.name}' weight {k} expects shape "
                                     f"{w.shape}, received {np.shape(weights[offset + k])}")
            offset += len(layer.weights)
        for layer in self.layers:
            k = len(layer.weights)
            if k:
                layer.set_weights(weights[:k])
            weights = weights[k:]

    @property
    def grads(self):
        """dL/dweights of the last backward, aligned with :attr:`weights` (summed over the calls
        of a shared layer; zeros for a layer no gradient reached)."""
        if self._subclassed:
            return self._sub_grads
        return [g for layer in self.layers if layer.weights for g in self._layer_grads(layer)]

    @grads.setter
    def grads(self, value):           # Layer.__init__ sets it; a model reads its layers'
        if self.__dict__.get("_subclassed"):
            self._sub_grads = value

    def _layer_grads(self, layer):
        if layer in self._shared_grads:
            return self._shared_grads[layer]
        if layer in self._skipped:
            return [np.zeros_like(w) for w in layer.weights]
        return layer.grads

    def _param_grad_pairs(self, with_grads=True):
        """(weight, gradient) of every trainable weight, through nested models."""
        pairs = []
        if not self.trainable:
            return pairs
        if self._subclassed:
            keep = {id(w) for w in self.trainable_weights}
            grads = self._sub_grads if with_grads else [None] * len(self.weights)
            return [(w, g) for w, g in zip(self.weights, grads) if id(w) in keep]
        plain = not (self._shared_grads or self._skipped)        # the usual case: one call per layer
        for layer in self.layers:
            weights = layer.weights
            if not weights or not layer.trainable:
                continue
            if isinstance(layer, Model) and (plain or (layer not in self._shared_grads and layer not in self._skipped)):
                pairs += layer._param_grad_pairs(with_grads)
                continue
            grads = (layer.grads if plain else self._layer_grads(layer)) if with_grads else [None] * len(weights)
            trainable = layer.trainable_weights
            if len(trainable) != len(weights):       # a model summed as a whole, BatchNormalization's statistics
                keep = {id(w) for w in trainable}
                pairs += [(w, g) for w, g in zip(weights, grads) if id(w) in keep]
            else:
                pairs += zip(weights, grads)
        return pairs

    # -- forward and backward -------------------------------------------------------------
    def _flatten(self, data, names, what):
        """A list of arrays, one per model input or output (`names`), from one array, a list or a dict."""
        if isinstance(data, dict):
            missing = [n for n in names if n not in data]
            if missing:
                raise ValueError(f"Model '{self.name}': the {what} dict lacks {missing}; expected the "
                                 f"keys {names}, received {list(data)}")
            return [data[n] for n in names]
        if len(names) > 1:
            if not isinstance(data, (list, tuple)) or len(data) != len(names):
                got = f"a list of {len(data)}" if isinstance(data, (list, tuple)) else type(data).__name__
                raise ValueError(f"Model '{self.name}' has {len(names)} {what}s {names}: pass a list or a "
                                 f"dict of {len(names)} arrays, received {got}")
            return list(data)
        if isinstance(data, (list, tuple)) and data and all(isinstance(d, np.ndarray) for d in data):
            if len(data) == 1:
                return [data[0]]                             # Keras takes [x] for a single input
            raise ValueError(f"Model '{self.name}' has 1 {what} {names}, received a list of {len(data)} "
                             f"arrays; pass one array (np.stack the list if its items are samples)")
        return [data]

    def _checked_inputs(self, x):
        """The input arrays, each checked (rank, shape, dtype, NaN/inf) by its Input layer."""
        if self._subclassed:
            self._input_struct = x
            return [np.asarray(a) for a in (x if isinstance(x, (list, tuple)) else
                                             x.values() if isinstance(x, dict) else [x])]
        self._ensure_graph(x)
        arrays = self._flatten(x, self._input_names, "input")
        return [layer.check_input(a) for layer, a in zip(self._input_layers, arrays)]

    def _ensure_graph(self, x):
        self._graph()

    @limits_blas_threads
    def __call__(self, inputs, training=False, mask=None, **kwargs):
        if self._subclassed:
            y = Layer.__call__.__wrapped__(self, inputs, training=training, mask=mask, **kwargs)
            self._sub_built = True
            return y
        flat = self._checked_inputs(inputs)
        outputs, _ = self._forward(flat, training, mask)
        return self._pack(outputs)

    def _pack(self, outputs):
        if self._subclassed:
            return outputs[0] if len(outputs) == 1 else list(outputs)
        if self._outputs_kind == "single":
            return outputs[0]
        if self._outputs_kind == "dict":
            return dict(zip(self._output_keys, outputs))
        return list(outputs)

    def _forward(self, flat, training, mask=None):
        """(output arrays, output masks) from checked input arrays; with `training` the model
        keeps what backward needs."""
        if self._subclassed:
            struct = self._input_struct
            x = (flat[0] if not isinstance(struct, (list, tuple, dict)) else
                 dict(zip(struct, flat)) if isinstance(struct, dict) else list(flat))
            with trusted_inputs():
                y = Layer.__call__.__wrapped__(self, x, training=training)
            self._sub_built = True
            outputs = list(y) if isinstance(y, (list, tuple)) else [y]
            self._last_output_mask = None
            return outputs, [None] * len(outputs)
        steps = self._graph()
        input_masks = mask if isinstance(mask, list) else [mask] + [None] * (len(flat) - 1)
        with trusted_inputs():
            values, masks, saved = functional.run_forward(steps, self._n_slots, flat, input_masks, training)
        # A recurrent layer's sequences are views of its time-major arrays: the model hands out
        # C-contiguous arrays.
        outputs = [np.ascontiguousarray(values[s]) for s in self._output_slots]
        out_masks = [masks[s] for s in self._output_slots]
        self._activity_loss = saved.get("activity_loss", 0.0)
        if training:
            self._cache = (saved, [a.shape for a in flat])
        self._last_output_mask = out_masks[0] if len(out_masks) == 1 else out_masks
        return outputs, out_masks

    @limits_blas_threads
    def backward(self, dy):
        """dL/d(inputs) from dL/d(outputs) (one array, a list or a dict like the outputs);
        the weight gradients go to each layer (see :attr:`grads`)."""
        if self._subclassed:
            return Layer.backward(self, dy)
        if self._outputs_kind == "dict" and isinstance(dy, dict):
            d_outputs = [dy.get(k) for k in self._output_keys]
        else:
            d_outputs = [dy] if self._outputs_kind == "single" else list(dy)
        return self._backward(d_outputs)

    def _backward(self, d_outputs, input_grads=True):
        if self._subclassed:
            dx = Layer.backward(self, d_outputs[0] if len(d_outputs) == 1 else d_outputs)
            return dx if input_grads else None
        saved, shapes = self.saved()
        grads, self._shared_grads, self._skipped = functional.run_backward(
            self._graph(), self._n_slots, self._output_slots, d_outputs, saved,
            0 if input_grads else len(shapes))
        if not input_grads:                    # a training step: dL/d(inputs) is not needed
            return None
        dx = [np.zeros(shape, self.dtype) if g is None else g
              for g, shape in zip(grads[:len(shapes)], shapes)]
        return dx[0] if len(dx) == 1 else dx

    # -- saving (formats: see minirnn/saving/) ---------------------------------------------
    def get_config(self, serialize=None):
        """A subclassed model: its constructor arguments (Layer's).  Else
        ``{"name", "layers": [entry + {"name", "inbound_nodes"}], "input_layers",
        "output_layers"}`` (Keras's functional config); entries by ``serialization.serialize_layer``."""
        if self._subclassed:
            return Layer.get_config(self)
        serialize = serialize or _default_serialize
        config = functional.graph_config(self.layers, self._nodes, self._input_tensors,
                                         self._output_tensors, serialize)
        config["name"] = self.name
        if self._outputs_kind == "dict":
            config["output_keys"] = list(self._output_keys)
        if self._inputs_kind == "dict":
            config["input_keys"] = list(self._input_keys)
        config["trainable"] = self.trainable
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        if "layers" not in config and cls is not Model and cls.call is not Layer.call:
            return cls(**config)
        with loading_options(custom_objects):
            inputs, outputs = functional.rebuild_graph(config, deserialize_layer)
        if config.get("input_keys"):
            inputs = dict(zip(config["input_keys"], inputs))
        if config.get("output_keys"):
            outputs = dict(zip(config["output_keys"], outputs))
        return cls(inputs if isinstance(inputs, dict) or len(inputs) > 1 else inputs[0],
                   outputs if isinstance(outputs, dict) or len(outputs) > 1 else outputs[0],
                   name=config.get("name"), trainable=config.get("trainable", True))

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save architecture, weights and compile state (optimizer included) to a ``.minirnn`` file
        (or a Keras ``.keras`` file)."""
        _file_function("save_model")(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights (and optimizer state, if compiled) to a ``.weights.npz`` file (or a
        Keras ``.weights.h5`` file)."""
        _file_function("save_weights")(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights from a ``.weights.npz`` or ``.minirnn`` file (and the optimizer state,
        if the model is compiled with the same optimizer); counts and shapes are checked.
        Keras files (``.keras``, ``.weights.h5``, ``.h5``) load too."""
        _file_function("load_weights")(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs):
        """The architecture and compile settings as Keras's JSON (``keras.models.model_from_json``
        and :func:`model_from_json` read it); no weights."""
        return _file_function("to_json")(self, **kwargs)

    def export(self, filepath, format="onnx", **kwargs):
        """Write the model for serving, as Keras 3's ``export``: ``format="onnx"`` only (keyword
        arguments: see :func:`minirnn.onnx.export`)."""
        _file_function("export")(self, filepath, format=format, **kwargs)

    # -- description ---------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Print Keras 3's table: layer (type), output shape, parameters, and for a functional
        model the inputs each layer is connected to; an unbuilt layer shows "0 (unbuilt)"."""
        print_fn("\n".join(summary_lines(self, connected=not isinstance(self, Sequential))))


def _default_serialize(layer):
    return serialize_layer(layer, build_config=True)


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Input(shape=(None, 1)), LSTM(32), Dense(1)])``.

    The graph is a chain, built as soon as the input shape is known (an ``Input``, a first
    layer's ``input_shape=``, :meth:`build`, or the first call on data)."""

    _default_name = "sequential"

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._stack = []
        self._input = None
        for layer in layers or []:
            self.add(layer)

    # -- structure --------------------------------------------------------------------------
    def add(self, layer):
        if getattr(layer, "is_symbolic", False) and isinstance(getattr(layer.node, "layer", None), InputLayer):
            layer = layer.node.layer                       # Input(...) is the input layer's tensor
        if isinstance(layer, InputLayer):
            if self._stack or self._input is not None:
                raise ValueError(f"Model '{self.name}': an Input must come first")
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Model '{self.name}' can only add minirnn layers, received {layer!r}")
        if not self._stack and self._input is None and layer.input_shape_hint is not None:
            self._input = InputLayer(layer.input_shape_hint[1:], dtype=layer.dtype)
        self._stack.append(layer)
        self._steps = None
        if self._input is not None:
            self._build_chain()                 # build now, like Keras, when the input shape is known

    def pop(self):
        """Remove the last layer."""
        if not self._stack:
            raise ValueError(f"Model '{self.name}' has no layers to pop")
        layer = self._stack.pop()
        self._steps = None
        if self._stack and self._input is not None:
            self._build_chain()
        return layer

    def _build_chain(self, tensor=None):
        x = tensor if tensor is not None else self._input.output
        start = x
        for layer in self._stack:
            x = layer(x)
            if isinstance(x, list):
                raise ValueError(f"Model '{self.name}': layer '{layer.name}' returns several arrays "
                                 f"(return_state=True or merge_mode=None), which Sequential cannot pass on")
        self._set_graph(start, x)

    @property
    def layers(self):
        return list(self._stack)

    @property
    def input_layer(self):
        return self._input

    @property
    def input_shape(self):
        return None if self._input is None else self._input.shape

    def build(self, input_shape=None):
        """Create every layer's weights from the input shape (batch axis first)."""
        if input_shape is not None:
            self._input = InputLayer(tuple(input_shape)[1:], batch_size=input_shape[0])
            self._steps = None
        if self._input is None:
            raise ValueError(f"Model '{self.name}' has no input shape: start it with Input(shape=...), "
                             f"call build(input_shape) or call it on data")
        self._graph()
        return self._output_tensors[0].shape

    def _graph(self):
        if self._steps is None:
            if not self._stack:
                raise ValueError(f"Model '{self.name}' has no layers: add layers first")
            if self._input is None:
                raise ValueError(f"Model '{self.name}' has not been built: start it with Input(shape=...), "
                                 f"call build(input_shape) or call it on data first")
            self._build_chain()
        return self._steps

    def _ensure_graph(self, x):
        """Without an input shape, the first data fixes the rank and builds the layers from its
        shape; the model's Input keeps every axis but the batch free (any sequence length fits)."""
        if self._steps is None and self._input is None and self._stack:
            sample = np.asarray(x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x)
            text = sample.dtype.kind in "USO" and getattr(self._stack[0], "reads_strings", False)
            if (sample.dtype.kind in "biuf" or text) and sample.ndim >= 1:
                self._input = InputLayer((None,) * (sample.ndim - 1), dtype="string" if text else self._stack[0].dtype)
                self._input.output.shape = (None,) + sample.shape[1:]
        self._graph()

    def _require_layers(self, what):
        if not self._stack:
            raise ValueError(f"Model '{self.name}' has no layers: add layers before {what}()")

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    # -- saving ------------------------------------------------------------------------------
    def get_config(self, serialize=None):
        """``{"name", "layers": [{"class_name", "module", "config", "build_config"}, ...]}``,
        the Input first when the model has one."""
        serialize = serialize or _default_serialize
        layers = ([self._input] if self._input is not None else []) + self._stack
        return {"name": self.name, "layers": [serialize(layer) for layer in layers], "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        if "layers" not in config and cls is not Model and cls.call is not Layer.call:
            return cls(**config)
        with loading_options(custom_objects):
            layers = [deserialize_layer(entry) for entry in config.get("layers", [])]
        return cls(layers=layers, name=config.get("name"), trainable=config.get("trainable", True))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved by ``model.save``; see :func:`minirnn.saving.load_model`."""
    return _file_function("load_model")(filepath, custom_objects=custom_objects, compile=compile,
                                        safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None, safe_mode=True):
    """A model from the JSON of ``to_json`` (minirnn's or Keras's), new weights; see
    :func:`minirnn.saving.keras_files.model_from_json`."""
    return _file_function("model_from_json")(json_string, custom_objects=custom_objects, safe_mode=safe_mode)


# -- files ---------------------------------------------------------------------------------
# The file formats (minirnn/saving/) make models, so they sit above this module; importing them
# hands the models the functions behind save, load_weights ... here.  ``import minirnn`` leaves
# them unloaded (they are a third of its import time) and gives a loader for the first use.
_file_functions = {}
_file_loaders = []


def use_file_functions(**functions):
    """Set the functions ``save_model``, ``load_model``, ``save_weights``, ``load_weights``, ``export``,
    ``to_json`` and ``model_from_json`` that :class:`Model`, :func:`load_model` and
    :func:`model_from_json` call (done by :mod:`minirnn.saving`)."""
    _file_functions.update(functions)


def load_file_functions_with(loader):
    """Call ``loader()`` (which imports :mod:`minirnn.saving`) the first time a file function is needed."""
    _file_loaders.append(loader)


def _file_function(name):
    while name not in _file_functions and _file_loaders:
        _file_loaders.pop()()
    if name not in _file_functions:
        raise RuntimeError(f"{name}: minirnn's file formats are not loaded; import minirnn.saving")
    return _file_functions[name]
