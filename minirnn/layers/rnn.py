"""The recurrent wrapper and the three recurrent layers.

:class:`RNN` owns everything about sequences: batch-first <-> time-major
layout, ``go_backwards``, initial and returned states, ``return_sequences``,
and the bookkeeping of backpropagation through time.  A cell (see
:mod:`minirnn.cells`) only knows its own equations, so ``SimpleRNN``, ``LSTM``
and ``GRU`` are thin subclasses that pick a cell.
"""
import copy

import numpy as np

from .. import parallel, registry
from ..cells import Cell, GRUCell, LSTMCell, SimpleRNNCell
from ..cells.base import empty_masks
from ..parallel import blas_threads_limited, threads_for
from ..utils import get_rng
from ._utils import rate
from .base import Layer, format_shape, init_arguments, snake_case, unique_name


class RNN(Layer):
    """Run a cell over sequences ``(batch, time, features)``.

    Called as ``layer(x, initial_state=None, training=False, mask=None)``; returns
    the last output ``(batch, units)`` or, with ``return_sequences``, every output
    ``(batch, time, units)``; with ``return_state``, ``[output, *final_states]``.

    * ``go_backwards``: the sequence is read last step first and the returned
      sequence is in that (reversed) order, as in Keras.
    * ``mask`` (batch, time), True for real steps: a masked step keeps the state;
      its output is 0 with ``zero_output_for_mask``, else the last unmasked output.
    * ``dropout`` / ``recurrent_dropout``: inverted dropout on x_t / h_{t-1} with one
      mask per sequence (per gate when ``recurrent_dropout`` > 0, like Keras),
      reused at every step, only when training.
    * ``stateful``: the final states of a call are the initial states of the next,
      until :meth:`reset_states`.

    The sequences it returns (and the input gradient of ``backward``) are ``(batch, time)``
    views of time-major arrays: a recurrent layer above reads them without a copy, any
    other layer takes them as they are, and a model hands out C-contiguous arrays.
    """

    input_ndim = 3                  # (batch, time, features)

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, name=None, dtype=None, input_shape=None,
                 trainable=True, **kwargs):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable, **kwargs)
        self.cell = cell
        cell.dtype = np.dtype(self.dtype)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)             # accepted for Keras scripts; the loop is compiled anyway
        self.zero_output_for_mask = bool(zero_output_for_mask)
        # Keras's cells carry their own dropout (keras.layers.LSTMCell(8, dropout=0.2))
        self.dropout = rate(dropout or getattr(cell, "dropout", 0.0), "dropout", self)
        self.recurrent_dropout = rate(recurrent_dropout or getattr(cell, "recurrent_dropout", 0.0),
                                      "recurrent_dropout", self)
        seed = seed if seed is not None else getattr(cell, "seed", None)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.states = None
        self.initial_state_grads = None
        self.supports_masking = True

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

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def reset_state(self, states=None):
        """Keras 3's name of :meth:`reset_states`."""
        self.reset_states(states)

    def reset_states(self, states=None):
        """Forget the carried states (stateful layers), or set them to `states`."""
        if states is None:
            self.states = None
        else:
            batch = np.shape(states[0] if isinstance(states, (list, tuple)) else states)[0]
            self.states = self.initial_states(states, batch)

    # -- forward ---------------------------------------------------------------
    def __call__(self, inputs, initial_state=None, training=False, mask=None):
        # Any layout: the loops run time-major, and a recurrent layer below hands over its
        # time-major array as a (batch, time) view, which needs no copy here.
        x = self.check_input(inputs, ndim=3, last_dim=self.cell.input_dim if self.built else None,
                             any_layout=True)
        for axis, what in ((0, "a batch of 0 sequences"), (1, "sequences of 0 time steps")):
            if x.shape[axis] == 0:
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) received {what}, "
                                 f"shape {x.shape}; it needs at least one of each")
        self.ensure_built(x.shape)
        with blas_threads_limited(self.blas_threads(*x.shape[:2])):
            return self.call(x, initial_state=initial_state, training=training, mask=mask)

    # -- running on several cores (see minirnn.parallel) -----------------------------
    def largest_product(self, batch, time):
        """Multiply-adds of this layer's largest product on (batch, time): X W or a weight
        gradient, time * batch * G*n * max(D, n)."""
        cell = self.cell
        return time * batch * cell.gates * cell.units * max(cell.input_dim, cell.units)

    def batch_chunks(self, batch, time):
        """Row ranges of the batch that run side by side (one when the work is small)."""
        return parallel.batch_chunks(batch, self.largest_product(batch, time))

    def blas_threads(self, batch, time):
        """BLAS threads for this layer on (batch, time): one per chunk when the batch is split
        (the cores are busy with the chunks), else by the size of its largest product."""
        if len(self.batch_chunks(batch, time)) > 1:
            return 1
        return threads_for(self.largest_product(batch, time))

    def draws_random(self, training):
        """True when a call would draw dropout masks (from a shared generator, so calls that
        do must run one after the other to stay reproducible)."""
        return training and (self.dropout > 0 or self.recurrent_dropout > 0)

    @property
    def grads(self):
        """dL/dweights from the last backward, aligned with :attr:`weights` (waits for them
        if a spare core is still computing them)."""
        if self._grads_job is not None:
            job, self._grads_job = self._grads_job, None
            self._grads = job.result()
        return self._grads

    @grads.setter
    def grads(self, value):
        self._grads_job, self._grads = None, value

    def initial_states(self, initial_state, batch):
        if initial_state is None:
            if self.stateful and self.states is not None:
                if self.states[0].shape[0] != batch:
                    raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) is stateful with batch "
                                     f"size {self.states[0].shape[0]}, received a batch of {batch}; "
                                     f"call reset_states() to change it")
                return self.states
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

    def step_mask(self, mask, batch, time):
        """The (batch, time) mask as the loops' (time, batch, 1) array of 0/1."""
        mask = self.check_mask(mask, (batch, time))
        return np.ascontiguousarray(mask.T[:, :, None], dtype=self.dtype)

    def dropout_masks(self, batch):
        """(input masks, recurrent masks) for one training call, values 0 or 1/(1-rate).

        One mask per sequence, reused at every step; with recurrent dropout one per
        gate (Keras's implementation 1), else a single input mask."""
        rng = self._rng if self._rng is not None else get_rng()
        gates = self.cell.gates

        def draw(count, width, rate):
            keep = rng.random((count, batch, width)) >= rate
            return (keep / (1.0 - rate)).astype(self.dtype)

        per_gate = self.recurrent_dropout > 0
        inputs = draw(gates if per_gate else 1, self.cell.input_dim, self.dropout) if self.dropout > 0 else None
        recurrent = draw(gates, self.units, self.recurrent_dropout) if per_gate else None
        return inputs, recurrent

    def call(self, x, initial_state=None, training=False, mask=None):
        B, T, _ = x.shape
        states = self.initial_states(initial_state, B)
        X = x.transpose(1, 0, 2)                                 # (T, B, D)
        M = empty_masks(self.dtype) if mask is None else self.step_mask(mask, B, T)
        if self.go_backwards:
            X, M = X[::-1], M[::-1]
        input_masks, R = self.dropout_masks(B) if training else (None, None)
        R = empty_masks(self.dtype) if R is None else R
        last_only = not self.return_sequences
        H, final_states, cache = parallel.forward_in_chunks(self.cell, self.batch_chunks(B, T),
                                                            self.cell.in_layout(X), states,
                                                            np.ascontiguousarray(M), R, input_masks, last_only)
        if self.stateful:
            self.states = [s.copy() for s in final_states]
        # Output weights per step: 1 where the output is h_t, 0 where it is zero.
        if mask is None:
            shown = None
        elif self.zero_output_for_mask:
            shown = M
        else:
            shown = np.maximum.accumulate(M, axis=0)             # zero until the first real step
        outputs = H if shown is None else H * (shown[-1:] if last_only else shown)
        self._cache = (cache, x.shape, shown) if training else None
        output = outputs[-1] if last_only else outputs.transpose(1, 0, 2)               # a view
        return [output] + list(final_states) if self.return_state else output

    # -- backward --------------------------------------------------------------
    @property
    def skips_input_grad(self):
        """Whether ``backward(dy, input_grad=False)`` skips dL/dx (the cell can)."""
        return self.cell.skips_input_grad

    def backward(self, dy, input_grad=True):
        """dL/dx from dL/d(output) (or ``[d_output, *d_states]`` with return_state); None with
        ``input_grad=False`` (nothing below needs it), when the cell ``skips_input_grad``.

        Gradients of the initial states go to ``self.initial_state_grads``."""
        cache, (B, T, D), shown = self.saved()
        with blas_threads_limited(self.blas_threads(B, T)):
            return self._backward(dy, cache, B, T, D, shown, input_grad or not self.skips_input_grad)

    def _backward(self, dy, cache, B, T, D, shown, input_grad):
        n = self.units
        parts = list(dy) if self.return_state else [dy]
        expected = [(B, T, n) if self.return_sequences else (B, n)]
        if self.return_state:
            expected += [(B, n)] * len(self.cell.state_names)
        if len(parts) != len(expected):
            raise ValueError(f"Layer '{self.name}' backward expects {len(expected)} gradients "
                             f"(output and states), received {len(parts)}")
        grads = [np.zeros(shape, self.dtype) if part is None else self.check_gradient(part, shape)
                 for part, shape in zip(parts, expected)]
        d_output = grads[0]
        d_states = grads[1:] or [np.zeros((B, n), self.dtype) for _ in self.cell.state_names]
        if self.return_sequences:
            # Never in place: the caller's gradient may be another layer's (T, B) array seen as
            # (B, T), which then needs no copy either.
            dH = d_output.transpose(1, 0, 2)
            if shown is None:
                dH = self.cell.in_layout(dH)
            else:                                   # weighted straight into the cell's layout
                dH = np.multiply(dH, shown, out=self.cell.sequence_zeros(T, B, n))
        else:
            dH = self.cell.sequence_zeros(T, B, n)
            dH[-1] = d_output
            if shown is not None:
                dH *= shown
        dX, self._grads_job, self.initial_state_grads = parallel.backward_in_chunks(
            self.cell, cache, dH, [np.ascontiguousarray(s) for s in d_states], self.largest_product(B, T),
            input_grad)
        if dX is None:
            return None
        if self.go_backwards:
            dX = dX[::-1]
        return dX.transpose(1, 0, 2)                            # a view, as the output

    def unbuilt_copy(self, name, go_backwards):
        """A fresh copy of this unbuilt layer (Bidirectional's two halves)."""
        if self.built:
            raise ValueError(f"Layer '{self.name}' is already built; Bidirectional wraps an unbuilt layer")
        twin = copy.deepcopy(self)
        twin.go_backwards = go_backwards
        twin.name = name
        return twin

    def get_config(self):
        """Every constructor argument, JSON-friendly, read from the layer and then from its cell
        (activations by name, initializers serialized); ``RNN`` itself stores its cell as
        ``{"class_name", "config"}``."""
        config = super().get_config()
        for name, value in init_arguments(self, sources=(self, self.cell), skip=config).items():
            if name == "cell":
                value = {"class_name": type(value).__name__, "registered_name": registry.registered_name(type(value)),
                         "config": init_arguments(value, skip=("dtype",))}
            config[name] = value
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = config.get("cell")
        if isinstance(cell, dict):
            cell_class = cell_class_named(cell.get("registered_name"), cell.get("class_name"))
            if cell_class is None:
                raise ValueError(f"Layer '{config.get('name')}' ({cls.__name__}): unknown cell class "
                                 f"{cell.get('class_name')!r} in config")
            config["cell"] = cell_class(**cell.get("config", {}))
        return cls(**config)

