"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: the RNN wrapper over the ConvLSTM cells (cells/conv_lstm.py).

Input (batch, time, S..., channels) (``channels_first``: (batch, time, channels, S...));
output (batch, O..., filters), or (batch, time, O..., filters) with ``return_sequences``;
states h and c (batch, O..., filters).  The wrapper runs the cell on flattened frames, so
``go_backwards``, ``stateful``, masks, dropout and recurrent dropout are the RNN's own.
"""
import numpy as np

from ..cells.conv_lstm import ConvLSTM1DCell, ConvLSTM2DCell, ConvLSTM3DCell
from ..parallel import blas_threads_limited
from ._utils import data_format as standardize_data_format
from .base import format_shape
from .rnn import RNN, _make_cell


class _ConvLSTM(RNN):
    """``ConvLSTM{r}D(filters, kernel_size, strides=1, padding="valid", data_format=None,
    dilation_rate=1, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
    kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
    bias_initializer="zeros", unit_forget_bias=True, dropout=0.0, recurrent_dropout=0.0,
    seed=None, return_sequences=False, return_state=False, go_backwards=False, stateful=False)``,
    Keras's arguments and weights (kernel (k..., C, 4F), recurrent_kernel (k..., F, 4F), bias)."""

    cell_class = None

    @property
    def input_ndim(self):
        return self.rank + 3        # (batch, time, spatial..., channels)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, return_sequences=False, return_state=False,
                 go_backwards=False, **kwargs):
        cell = _make_cell(self, kwargs, self.cell_class, filters=filters, kernel_size=kernel_size,
                          strides=strides, padding=padding, dilation_rate=dilation_rate, activation=activation,
                          recurrent_activation=recurrent_activation, use_bias=use_bias,
                          kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                          bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias)
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)
        self.data_format = standardize_data_format(data_format, self)
        self.rank = cell.rank

    # -- shapes ----------------------------------------------------------------------------------
    def _frame(self, shape):
        """(spatial sizes, channels) of a (batch, time, ...) shape in this layer's data format."""
        if self.data_format == "channels_last":
            return tuple(shape[2:-1]), shape[-1]
        return tuple(shape[3:]), shape[2]

    def _layout(self, state_shape):
        """A (..., O..., F) shape in this layer's data format."""
        if self.data_format == "channels_last":
            return tuple(state_shape)
        lead = len(state_shape) - self.rank - 1
        return tuple(state_shape[:lead]) + (state_shape[-1],) + tuple(state_shape[lead:-1])

    def build(self, input_shape):
        sizes, channels = self._frame(input_shape) if len(input_shape) == self.rank + 3 else ((None,), None)
        if len(input_shape) != self.rank + 3 or channels is None or None in sizes:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects input of rank {self.rank + 3} "
                             f"(batch, time, {'spatial axes, ' if self.rank > 1 else 'steps, '}channels) with "
                             f"known frame sizes and channels, received {format_shape(input_shape)}")
        try:
            self.cell.set_frame(sizes, channels)
        except ValueError as e:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): {e}") from None
        self.cell.build(int(np.prod(sizes)) * channels)
        self.built = True

    def weight_shapes(self, input_shape):
        """The shapes of the cell's weights for `input_shape`, without building."""
        _, channels = self._frame(input_shape)
        width = 4 * self.cell.filters
        shapes = [self.cell.kernel_size + (channels, width), self.cell.kernel_size + (self.cell.filters, width)]
        return shapes + [(width,)] if self.cell.use_bias else shapes

    def compute_output_shape(self, input_shape):
        sizes, _ = self._frame(input_shape)
        state = (input_shape[0],) + self._layout(self.cell.output_frame(sizes) + (self.cell.filters,))
        out = (state[0], input_shape[1]) + state[1:] if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def largest_product(self, batch, time):
        cell = self.cell
        channels = cell.frame[1] if cell.frame else 1
        return time * batch * 4 * cell.units * int(np.prod(cell.kernel_size)) * max(channels, cell.filters)

    # -- calls: frames flattened for the wrapper -------------------------------------------------
    def _to_cell(self, a, lead):
        """An array of this layer's layout with `lead` leading axes, channels last and flattened."""
        if self.data_format == "channels_first":
            a = np.moveaxis(a, lead, -1)
        return np.ascontiguousarray(a).reshape(a.shape[:lead] + (-1,))

    def _from_cell(self, a, frame):
        """The inverse of :meth:`_to_cell` for a flat array whose frames are `frame` (S..., C)."""
        a = a.reshape(a.shape[:-1] + tuple(frame))
        if self.data_format == "channels_first":
            a = np.moveaxis(a, -1, a.ndim - len(frame))
        return np.ascontiguousarray(a)

    def _state_frame(self):
        return self.cell.state_frame

    def __call__(self, inputs, initial_state=None, training=False, mask=None):
        x = self.check_input(inputs, ndim=self.rank + 3)
        for axis, what in ((0, "a batch of 0 sequences"), (1, "sequences of 0 time steps")):
            if x.shape[axis] == 0:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) received {what}, "
                                 f"shape {x.shape}; it needs at least one of each")
        self.ensure_built(x.shape)
        sizes, channels = self._frame(x.shape)
        if (sizes, channels) != self.cell.frame:
            expected = self._layout(self.cell.frame[0] + (self.cell.frame[1],))
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects frames of shape {expected}, "
                             f"received input of shape {x.shape}")
        if initial_state is not None:
            states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
            expected = (x.shape[0],) + self._layout(self._state_frame())
            for s in states:
                if np.shape(s) != expected:
                    raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects initial states of "
                                     f"shape {expected}, received {np.shape(s)}")
            initial_state = [self._to_cell(np.asarray(s, self.dtype), 1) for s in states]
        flat = self._to_cell(x, 2)
        with blas_threads_limited(self.blas_threads(*x.shape[:2])):
            out = self.call(flat, initial_state=initial_state, training=training, mask=mask)
        self._input_layout = x.shape
        outs = out if self.return_state else [out]
        outs = [self._from_cell(o, self._state_frame()) for o in outs]
        return outs if self.return_state else outs[0]

    def backward(self, dy):
        parts = list(dy) if self.return_state else [dy]
        expected = self.compute_output_shape(self._input_layout)
        for part, shape in zip(parts, expected if self.return_state else [expected]):
            if part is not None and np.shape(part) != tuple(shape):
                raise ValueError(f"Layer '{self.name}' backward expects a gradient of shape {tuple(shape)}, "
                                 f"received {np.shape(part)}")
        flat = [None if d is None else self._to_cell(np.asarray(d, self.dtype), 2 if k == 0 and self.return_sequences
                                                     else 1) for k, d in enumerate(parts)]
        dx = super().backward(flat if self.return_state else flat[0])
        if self.initial_state_grads is not None:
            self.initial_state_grads = [self._from_cell(g, self._state_frame()) for g in self.initial_state_grads]
        return self._from_cell(dx, self.cell.frame[0] + (self.cell.frame[1],))


class ConvLSTM1D(_ConvLSTM):
    """ConvLSTM over sequences of 1-D frames: input (batch, time, steps, channels)."""
    cell_class = ConvLSTM1DCell


class ConvLSTM2D(_ConvLSTM):
    """ConvLSTM over sequences of images: input (batch, time, rows, cols, channels)."""
    cell_class = ConvLSTM2DCell


class ConvLSTM3D(_ConvLSTM):
    """ConvLSTM over sequences of volumes: input (batch, time, d1, d2, d3, channels)."""
    cell_class = ConvLSTM3DCell
