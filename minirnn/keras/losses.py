"""``keras.losses``: the loss classes (``Huber()``, ``MeanSquaredError()``...); strings such as
``loss="mse"`` work in ``compile`` as in Keras.  Same as Keras, except: a loss is a class with a
gradient, so plain functions (``keras.losses.huber``) cannot be passed as ``loss``; write a
:class:`Loss` subclass instead."""
from ..losses import (BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, MeanAbsoluteError,
                      MeanSquaredError, SparseCategoricalCrossentropy, deserialize, get, serialize)

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get", "serialize", "deserialize"]
