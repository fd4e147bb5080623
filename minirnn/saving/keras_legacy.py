"""Legacy Keras HDF5 files written for Keras to load: ``model.save("model.h5")`` and
``model.save_weights("model.h5")`` (what ``ModelCheckpoint("best_model.h5")`` writes).

Layout (Keras 2 / tf.keras, still read by Keras 3's ``load_model`` and ``load_weights``)::

    /                       attrs model_config (JSON), training_config (JSON), keras_version, backend
    model_weights/          attrs layer_names (every layer), keras_version, backend
      <layer name>/         attrs weight_names: the layer's weights in Keras's order
        <weight name>       one dataset per weight (a name holding '/' makes nested groups)
    optimizer_weights/      attrs weight_names: iteration, learning_rate, then the slots
      <optimizer>/...       in the order of Keras's optimizer.variables

A weights-only file is the ``model_weights`` part at the root.  Keras matches a file's layers
that have weights to the model's layers that have weights, in order, and each layer's arrays
by the order of its ``weight_names``.  The model config is the one a ``.keras`` file holds
(:func:`minirnn.saving.keras_config.keras_config`), so the same models can be written and the
same problems refused.  Files are written whole to memory and then atomically.
"""
import io
import json
import os

import numpy as np

from ..layers import SpectralNormalization
from ..models import Model
from ..serialization import ModelFileError
from ..version import __version__
from .atomic import atomic_write
from .keras_config import KERAS_VERSION, keras_config
from .keras_weights import built_shapes, restore_optimizer_state, slot_order, trainable_weights, weight_groups
from .readers import require_h5py

# HDF5 keeps an attribute in the object header, at most 64 KiB: Keras splits longer lists of
# names into <name>0, <name>1, ... (read back by minirnn's H5Reader.attribute).
HEADER_LIMIT = 64512


def _save_names(group, name, values):
    """A list of names as one attribute, or as <name>0, <name>1... when longer than HDF5 allows."""
    data = np.array([v.encode("utf-8") for v in values]) if values else np.array([], "S1")
    chunks = max(1, -(-data.nbytes // HEADER_LIMIT))
    if chunks == 1:
        group.attrs[name] = data
        return
    for k, part in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{k}"] = part


def _layer_arrays(layer, shape, prefix):
    """[(weight name, array)] of one layer in Keras's legacy order (trainable, then not)."""
    if isinstance(layer, Model):
        trainable = [id(w) in {id(t) for t in layer.trainable_weights} for w in layer.weights]
        if trainable != sorted(trainable, reverse=True):        # Keras lists a model's trainable weights first
            raise ValueError(f"Layer '{layer.name}': a nested model with non-trainable weights has no legacy .h5 "
                             f"form in minirnn; save the model as .keras")
    if isinstance(layer, SpectralNormalization) or isinstance(getattr(layer, "layer", None), SpectralNormalization):
        raise ValueError(f"Layer '{layer.name}': SpectralNormalization has no legacy .h5 form in minirnn; save the "
                         f"model as .keras")
    names = [f"{prefix}/{layer.name}/{group}/{i}" for group, shapes in weight_groups(layer, shape)
             for i in range(len(shapes))]
    return list(zip(names, layer.weights))


def _write_weights(group, model):
    group.attrs["backend"] = "tensorflow"            # the arrays are in TensorFlow's layouts
    group.attrs["keras_version"] = KERAS_VERSION
    _save_names(group, "layer_names", [layer.name for layer in model.layers])
    for layer, shape in built_shapes(model):
        g = group.create_group(layer.name)
        arrays = _layer_arrays(layer, shape, model.name)
        _save_names(g, "weight_names", [name for name, _ in arrays])
        for name, value in arrays:
            g.create_dataset(name, data=value)


def _training_config(compile_config):
    """Keras's legacy ``training_config`` from the compile settings of a ``.keras`` config."""
    optimizer = compile_config["optimizer"]
    return {"loss": compile_config["loss"], "loss_weights": compile_config["loss_weights"],
            "metrics": compile_config["metrics"], "weighted_metrics": None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False,
            "optimizer_config": {"class_name": optimizer["class_name"], "config": optimizer["config"]}}


def _write_optimizer(f, model):
    optimizer = model.optimizer
    weights = trainable_weights(model.layers)
    names = {id(w): name for layer, shape in built_shapes(model)
             for name, w in _layer_arrays(layer, shape, model.name)}
    values = [(f"{optimizer.name}/iteration", np.int64(optimizer.iterations)),
              (f"{optimizer.name}/learning_rate", np.float32(optimizer.learning_rate))]
    for k, slot in slot_order(optimizer, len(weights)):
        w = weights[k]
        entry = optimizer._slots.get(id(w))
        value = entry[1][slot] if entry is not None and entry[0] is w else np.zeros_like(w)
        values.append((f"{optimizer.name}/{names[id(w)].replace('/', '_')}_{slot}", value))
    g = f.create_group("optimizer_weights")
    _save_names(g, "weight_names", [name for name, _ in values])
    for name, value in values:
        g.create_dataset(name, data=value)


def _target(filepath, overwrite, model):
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built: call it on data or build(input_shape) first")
    return path


def save_legacy_h5(model, filepath, overwrite=True, include_optimizer=True):
    """Write `model` as a legacy Keras ``.h5`` file: config, weights, compile settings and
    optimizer state (when compiled and ``include_optimizer``)."""
    path = _target(filepath, overwrite, model)
    config = keras_config(model, include_optimizer)
    compile_config = config.pop("compile_config", None)
    h5py = require_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["saved_by"] = f"minirnn {__version__}"
        f.attrs["model_config"] = json.dumps(config, allow_nan=False)
        _write_weights(f.create_group("model_weights"), model)
        if compile_config is not None:
            f.attrs["training_config"] = json.dumps(_training_config(compile_config), allow_nan=False)
            _write_optimizer(f, model)
    atomic_write(path, lambda out: out.write(buffer.getvalue()))


def save_legacy_weights(model, filepath, overwrite=True):
    """Write the weights alone as a legacy Keras ``.h5`` weights file."""
    path = _target(filepath, overwrite, model)
    h5py = require_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        _write_weights(f, model)
    atomic_write(path, lambda out: out.write(buffer.getvalue()))


def read_legacy_optimizer_state(model, layers, reader):
    """The optimizer state of a legacy file (``optimizer_weights``), restored when the model's
    optimizer has as many variables; else the optimizer stays fresh.  True if restored."""
    names = reader.attribute("optimizer_weights", "weight_names") or []
    try:
        return restore_optimizer_state(model, layers, reader, [f"optimizer_weights/{name}" for name in names])
    except ModelFileError:
        return False
