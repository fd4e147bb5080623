"""``keras.initializers``.  Same as Keras (the same names and draws from one seeded generator),
except for the smaller set."""
from ..initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity, Initializer,
                            LecunNormal, LecunUniform, Ones, Orthogonal, RandomNormal, RandomUniform,
                            TruncatedNormal, VarianceScaling, Zeros, deserialize, get, serialize)

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
           "LecunNormal", "Orthogonal", "Identity", "get", "serialize", "deserialize"]
