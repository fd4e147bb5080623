"""Wrapper: the base class of layers that hold one other layer and call it (Keras's
``keras.layers.Wrapper``; ``TimeDistributed`` is one).

A subclass writes ``call`` (and, if it computes its own gradient, ``backward``); the wrapped
layer's weights are the wrapper's, it is built on the wrapper's input shape, and the config
holds it serialized, so ``from_config`` rebuilds both.
"""
from ..serialization import deserialize_layer, serialize_layer
from .base import Layer


class Wrapper(Layer):
    """``Wrapper(layer)``: an abstract layer around ``layer`` (kept as ``self.layer``)."""

    def __init__(self, layer, **kwargs):
        if isinstance(layer, dict):
            layer = deserialize_layer(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__} expects a layer to wrap (a keras.layers.Layer), "
                             f"received {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if input_shape is not None:
            self.layer.ensure_built(input_shape)
        self.built = True

    def get_config(self):
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = deserialize_layer(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
