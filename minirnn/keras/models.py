"""``keras.models``: ``Sequential``, ``Model`` (functional: ``Model(inputs, outputs)``) and
``load_model``.  Same as Keras, except: subclassed models are not supported (use the functional
API), and ``load_model`` reads minirnn's own ``.minirnn`` files."""
from ..models import Model, Sequential, load_model

__all__ = ["Model", "Sequential", "load_model"]
