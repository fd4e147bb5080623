"""Keras's cell API: ``RNN(cell)`` over a cell written Keras's way, ``StackedRNNCells`` and
``RNN([cell1, cell2])``, and the built-in cells under their Keras names.

A user's cell is a :class:`Layer` with ``state_size`` (an int or a list of ints), optionally
``output_size``, and ``call(inputs, states) -> (output, new_states)`` written with ``keras.ops``.
:class:`CellRNN` runs it one step at a time,

    out_t, s_t = cell(x_t, s_{t-1})              (a masked step keeps s_{t-1} and out_{t-1})

and backpropagation through time is the trace of that loop (see :mod:`minirnn.layers.tracing`).
A stack of minirnn's own cells runs as a chain of minirnn's recurrent layers (their kernels and
hand-written BPTT): stacking cells at every step equals stacking layers over whole sequences.
"""
import inspect

import numpy as np

from .. import cells, ops, registry
from ..cells import Cell
from . import tracing
from ..serialization import deserialize_layer, serialize_layer
from .base import Layer, format_shape, init_arguments, symbolic_aware
from .rnn import GRU, LSTM, RNN, SimpleRNN


class _KerasCell:
    """Keras's cell arguments on top of minirnn's cells: ``dropout``, ``recurrent_dropout`` and
    ``seed`` are applied by the RNN layer that runs the cell (one mask per sequence, as Keras)."""

    def __init__(self, units, dropout=0.0, recurrent_dropout=0.0, seed=None, name=None, **kwargs):
        for key in [k for k in kwargs if k.endswith(("_regularizer", "_constraint")) or k in ("implementation",)]:
            kwargs.pop(key)
        super().__init__(units, **kwargs)
        self.dropout, self.recurrent_dropout, self.seed, self.name = dropout, recurrent_dropout, seed, name

    @property
    def state_size(self):
        n = len(self.state_names)       # as Keras: an int for one state (SimpleRNN, GRU), else a list
        return self.units if n == 1 else [self.units] * n

    @property
    def output_size(self):
        return self.units


class SimpleRNNCell(_KerasCell, cells.SimpleRNNCell):
    """Keras's ``SimpleRNNCell``: minirnn's cell (cells/simple_rnn.py) for ``RNN(cell)``."""

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)


class LSTMCell(_KerasCell, cells.LSTMCell):
    """Keras's ``LSTMCell``: minirnn's cell (cells/lstm.py) for ``RNN(cell)``."""


class GRUCell(_KerasCell, cells.GRUCell):
    """Keras's ``GRUCell``: minirnn's cell (cells/gru.py) for ``RNN(cell)``."""


_KERAS_CELLS = {"SimpleRNNCell": SimpleRNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}
# The Keras-named cells share their class names with minirnn's: files name them "keras>LSTMCell",
# and "minirnn>LSTMCell" stays minirnn's own cell.
for _name, _cls in _KERAS_CELLS.items():
    registry.register_class(getattr(cells, _name))
    registry.register(_cls, _name, "keras")
_LAYER_OF = {cells.SimpleRNNCell: SimpleRNN, cells.LSTMCell: LSTM, cells.GRUCell: GRU}


def _sizes(state_size):
    """The state sizes in order, flat (a stack's ``state_size`` is nested by cell)."""
    if isinstance(state_size, (list, tuple)):
        return [int(s) for size in state_size for s in _sizes(size)]
    return [int(state_size)]


def _flat(states):
    """Nested lists of states as one flat list."""
    if isinstance(states, (list, tuple)):
        return [s for item in states for s in _flat(item)]
    return [states]


def _nest(flat, state_size):
    """A flat list of states (or their shapes) grouped as a stack's ``state_size`` nests them, as
    Keras does: a cell whose state_size is an int has one state, one with a list has a list."""
    groups, k = [], 0
    for size in state_size:
        n = len(_sizes(size))
        groups.append(list(flat[k:k + n]) if isinstance(size, (list, tuple)) else flat[k])
        k += n
    return groups


