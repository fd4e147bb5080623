"""Saving and loading by file name: the suffix picks the format.

    suffix          written by                        format
    .minirnn        model.save                        minirnn's own (native.py)
    .weights.npz    model.save_weights                minirnn's own (native.py)
    .keras          model.save                        Keras 3 (keras_files.py)
    .weights.h5     model.save_weights                Keras 3 weights (keras_files.py)
    .h5, .hdf5      model.save, model.save_weights    legacy Keras 2 / tf.keras HDF5 (keras_legacy.py
                                                      writes, keras_files.py reads)
"""
import os

from .. import models
from . import keras_files, keras_legacy, native

KERAS_MODEL_SUFFIX = ".keras"
KERAS_WEIGHTS_SUFFIX = ".weights.h5"
LEGACY_SUFFIXES = (".h5", ".hdf5")


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write the model (architecture, weights, compile state) to a ``.minirnn`` file, or to a
    Keras 3 ``.keras`` file (see :mod:`minirnn.saving.keras_files`) or a legacy Keras ``.h5``
    (see :mod:`minirnn.saving.keras_legacy`)."""
    if os.fspath(filepath).endswith(KERAS_MODEL_SUFFIX):
        return keras_files.save_keras(model, filepath, overwrite, include_optimizer)
    if os.fspath(filepath).endswith(LEGACY_SUFFIXES):
        return keras_legacy.save_legacy_h5(model, filepath, overwrite, include_optimizer)
    return native.save_model(model, filepath, overwrite, include_optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a ``.minirnn`` file, compiled as it was saved (unless ``compile=False``),
    its optimizer state included.  ``custom_objects`` ({name: class or function}) supply what
    the file names beyond :mod:`minirnn.registry`; ``safe_mode=False`` trusts the file: it makes
    functions saved as source code and lifts the size limits.  Every problem with the file
    raises :class:`~minirnn.ModelFileError` (see :mod:`minirnn.saving`).  Keras files load by
    suffix: ``.keras`` (Keras 3) and ``.h5`` (legacy Keras 2 / tf.keras), see
    :mod:`minirnn.saving.keras_files`."""
    path = os.fspath(filepath)
    if path.endswith((KERAS_MODEL_SUFFIX,) + LEGACY_SUFFIXES):
        load = keras_files.load_keras if path.endswith(KERAS_MODEL_SUFFIX) else keras_files.load_legacy_h5
        return load(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    return native.load_model(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_weights(model, filepath, overwrite=True):
    """Write the model's weights (and optimizer state, when compiled) to a ``.weights.npz`` file
    (or, for a name ending in ``.weights.h5``, Keras 3's weights file; ``.h5``, a legacy Keras one)."""
    if os.fspath(filepath).endswith(KERAS_WEIGHTS_SUFFIX):
        native.require_built(model, "save")
        return keras_files.save_keras_weights(model, filepath, overwrite=overwrite)
    if os.fspath(filepath).endswith(LEGACY_SUFFIXES):
        native.require_built(model, "save")
        return keras_legacy.save_legacy_weights(model, filepath, overwrite=overwrite)
    return native.save_weights(model, filepath, overwrite)


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights from a ``.weights.npz`` file or a ``.minirnn`` model file; Keras files by
    suffix: ``.keras`` and ``.weights.h5`` (Keras 3), ``.h5`` (legacy Keras 2 / tf.keras)."""
    path = os.fspath(filepath)
    if path.endswith((KERAS_MODEL_SUFFIX, KERAS_WEIGHTS_SUFFIX)):
        return keras_files.load_keras_weights(model, path)
    if path.endswith(LEGACY_SUFFIXES):
        return keras_files.load_legacy_weights(model, path)
    return native.load_weights(model, path, skip_mismatch)


def export(model, filepath, format="onnx", **kwargs):
    """``model.export``: ``format="onnx"`` only (keyword arguments: :func:`minirnn.onnx.export`)."""
    if format != "onnx":
        raise ValueError(f"Model '{model.name}' exports to format='onnx' only, received format={format!r}")
    from ..onnx import export as export_onnx   # needs the optional onnx package: imported on first use

    return export_onnx(model, filepath, **kwargs)


models.use_file_functions(save_model=save_model, load_model=load_model, save_weights=save_weights,
                          load_weights=load_weights, export=export, to_json=keras_files.model_to_json,
                          model_from_json=keras_files.model_from_json)
