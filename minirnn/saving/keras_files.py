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
    layers/<entry>/vars/0, 1 + layer/vars/<i>           SpectralNormalization: kernel, vector_u; the wrapped
                                                        layer's weights (its kernel again)
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
does; its optimizer state (``optimizer_weights``) is read when the model's optimizer has as many
variables.  minirnn writes legacy files too (:mod:`minirnn.saving.keras_legacy`).

Reading is safe for untrusted files: nothing in the file is executed or imported.  Keras
classes map to minirnn classes through the closed table :data:`LAYERS`; options minirnn does
not have (regularizers, constraints, mixed precision...) are collected and refused in one error.
A ``Lambda`` stores Python bytecode, which minirnn never runs, not even with
``safe_mode=False`` (where Keras would): pass the function as
``custom_objects={"<layer name>": fn}``.  A custom layer or function named in the file is
looked up only in ``custom_objects`` and :mod:`minirnn.registry`.  The config is checked
(:mod:`minirnn.saving.schema`) before anything is built, and everything is bounded as for
minirnn's own files (:mod:`minirnn.saving.readers`): ``config.json`` by ``MAX_CONFIG_BYTES``;
the weights member by its compressed size; what the config makes (layers, calls, output shapes,
weights) and what HDF5 decompresses (chunks included) by the budget of the weights' size on
disk; ``safe_mode=False`` lifts the size limits and nothing else.  Every dataset's shape, dtype
and storage are checked against the layer before any data is read; filters other than gzip,
shuffle and fletcher32, external links, soft links, external storage, virtual datasets and
references are refused, and no HDF5 plugin is searched for while the file is open.
"""
import datetime
import io
import json
import os
import zipfile

import numpy as np

from ..serialization import ModelFileError
from ..version import __version__
from .atomic import atomic_write
from .keras_legacy import read_legacy_optimizer_state
from ..models import Sequential
from .keras_config import (KERAS_VERSION, build_sequential, functional_from_config, keras_config,
                           sequential_from_config, weightless)
from .keras_weights import (assign_weights, built_shapes, keras_paths, layer_shapes, model_dtype, read_keras_weights,
                            read_legacy_weights, read_optimizer_state, write_keras_weights)
from . import schema
from .readers import (MAX_CONFIG_BYTES, H5Reader, building_limited, load_json, open_archive, read_member,
                      read_vocabulary_assets, read_weights_member, reading, vocabulary_assets)

WEIGHTS_MEMBER = "model.weights.h5"


def _open_keras(path):
    with reading(path, None):
        if not zipfile.is_zipfile(path):
            raise ModelFileError(path, None, "not a .keras file (a ZIP archive written by Keras 3)")
    return open_archive(path, path, "the .keras archive")


def _model_from_file(config, path, reader, read_weights, custom_objects, compile, safe_mode=True):
    """(model, its layers in Keras's order): translate the config, check and read the weights
    (a Sequential's before anything is built), build, fill and compile; all within the budget
    of the file (layers, graph nodes, output shapes and weights, see minirnn.budget).  Without
    a `reader` the layers keep the weights their initializers draw (a config alone: the budget
    is then :data:`MAX_WEIGHT_BYTES`, lifted when not `safe_mode`)."""
    with building_limited(*((reader.stored, reader.limit != float("inf")) if reader else (None, safe_mode))):
        if config.get("class_name") in ("Functional", "Model"):
            model, layers, compiled = functional_from_config(config, path, custom_objects, compile, reader)
            shaped = [(layer, layer.build_input_shape) for layer in layers]
            values = read_weights(shaped, reader, model_dtype(model)) if reader else None
        else:
            name, input_layer, layers, compiled = sequential_from_config(config, path, custom_objects, compile)
            dtype = np.dtype(layers[0].dtype if layers else "float32")
            try:
                shaped = layer_shapes(layers, None if input_layer is None else input_layer.shape)
            except (TypeError, ValueError, IndexError) as e:
                raise ModelFileError(path, "the model config", f"the layers do not fit together "
                                                               f"({type(e).__name__}: {e})") from None
            values = read_weights(shaped, reader, dtype) if reader else None
            try:
                model = build_sequential(name, input_layer, layers)
            except ModelFileError:
                raise
            except (TypeError, ValueError, IndexError) as e:
                raise ModelFileError(path, "the model config", f"the model cannot be made "
                                                               f"({type(e).__name__}: {e})") from None
    if values is not None:
        assign_weights(layers, values, path)
    if compiled is not None:
        optimizer, loss, metrics, loss_weights = compiled
        try:
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights)
        except (TypeError, ValueError) as e:         # settings that do not fit the model (or each other)
            raise ModelFileError(path, "compile_config", f"cannot compile the model ({e})") from None
    return model, layers


JSON_SOURCE = "<model JSON>"      # what errors name as the file of a model_from_json string


def model_to_json(model, **kwargs):
    """Keras's ``model.to_json()``: the model's Keras config (architecture and compile settings,
    no weights) as one JSON string, which ``keras.models.model_from_json`` reads; `kwargs` go to
    ``json.dumps``."""
    return json.dumps(keras_config(model), **kwargs)


def model_from_json(json_string, custom_objects=None, safe_mode=True):
    """Keras's ``model_from_json``: a model from the JSON of ``to_json`` (minirnn's or Keras's),
    with new weights drawn by its initializers, compiled when the JSON holds compile settings
    (as Keras does).  The JSON is read like a file's config: bounded (``MAX_CONFIG_BYTES``),
    checked before anything is built, nothing in it run; in safe mode the model may allocate
    at most ``MAX_WEIGHT_BYTES``, which ``safe_mode=False`` lifts."""
    if isinstance(json_string, str):
        json_string = json_string.encode("utf-8")
    if not isinstance(json_string, (bytes, bytearray)):
        raise TypeError(f"model_from_json expects the JSON string of to_json(), received {type(json_string).__name__}")
    config = load_json(bytes(json_string), JSON_SOURCE, "the model config")
    schema.check_keras(config, JSON_SOURCE)
    return _model_from_file(config, JSON_SOURCE, None, None, custom_objects, True, safe_mode)[0]


def load_keras(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A minirnn model from a Keras 3 ``.keras`` file (Sequential or functional), compiled as
    saved (unless ``compile=False``) with its optimizer state where minirnn has that optimizer.
    ``safe_mode=False`` lifts the size limits; nothing in a file is ever executed."""
    path = os.fspath(filepath)
    with _open_keras(path) as archive:
        config = load_json(read_member(archive, "config.json", path, MAX_CONFIG_BYTES), path, "member 'config.json'")
        schema.check_keras(config, path)
        weights, stored = read_weights_member(archive, WEIGHTS_MEMBER, path, safe_mode)
    with H5Reader(io.BytesIO(weights), path, f"member {WEIGHTS_MEMBER!r}", safe_mode, stored) as reader:
        model, layers = _model_from_file(config, path, reader, read_keras_weights, custom_objects, compile)
        if getattr(model, "compiled", False):
            read_optimizer_state(model, layers, reader)
    _load_vocabularies(layers, path, safe_mode)
    return model


def _load_vocabularies(layers, path, safe_mode):
    """The vocabulary of each lookup layer kept as an asset (``assets/<entry>/vocabulary.txt``:
    saved after adapt() by Keras, or given as a file)."""
    wanted = [(layer, f"assets/{entry}/vocabulary.txt") for layer, entry in zip(layers, keras_paths(layers))
              if hasattr(layer, "load_vocabulary_asset")]
    if wanted:
        with _open_keras(path) as archive:
            read_vocabulary_assets(archive, wanted, path, safe_mode)


def load_keras_weights(model, filepath):
    """Weights (and optimizer state, when compiled alike) from a ``.keras`` or ``.weights.h5`` file."""
    path = os.fspath(filepath)
    source, member, stored = path, None, None
    if path.endswith(".keras"):
        with _open_keras(path) as archive:
            member = f"member {WEIGHTS_MEMBER!r}"
            data, stored = read_weights_member(archive, WEIGHTS_MEMBER, path)
            source = io.BytesIO(data)
    with H5Reader(source, path, member, stored=stored) as reader:
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
        schema.check_keras(config, path, "attribute 'model_config'")
        training = reader.attribute("/", "training_config") if compile else None
        if training:
            config["compile_config"] = load_json(training.encode("utf-8"), path, "attribute 'training_config'")
            schema.check_keras_training(config["compile_config"], path)
        model, layers = _model_from_file(config, path, reader, read_legacy_weights, custom_objects, compile)
        if getattr(model, "compiled", False) and reader.get("optimizer_weights") is not None:
            read_legacy_optimizer_state(model, layers, reader)
        return model


def load_legacy_weights(model, filepath):
    """Weights from a legacy ``.h5`` file onto a model of the same architecture."""
    path = os.fspath(filepath)
    with H5Reader(path, path) as reader:
        assign_weights(model.layers, read_legacy_weights(built_shapes(model), reader, model_dtype(model)), path)


def save_keras(model, filepath, overwrite=True, include_optimizer=True):
    """Write `model` as a Keras 3 ``.keras`` file (atomically)."""

    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    if not model.built and not (isinstance(model, Sequential) and model.input_shape is None
                                and weightless(model.layers)):
        raise ValueError(f"Model '{model.name}' has not been built: call it on data or build(input_shape) first")
    config = json.dumps(keras_config(model, include_optimizer), allow_nan=False)
    metadata = json.dumps({"keras_version": KERAS_VERSION, "saved_by": f"minirnn {__version__}",
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    weights = io.BytesIO()
    write_keras_weights(model, weights, include_optimizer)
    # Keras keeps a TextVectorization's vocabulary twice: its own, and its inner lookup layer's
    assets = vocabulary_assets(model.layers, [
        [f"assets/{entry}/vocabulary.txt"] + ([f"assets/{entry}/_lookup_layer/vocabulary.txt"]
                                              if hasattr(layer, "lookup") else [])
        for layer, entry in zip(model.layers, keras_paths(model.layers))])

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr("metadata.json", metadata)
            archive.writestr("config.json", config)
            archive.writestr("model.weights.h5", weights.getvalue(), compress_type=zipfile.ZIP_STORED)
            for name, text in assets:
                archive.writestr(name, text)

    atomic_write(path, write)


def save_keras_weights(model, filepath, overwrite=True):
    """Write the weights (and optimizer state) as a Keras 3 ``.weights.h5`` file."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    weights = io.BytesIO()
    write_keras_weights(model, weights)
    atomic_write(path, lambda f: f.write(weights.getvalue()))
