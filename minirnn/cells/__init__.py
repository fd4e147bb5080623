"""Recurrent cells: one file per cell, each with its equations and time loops."""
from .base import Cell
from .gru import GRUCell
from .lstm import LSTMCell
from .simple_rnn import SimpleRNNCell

__all__ = ["Cell", "SimpleRNNCell", "LSTMCell", "GRUCell"]
