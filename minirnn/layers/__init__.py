"""Layers, callable on NumPy arrays like Keras layers, each with a manual backward pass."""
from .base import Layer
from .bidirectional import Bidirectional
from .core import Dense, Input, InputLayer
from .lambda_layer import Lambda
from .rnn import GRU, LSTM, RNN, SimpleRNN

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Lambda", "RNN", "SimpleRNN", "LSTM", "GRU",
           "Bidirectional"]
from .conv import Conv1D
from .embedding import Embedding
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .reshaping import Dropout, Flatten, Masking, TimeDistributed

__all__ += ["Embedding", "Conv1D", "MaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
            "Flatten", "Masking", "Dropout", "TimeDistributed"]
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,  # noqa: E402
                      average, concatenate, dot, maximum, minimum, multiply, subtract)

__all__ += ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add",
            "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
from .reshape import Permute, RepeatVector, Rescaling, Reshape  # noqa: E402

__all__ += ["Reshape", "Permute", "RepeatVector", "Rescaling"]
from .cell_rnn import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells  # noqa: E402

__all__ += ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]
from .activation import ELU, Activation, LeakyReLU, ReLU, Softmax  # noqa: E402
from .normalization import BatchNormalization, LayerNormalization  # noqa: E402

__all__ += ["BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"]
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D  # noqa: E402

__all__ += ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]
from .conv import Conv2D, Conv3D  # noqa: E402
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling2D,  # noqa: E402
                      GlobalAveragePooling3D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling2D, MaxPooling3D)

__all__ += ["Conv2D", "Conv3D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
            "AveragePooling3D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling3D",
            "GlobalMaxPooling3D"]
from .preprocessing import IntegerLookup, StringLookup, TextVectorization  # noqa: E402

__all__ += ["StringLookup", "IntegerLookup", "TextVectorization"]
from .hashing import Hashing  # noqa: E402

__all__ += ["Hashing"]
from .wrapper import Wrapper  # noqa: E402

__all__ += ["Wrapper"]
from .sample_normalization import GroupNormalization, RMSNormalization, UnitNormalization  # noqa: E402
from .spectral_normalization import SpectralNormalization  # noqa: E402

__all__ += ["GroupNormalization", "RMSNormalization", "UnitNormalization", "SpectralNormalization"]
