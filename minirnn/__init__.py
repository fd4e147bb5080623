"""minirnn: SimpleRNN, LSTM and GRU from scratch, with manual backpropagation through time.

    import minirnn as mr
    model = mr.Sequential([mr.Input(shape=(None, 1)), mr.layers.LSTM(32), mr.layers.Dense(1)])
    # or the functional API: inputs = mr.Input(shape=(None, 1)); x = mr.layers.LSTM(32)(inputs);
    #                        model = mr.Model(inputs, mr.layers.Dense(1)(x))
    model.compile(optimizer=mr.optimizers.SGD(1e-3, momentum=0.9), loss="huber", metrics=["mae"])
    model.fit(x, y, epochs=10)
"""
import importlib

from . import (activations, backend, callbacks, cells, data, initializers, layers, losses, memory, metrics, models,
               optimizers, parallel, registry, utils)
from .backend import set_backend
from .layers import GRU, LSTM, Bidirectional, Dense, Input, Lambda, SimpleRNN
from .models import Model, Sequential, load_model   # load_model loads the file formats on first use
from .serialization import ModelFileError
from .utils import set_random_seed
from .version import __version__  # noqa: F401

__all__ = ["Model", "Sequential", "load_model", "Input", "Dense", "Lambda", "SimpleRNN", "LSTM", "GRU",
           "Bidirectional", "set_random_seed", "set_backend", "ModelFileError", "activations", "backend",
           "callbacks", "cells", "data", "initializers", "layers", "losses", "memory", "metrics", "models",
           "optimizers", "parallel", "registry", "saving", "utils"]
from .layers import (Conv1D, Dropout, Embedding, Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D,  # noqa: E402
                     Masking, MaxPooling1D, TimeDistributed)

__all__ += ["Embedding", "Conv1D", "MaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
            "Flatten", "Masking", "Dropout", "TimeDistributed"]
from .gradcheck import gradcheck  # noqa: E402  (the function; the module stays importable as minirnn.gradcheck)

__all__ += ["gradcheck", "inspect", "fits", "FitJob", "FitResult", "fit_many"]

# Loaded on first use (PEP 562), as a third of the import time would otherwise go to modules a
# training script may never touch: {name: (module, attribute or None for the module itself)}.
_ON_FIRST_USE = {"saving": ("minirnn.saving", None),
                 "inspect": ("minirnn.inspect", None),
                 "fits": ("minirnn.fits", None), "FitJob": ("minirnn.fits", "FitJob"),
                 "FitResult": ("minirnn.fits", "FitResult"), "fit_many": ("minirnn.fits", "fit_many")}


def __getattr__(name):
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module 'minirnn' has no attribute {name!r}")
    module_name, attribute = _ON_FIRST_USE[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_ON_FIRST_USE))


models.load_file_functions_with(lambda: importlib.import_module("minirnn.saving"))