class StackedRNNCells(Layer):
    """Cells run one after the other at every step.  As Keras: ``state_size`` is each cell's
    ``state_size`` in order, and states go in and come out grouped by cell (a flat list of them
    is taken too)."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = list(cells)

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", None) or _sizes(last.state_size)[0]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell.ensure_built(shape)
            shape = shape[:-1] + (getattr(cell, "output_size", None) or _sizes(cell.state_size)[0],)
        self.built = True

    def call(self, inputs, states, training=False):
        states, out, new, k = _flat(states), inputs, [], 0
        for cell in self.cells:
            n = len(_sizes(cell.state_size))
            out, cell_states = _step(cell, out, list(states[k:k + n]), training)
            new += _flat(cell_states)
            k += n
        return out, _nest(new, self.state_size)

    def get_config(self):
        return {**super().get_config(), "cells": [_cell_entry(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cells"] = [_cell_from(c) for c in config.get("cells", [])]
        return cls(**config)


def _cell_entry(cell):
    """A cell as a config entry: minirnn's by their constructor arguments, a layer by its own."""
    if isinstance(cell, Cell):
        return {"class_name": type(cell).__name__, "config": init_arguments(cell, skip=("dtype",))}
    return serialize_layer(cell)


def _cell_from(entry):
    """The cell a config entry names (custom cells: registered, or passed as custom_objects)."""
    name, config = entry.get("class_name"), dict(entry.get("config") or {})
    if name in _KERAS_CELLS:
        return _KERAS_CELLS[name](**config)
    if name == "StackedRNNCells":
        config["cells"] = [_cell_from(c) for c in config.get("cells", [])]
        return StackedRNNCells(**config)
    return deserialize_layer(entry)


def _step(cell, x, states, training):
    """One step of a Keras-protocol cell: (output, new states as a list)."""
    kwargs = {"training": training} if "training" in _call_params(cell) else {}
    out, new = cell.call(x, states, **kwargs)
    new = list(new) if isinstance(new, (list, tuple)) else [new]
    return out, new


def _call_params(cell):
    return inspect.signature(cell.call).parameters


