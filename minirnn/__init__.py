"""minirnn: SimpleRNN, LSTM and GRU from scratch, with manual backpropagation through time.

    import minirnn as mr
    model = mr.Sequential([mr.Input(shape=(None, 1)), mr.layers.LSTM(32), mr.layers.Dense(1)])
    # or the functional API: inputs = mr.Input(shape=(None, 1)); x = mr.layers.LSTM(32)(inputs);
    #                        model = mr.Model(inputs, mr.layers.Dense(1)(x))
    model.compile(optimizer=mr.optimizers.SGD(1e-3, momentum=0.9), loss="huber", metrics=["mae"])
    model.fit(x, y, epochs=10)
"""
from . import (activations, backend, callbacks, cells, data, initializers, layers, losses, memory, metrics, models,
               optimizers, parallel, registry, saving, utils)
from .backend import set_backend
from .layers import GRU, LSTM, Bidirectional, Dense, Input, Lambda, SimpleRNN
from .models import Model, Sequential
from .saving import load_model
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
from . import inspect  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402  (the function; the module stays importable as minirnn.gradcheck)

__all__ += ["gradcheck", "inspect"]
from . import fits  # noqa: E402
from .fits import FitJob, FitResult, fit_many  # noqa: E402

__all__ += ["fits", "FitJob", "FitResult", "fit_many"]
