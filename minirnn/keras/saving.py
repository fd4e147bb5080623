"""``keras.saving``: ``load_model``, ``register_keras_serializable``, ``get_registered_object``,
``serialize_keras_object`` / ``deserialize_keras_object``.  Same as Keras, except: files are
minirnn's ``.minirnn`` format (``.keras`` also read and written); (de)serialization covers layers,
initializers, regularizers and constraints, and never imports code named in a config."""
from .. import constraints, initializers, regularizers
from ..layers import Layer
from ..registry import get_registered_object, register_serializable as register_keras_serializable
from ..saving import load_model
from ..serialization import deserialize_layer, serialize_layer

_KINDS = ((initializers.Initializer, initializers.serialize, initializers.deserialize, "keras.initializers"),
          (regularizers.Regularizer, regularizers.serialize, regularizers.deserialize, "keras.regularizers"),
          (constraints.Constraint, constraints.serialize, constraints.deserialize, "keras.constraints"))


def serialize_keras_object(obj):
    """``{"class_name", "config", ...}`` of a layer, initializer, regularizer or constraint; plain
    data as it is."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(o) for o in obj]
    if isinstance(obj, Layer):
        return serialize_layer(obj)
    for base, serialize, _, module in _KINDS:
        if isinstance(obj, base):
            entry = serialize(obj)
            return {"module": module, "registered_name": None, **entry}
    raise ValueError(f"serialize_keras_object: cannot serialize {obj!r} (layers, initializers, regularizers and "
                     f"constraints can)")


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object :func:`serialize_keras_object` described; the class comes from its module
    (``keras.initializers`` ...), else the layer registry and `custom_objects`."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, list):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if isinstance(config, str):
        for _, _, deserialize, _ in _KINDS:
            try:
                return deserialize(config)
            except (ValueError, TypeError):
                continue
        raise ValueError(f"deserialize_keras_object: unknown name {config!r}")
    if not isinstance(config, dict):
        raise ValueError(f"deserialize_keras_object expects a dict config, received {type(config).__name__}")
    module = str(config.get("module") or "")
    for _, _, deserialize, name in _KINDS:
        if module == name:
            return deserialize({k: v for k, v in config.items() if k in ("class_name", "config")})
    return deserialize_layer(config, custom_objects=custom_objects, safe_mode=safe_mode)


__all__ = ["load_model", "register_keras_serializable", "get_registered_object", "serialize_keras_object",
           "deserialize_keras_object"]
