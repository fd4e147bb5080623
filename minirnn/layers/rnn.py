"""The recurrent wrapper and the three recurrent layers.

:class:`RNN` owns everything about sequences: batch-first <-> time-major
layout, ``go_backwards``, initial and returned states, ``return_sequences``,
and the bookkeeping of backpropagation through time.  A cell (see
:mod:`minirnn.cells`) only knows its own equations, so ``SimpleRNN``, ``LSTM``
and ``GRU`` are thin subclasses that pick a cell.
"""
import copy

import numpy as np

from ..cells import GRUCell, LSTMCell, SimpleRNNCell
from .base import Layer, format_shape, snake_case, unique_name


class RNN(Layer):
    """Run a cell over sequences ``(batch, time, features)``.

    Called as ``layer(x, initial_state=None, training=False)``; returns the last
    output ``(batch, units)`` or, with ``return_sequences``, every output
    ``(batch, time, units)``; with ``return_state``, ``[output, *final_states]``.
    With ``go_backwards`` the sequence is read last step first and the returned
    sequence is in that (reversed) order, as in Keras.
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 name=None, dtype=None, input_shape=None, trainable=True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        self.cell = cell
        cell.dtype = np.dtype(self.dtype)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.initial_state_grads = None

    @property
    def units(self):
        return self.cell.units

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects input of shape "
                             f"(batch, time, features) with known features, received {format_shape(input_shape)}")
        self.cell.build(input_shape[-1])
        self.built = True

    @property
    def weights(self):
        return self.cell.weights if self.built else []

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        out = (batch, time, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * len(self.cell.state_names)
        return out

    # -- forward ---------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, training=False):
        x = self.check_input(inputs, ndim=3, last_dim=self.cell.input_dim if self.built else None)
        if x.shape[1] == 0:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) received a sequence with "
                             f"0 time steps, shape {x.shape}")
        self.ensure_built(x.shape)
        return self.call(x, initial_state=initial_state, training=training)

    def initial_states(self, initial_state, batch):
        if initial_state is None:
            return self.cell.zero_states(batch)
        states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
        names = self.cell.state_names
        if len(states) != len(names):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {len(names)} initial "
                             f"state(s) {list(names)}, received {len(states)}")
        expected = (batch, self.units)
        checked = []
        for s_name, s in zip(names, states):
            s = np.asarray(s)
            if s.shape != expected:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects initial state "
                                 f"'{s_name}' of shape {expected}, received {s.shape}")
            checked.append(np.ascontiguousarray(s, dtype=self.dtype))
        return checked

    def call(self, x, initial_state=None, training=False):
        states = self.initial_states(initial_state, x.shape[0])
        X = x.transpose(1, 0, 2)                                 # (T, B, D)
        if self.go_backwards:
            X = X[::-1]
        H, final_states, cache = self.cell.forward(np.ascontiguousarray(X), states)
        self._cache = (cache, x.shape) if training else None
        output = np.ascontiguousarray(H.transpose(1, 0, 2)) if self.return_sequences else H[-1]
        return [output] + list(final_states) if self.return_state else output

    # -- backward --------------------------------------------------------------
    def backward(self, dy):
        """dL/dx from dL/d(output) (or ``[d_output, *d_states]`` with return_state).

        Gradients of the initial states go to ``self.initial_state_grads``."""
        cache, (B, T, D) = self.saved()
        n = self.units
        parts = list(dy) if self.return_state else [dy]
        expected = [(B, T, n) if self.return_sequences else (B, n)]
        if self.return_state:
            expected += [(B, n)] * len(self.cell.state_names)
        if len(parts) != len(expected):
            raise ValueError(f"Layer '{self.name}' backward expects {len(expected)} gradients "
                             f"(output and states), received {len(parts)}")
        grads = []
        for part, shape in zip(parts, expected):
            if part is None:
                grads.append(np.zeros(shape, self.dtype))
                continue
            part = np.asarray(part, self.dtype)
            if part.shape != shape:
                raise ValueError(f"Layer '{self.name}' backward expects a gradient of shape {shape}, "
                                 f"received {part.shape}")
            grads.append(part)
        d_output = grads[0]
        d_states = grads[1:] or [np.zeros((B, n), self.dtype) for _ in self.cell.state_names]
        if self.return_sequences:
            dH = np.ascontiguousarray(d_output.transpose(1, 0, 2))
        else:
            dH = np.zeros((T, B, n), self.dtype)
            dH[-1] = d_output
        dX, self.grads, self.initial_state_grads = self.cell.backward(
            cache, dH, [np.ascontiguousarray(s) for s in d_states])
        if self.go_backwards:
            dX = dX[::-1]
        return np.ascontiguousarray(dX.transpose(1, 0, 2))

    def unbuilt_copy(self, name, go_backwards):
        """A fresh copy of this unbuilt layer (Bidirectional's two halves)."""
        if self.built:
            raise ValueError(f"Layer '{self.name}' is already built; Bidirectional wraps an unbuilt layer")
        twin = copy.deepcopy(self)
        twin.go_backwards = go_backwards
        twin.name = name
        return twin

    def get_config(self):
        cell = self.cell
        config = super().get_config()
        config.update(units=cell.units, use_bias=cell.use_bias, return_sequences=self.return_sequences,
                      return_state=self.return_state, go_backwards=self.go_backwards)
        return config


def _make_cell(layer, kwargs, cell_class, **args):
    """The layer's cell; a bad argument raises an error that names the layer (named here, as Layer would)."""
    kwargs["name"] = kwargs.get("name") or unique_name(snake_case(type(layer).__name__))
    try:
        return cell_class(**args)
    except ValueError as e:
        raise ValueError(f"Layer '{kwargs['name']}' ({type(layer).__name__}): {e}") from None


def _cell_args(units, activation, recurrent_activation, use_bias, kernel_initializer,
               recurrent_initializer, bias_initializer):
    return dict(units=units, activation=activation, recurrent_activation=recurrent_activation,
                use_bias=use_bias, kernel_initializer=kernel_initializer,
                recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer)


class SimpleRNN(RNN):
    """Fully-connected RNN: h_t = activation(x_t W + h_{t-1} U + b).  See cells/simple_rnn.py."""

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 return_sequences=False, return_state=False, go_backwards=False, **kwargs):
        cell = _make_cell(self, kwargs, SimpleRNNCell,
                          **_cell_args(units, activation, None, use_bias, kernel_initializer,
                                       recurrent_initializer, bias_initializer))
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)


class LSTM(RNN):
    """Long short-term memory, gates i, f, c, o.  See cells/lstm.py."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, return_sequences=False,
                 return_state=False, go_backwards=False, **kwargs):
        cell = _make_cell(self, kwargs, LSTMCell, unit_forget_bias=unit_forget_bias,
                          **_cell_args(units, activation, recurrent_activation, use_bias,
                                       kernel_initializer, recurrent_initializer, bias_initializer))
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)


class GRU(RNN):
    """Gated recurrent unit, gates z, r, h; ``reset_after=True`` like Keras.  See cells/gru.py."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", return_sequences=False, return_state=False,
                 go_backwards=False, reset_after=True, **kwargs):
        cell = _make_cell(self, kwargs, GRUCell, reset_after=reset_after,
                          **_cell_args(units, activation, recurrent_activation, use_bias,
                                       kernel_initializer, recurrent_initializer, bias_initializer))
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)
