"""Layers, callable on NumPy arrays like Keras layers, each with a manual backward pass."""
from .base import Layer
from .bidirectional import Bidirectional
from .core import Dense, Input, InputLayer
from .lambda_layer import Lambda
from .rnn import GRU, LSTM, RNN, SimpleRNN

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Lambda", "RNN", "SimpleRNN", "LSTM", "GRU",
           "Bidirectional"]
