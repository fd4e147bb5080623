"""``keras.losses``: the loss classes (``Huber()``, ``MeanSquaredError()``...) and the function forms
(``keras.losses.binary_crossentropy(y_true, y_pred)``: one value per sample); strings such as
``loss="mse"`` work in ``compile`` as in Keras.  Same as Keras, except: training needs a loss's
gradient, so ``compile(loss=fn)`` takes the function forms of the classes above (it uses the
class) and refuses the others (``hinge``, ``poisson``...: usable as metrics); a loss of your own
is a :class:`Loss` subclass."""
from ..losses import (BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, MeanAbsoluteError,
                      MeanSquaredError, SparseCategoricalCrossentropy, deserialize, get, serialize)
from ..metrics import (binary_crossentropy, categorical_crossentropy, categorical_hinge, cosine_similarity, hinge,
                       huber, kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                       mean_squared_error, mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy,
                       squared_hinge)

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get", "serialize", "deserialize",
           "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "huber", "log_cosh", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "kl_divergence", "poisson", "hinge", "squared_hinge",
           "categorical_hinge", "cosine_similarity"]
