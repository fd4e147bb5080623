"""Keras 3's names and layout over minirnn: change the import, keep the code.

    import keras                      ->  import minirnn.keras as keras
    from tensorflow import keras      ->  from minirnn import keras
    from keras import layers          ->  from minirnn.keras import layers

Nothing here is a copy: every name is minirnn's own class or function, so a model built through
``minirnn.keras`` is a minirnn model.  Same as Keras, except:

* arrays are NumPy arrays (no backend tensors); minirnn's layers run forward and backward by
  hand-written rules; a layer or model you subclass (``call`` with ``keras.ops``) is differentiated
  by tracing its ``call`` (see minirnn/layers/tracing.py);
* only the layers, losses, optimizers, metrics, callbacks and ops listed in each submodule exist;
  asking for another raises ``AttributeError``.
"""
from . import activations, backend, callbacks, constraints, datasets, initializers, layers, losses, metrics, models, \
    ops, optimizers, preprocessing, random, regularizers, saving, utils
from .layers import Input
from .models import Model, Sequential

__all__ = ["Input", "Model", "Sequential", "activations", "backend", "callbacks", "constraints", "datasets",
           "initializers", "layers", "regularizers",
           "losses", "metrics", "models", "ops", "optimizers", "preprocessing", "random", "saving", "utils"]
