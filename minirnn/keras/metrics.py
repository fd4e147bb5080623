"""``keras.metrics``: metric classes and per-sample metric functions
(``keras.metrics.sparse_categorical_accuracy(y_true, y_pred)``...).  Same as Keras, except for
the smaller set of classes."""
from ..metrics import (Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean, MeanAbsoluteError, MeanMetricWrapper,
                       MeanSquaredError, SparseCategoricalAccuracy, binary_accuracy, binary_crossentropy,
                       categorical_accuracy, categorical_crossentropy, categorical_hinge, get, hinge, huber,
                       kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                       mean_squared_error, mean_squared_logarithmic_error, poisson, sparse_categorical_accuracy,
                       sparse_categorical_crossentropy, sparse_top_k_categorical_accuracy, squared_hinge,
                       top_k_categorical_accuracy)

__all__ = ["Mean", "MeanMetricWrapper", "MeanSquaredError", "MeanAbsoluteError", "Accuracy", "BinaryAccuracy",
           "CategoricalAccuracy", "SparseCategoricalAccuracy", "mean_squared_error", "mean_absolute_error",
           "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber", "log_cosh",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence",
           "poisson", "hinge", "squared_hinge", "categorical_hinge", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "get"]