class CellRNN(RNN):
    """``RNN(cell)`` for a cell written Keras's way (a Layer), or a stack of cells."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, dropout=0.0, recurrent_dropout=0.0,
                 seed=None, name=None, dtype=None, input_shape=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name, dtype=dtype, input_shape=input_shape, trainable=trainable, **kwargs)
        # Keras's RNN(cell) has no dropout of its own: a cell carries it (LSTMCell(4, dropout=0.2))
        self.dropout, self.recurrent_dropout, self.seed = dropout, recurrent_dropout, seed
        if dropout or recurrent_dropout:
            raise ValueError(f"Layer '{self.name}' (RNN): dropout belongs to the cell, e.g. "
                             f"LSTMCell(units, dropout=...), received dropout={dropout}, "
                             f"recurrent_dropout={recurrent_dropout}")
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        members = cell.cells if isinstance(cell, StackedRNNCells) else [cell]
        builtin = [isinstance(c, Cell) for c in members]
        if any(builtin) and not all(builtin):
            raise ValueError(f"Layer '{self.name}' (RNN): a stack mixes minirnn's cells with cells written "
                             f"as layers; use one kind, or chain RNN layers with return_sequences=True")
        for c in members:
            if not isinstance(c, Cell) and not hasattr(c, "state_size"):
                raise ValueError(f"Layer '{self.name}' (RNN): the cell {c!r} has no state_size; a cell "
                                 f"defines state_size and call(inputs, states)")
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None
        self.supports_masking = True
        # minirnn's own cells run as a chain of its recurrent layers (kernels, hand-written BPTT)
        self.chain = [self._layer_for(c, k, len(members)) for k, c in enumerate(members)] if all(builtin) else None

    @symbolic_aware
    def __call__(self, inputs, training=False, mask=None, **kwargs):
        # call() returns the states flat (the graph and the traced gradient use that form);
        # a stack's caller gets them grouped by cell, as from Keras.
        y = Layer.__call__(self, inputs, training=training, mask=mask, **kwargs)
        return [y[0]] + self._grouped(y[1:]) if self.return_state else y

    def _grouped(self, states):
        return _nest(list(states), self.cell.state_size) if isinstance(self.cell, StackedRNNCells) else list(states)

    def _layer_for(self, cell, k, count):
        layer = _LAYER_OF[next(base for base in _LAYER_OF if isinstance(cell, base))]
        last = k == count - 1
        return RNN(cell, return_sequences=self.return_sequences or not last, return_state=True,
                   go_backwards=self.go_backwards and k == 0, stateful=self.stateful,
                   dropout=getattr(cell, "dropout", 0.0), recurrent_dropout=getattr(cell, "recurrent_dropout", 0.0),
                   seed=getattr(cell, "seed", None), name=f"{self.name}_{layer.__name__.lower()}_{k}", dtype=self.dtype)

    # Written Keras's way: its gradient is the trace of call (the chain's layers are hand-written).
    def backward(self, dy):
        return Layer.backward(self, [dy[0]] + _flat(dy[1:]) if self.return_state else dy)

    def traces_call(self):
        return True

    @property
    def units(self):
        return self.output_size

    @property
    def output_size(self):
        return getattr(self.cell, "output_size", None) or _sizes(self.cell.state_size)[0]

    @property
    def weights(self):
        if self.chain is not None:
            return [w for layer in self.chain for w in layer.weights]
        return Layer.weights.fget(self)

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    def sublayers(self):
        return list(self.chain) if self.chain is not None else [self.cell]

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' (RNN) expects input of shape (batch, time, features) "
                             f"with known features, received {format_shape(input_shape)}")
        if self.chain is not None:
            shape = tuple(input_shape)
            for layer in self.chain:
                layer.ensure_built(shape)
                shape = shape[:2] + (layer.units,)
        else:
            self.cell.ensure_built((input_shape[0], input_shape[-1]))
        self.built = True

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        n = self.output_size
        out = (batch, time, n) if self.return_sequences else (batch, n)
        if self.return_state:
            return [out] + self._grouped([(batch, s) for s in _sizes(self.cell.state_size)])
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def reset_states(self, states=None):
        for layer in self.chain or []:
            layer.reset_states()
        self.states = None if states is None else list(states)

    reset_state = reset_states

    def call(self, inputs, mask=None, training=False, initial_state=None):
        if self.chain is not None:
            return self._run_chain(inputs, mask, training, initial_state)
        batch, time = ops.shape(inputs)[:2]
        sizes = _sizes(self.cell.state_size)
        if initial_state is not None:
            states = _flat(initial_state)
        elif self.stateful and self.states is not None:
            states = list(self.states)
        else:
            states = [np.zeros((batch, s), self.dtype) for s in sizes]
        tape = tracing.active_tape()
        swapped = [tracing.swap(c, tape) for c in self._cells()] if tape is not None else []
        try:
            outputs, out = [], np.zeros((batch, self.output_size), self.dtype)
            steps = range(time - 1, -1, -1) if self.go_backwards else range(time)
            for t in steps:
                y, new = _step(self.cell, inputs[:, t], states, training)
                new = _flat(new)
                if mask is not None:
                    keep = np.asarray(mask)[:, t:t + 1].astype(self.dtype)        # (batch, 1)
                    new = [keep * n + (1 - keep) * s for n, s in zip(new, states)]
                    y = keep * y + (1 - keep) * out
                states, out = new, y
                outputs.append(y)
        finally:
            for c, back in zip(self._cells(), swapped):
                tracing.restore(c, back)
        if self.stateful:
            self.states = [tracing.value(s) for s in states]
        result = ops.stack(outputs, axis=1) if self.return_sequences else out
        return [result] + list(states) if self.return_state else result

    def _cells(self):
        return self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]

    def _run_chain(self, x, mask, training, initial_state):
        given = None if initial_state is None else _flat(initial_state)
        finals, k = [], 0
        for layer in self.chain:
            n = len(layer.cell.state_names)
            kwargs = {} if given is None else {"initial_state": given[k:k + n]}
            x, *states = layer(x, training=training, mask=mask, **kwargs)
            finals += states
            k += n
        return [x] + finals if self.return_state else x

    def get_config(self):
        config = Layer.get_config(self)
        config.update(cell=_cell_entry(self.cell), return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                      dropout=0.0, recurrent_dropout=0.0, seed=None,
                      zero_output_for_mask=self.zero_output_for_mask)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = _cell_from(config["cell"])
        return cls(**config)


def _new_rnn(cls, cell=None, *args, **kwargs):
    """``RNN(cell)``: minirnn's wrapper for one of its cells, :class:`CellRNN` otherwise."""
    target = cls
    if cls is RNN and isinstance(cell, (list, tuple, Layer)):
        target = CellRNN
    return Layer.__new__(target)


RNN.__new__ = staticmethod(_new_rnn)
