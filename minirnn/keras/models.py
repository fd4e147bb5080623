"""``keras.models``: ``Sequential``, ``Model`` (functional: ``Model(inputs, outputs)``),
``load_model`` and ``model_from_json``.  Same as Keras, except: subclassed models are not supported (use the functional
API); ``load_model`` reads minirnn's own ``.minirnn`` files and Keras's ``.keras`` and ``.h5``
files (Sequential and functional models; ``model.save`` writes either as ``.keras``, see
:mod:`minirnn.saving.keras_files`)."""
from ..models import Model, Sequential, model_from_json
from ..saving import load_model

__all__ = ["Model", "Sequential", "load_model", "model_from_json"]
