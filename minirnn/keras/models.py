"""``keras.models``: ``Sequential``, ``Model`` (functional: ``Model(inputs, outputs)``) and
``load_model``.  Same as Keras, except: subclassed models are not supported (use the functional
API); ``load_model`` reads minirnn's own ``.minirnn`` files and Keras's ``.keras`` and ``.h5``
files (Sequential and functional models; ``model.save`` writes either as ``.keras``, see
:mod:`minirnn.saving.keras_files`)."""
from ..models import Model, Sequential
from ..saving import load_model

__all__ = ["Model", "Sequential", "load_model"]
