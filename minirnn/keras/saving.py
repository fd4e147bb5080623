"""``keras.saving``: ``load_model``, ``register_keras_serializable``, ``get_registered_object``.
Same as Keras, except: files are minirnn's ``.minirnn`` format."""
from ..saving import load_model
from ..registry import get_registered_object, register_serializable as register_keras_serializable

__all__ = ["load_model", "register_keras_serializable", "get_registered_object"]