def cell_class_named(registered_name, class_name):
    """The Cell subclass a config names: by its registered ``"package>name"``, else by class name
    among minirnn's cells and then the custom ones (cells register themselves, see cells/base.py)."""
    candidates = [registered_name] if registered_name else []
    candidates += [f"{package}>{class_name}" for package in ("minirnn", "Custom") if isinstance(class_name, str)]
    for key in candidates:
        found = registry.get_registered_object(key)
        if isinstance(found, type) and issubclass(found, Cell):
            return found
    return None


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

    cell_class = SimpleRNNCell

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 return_sequences=False, return_state=False, go_backwards=False, **kwargs):
        cell = _make_cell(self, kwargs, self.cell_class,
                          **_cell_args(units, activation, None, use_bias, kernel_initializer,
                                       recurrent_initializer, bias_initializer))
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)


class LSTM(RNN):
    """Long short-term memory, gates i, f, c, o.  See cells/lstm.py."""

    cell_class = LSTMCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, return_sequences=False,
                 return_state=False, go_backwards=False, **kwargs):
        self.use_cudnn = kwargs.get("use_cudnn", "auto")     # kept as Keras does; one CPU implementation
        cell = _make_cell(self, kwargs, self.cell_class, unit_forget_bias=unit_forget_bias,
                          **_cell_args(units, activation, recurrent_activation, use_bias,
                                       kernel_initializer, recurrent_initializer, bias_initializer))
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)


class GRU(RNN):
    """Gated recurrent unit, gates z, r, h; ``reset_after=True`` like Keras.  See cells/gru.py."""

    cell_class = GRUCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", return_sequences=False, return_state=False,
                 go_backwards=False, reset_after=True, **kwargs):
        self.use_cudnn = kwargs.get("use_cudnn", "auto")     # kept as Keras does; one CPU implementation
        cell = _make_cell(self, kwargs, self.cell_class, reset_after=reset_after,
                          **_cell_args(units, activation, recurrent_activation, use_bias,
                                       kernel_initializer, recurrent_initializer, bias_initializer))
        super().__init__(cell, return_sequences, return_state, go_backwards, **kwargs)
