"""Model and weights files: minirnn's own format, Keras's and PyTorch's.

    model.save("model.minirnn")                   architecture + weights + compile state
    model = minirnn.load_model("model.minirnn")   (also .keras, .h5)
    model.save_weights("model.weights.npz")       weights (+ optimizer state when compiled)
    model.load_weights("model.weights.npz")       into a model built in code (also .weights.h5)

One job per module:

    api.py            save_model / load_model / save_weights / load_weights: the suffix picks the format
    native.py         the .minirnn and .weights.npz format (format_version 1, documented there)
    keras_files.py    Keras 3 .keras / .weights.h5 files and legacy .h5 files (layout documented there)
    keras_config.py   Keras configs <-> minirnn layers, models and compile settings
    keras_weights.py  where each layer's arrays and the optimizer's state live in Keras's HDF5
    torch_weights.py  PyTorch nn.RNN / nn.LSTM / nn.GRU weights <-> minirnn layers, safetensors files
    compile_state.py  compile settings (optimizer, loss, metrics) as JSON, optimizer state as arrays
    readers.py        bounded reading of untrusted ZIP, JSON, .npy, HDF5 and safetensors; the budget
    schema.py         one check of every config's types, fields and ranges before anything is built
    atomic.py         atomic writes

Objects, functions and layers become JSON (and back) through :mod:`minirnn.serialization`,
which sits below the layers so that layers holding layers can use it.

A file is untrusted input.  With ``safe_mode=True`` (the default) loading runs no code from
the file, imports nothing, and writes nothing: classes and functions are found by exact name in
:mod:`minirnn.registry` or ``custom_objects``; there is no pickle; reads are bounded and what a
file makes minirnn allocate follows from its size on disk, in every format
(:mod:`minirnn.saving.readers`, :mod:`minirnn.budget`); configs are checked before anything is
built (:mod:`minirnn.saving.schema`); every problem raises :class:`ModelFileError` naming the
file and the member or field.  Writes are atomic (:mod:`minirnn.saving.atomic`).
"""
from ..serialization import (LAYER_DTYPES, MAX_INPUT_ITEMS, PYTHON_FUNCTION, ModelFileError, config_error,
                             deserialize_function, deserialize_layer, function_source, loading_options,
                             serialize_function, serialize_layer)
from .api import load_model, load_weights, save_model, save_weights
from .atomic import TEMP_SUFFIX, atomic_write
from .compile_state import compile_config, compile_from_config
from .native import (CONFIG_NAME, FORMAT_VERSION, MANIFEST_KEY, MODEL_SUFFIX, WEIGHTS_NAME, WEIGHTS_SUFFIX,
                     WeightsArchive, apply_weights, weight_arrays)
from .readers import (MAX_CONFIG_BYTES, MAX_JSON_DEPTH, MAX_NPY_HEADER_BYTES, MAX_WEIGHT_BYTES,
                      WEIGHT_BYTES_PER_FILE_BYTE, WEIGHT_SLACK_BYTES, load_json, read_member, read_npy,
                      read_npy_header)

__all__ = ["load_model", "save_model", "load_weights", "save_weights", "ModelFileError", "loading_options",
           "config_error", "serialize_function", "deserialize_function", "function_source", "serialize_layer",
           "deserialize_layer", "compile_config", "compile_from_config", "weight_arrays", "apply_weights",
           "WeightsArchive", "atomic_write", "read_member", "load_json", "read_npy", "read_npy_header",
           "FORMAT_VERSION", "MODEL_SUFFIX", "WEIGHTS_SUFFIX", "CONFIG_NAME", "WEIGHTS_NAME", "MANIFEST_KEY",
           "PYTHON_FUNCTION", "TEMP_SUFFIX", "MAX_CONFIG_BYTES", "MAX_JSON_DEPTH", "MAX_WEIGHT_BYTES",
           "WEIGHT_BYTES_PER_FILE_BYTE", "WEIGHT_SLACK_BYTES", "MAX_NPY_HEADER_BYTES", "MAX_INPUT_ITEMS",
           "LAYER_DTYPES"]
