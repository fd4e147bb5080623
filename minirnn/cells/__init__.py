"""Recurrent cells: one file per cell, each with its equations, reference time loops and class.

The contract a cell follows is written in cells/base.py; the fast path is in minirnn/kernels/."""
from .base import Cell
from .conv_lstm import ConvLSTM1DCell, ConvLSTM2DCell, ConvLSTM3DCell
from .gru import GRUCell
from .lstm import LSTMCell
from .simple_rnn import SimpleRNNCell

__all__ = ["Cell", "SimpleRNNCell", "LSTMCell", "GRUCell", "ConvLSTM1DCell", "ConvLSTM2DCell", "ConvLSTM3DCell"]

from .. import kernels  # noqa: E402,F401  the fused twins register themselves against the loops above
