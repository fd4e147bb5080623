"""``keras.metrics``: metric classes and per-sample metric functions.  Same as Keras, except for
the smaller set."""
from ..metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean, MeanAbsoluteError, MeanMetricWrapper,
                       MeanSquaredError, SparseCategoricalAccuracy, binary_accuracy, binary_crossentropy,
                       categorical_accuracy, categorical_crossentropy, get, huber, mean_absolute_error,
                       mean_squared_error, sparse_categorical_accuracy, sparse_categorical_crossentropy)

__all__ = ["Mean", "MeanMetricWrapper", "MeanSquaredError", "MeanAbsoluteError", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "mean_squared_error", "mean_absolute_error",
           "huber", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "get"]
