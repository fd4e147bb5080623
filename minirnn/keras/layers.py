"""``keras.layers``: every layer minirnn has, under its Keras name.

Same as Keras, except: the set of layers is minirnn's (recurrent and ConvLSTM, Dense, Conv1D/2D/3D,
pooling, normalization, activation, Embedding, lookup, hashing and text preprocessing, reshaping, merging,
Lambda); the preprocessing layers run in NumPy and take no string model inputs (apply them to the
data first); ``Lambda`` derives its gradient itself (functions built
from ``keras.ops``, element re-arrangements and element-wise functions) or takes
``backward=lambda x, dy: dx``; a custom layer subclasses ``Layer`` and writes ``call`` with
``keras.ops`` (traced for its gradient) or a ``backward`` of its own.
"""
from ..layers import *            # noqa: F401,F403  the one list of layers, minirnn.layers.__all__
from ..layers import __all__      # noqa: F401
from ..serialization import deserialize_layer as deserialize, serialize_layer as serialize  # noqa: E402,F401

__all__ = list(__all__) + ["serialize", "deserialize"]
