"""Bidirectional: one recurrent layer reads forward, a twin reads backward.

    y_fwd = forward_layer(x)          y_bwd = backward_layer(x)  (reads x from the end)
    y = merge(y_fwd, y_bwd)           concat | sum | mul | ave | None (the pair)

With ``return_sequences`` the backward outputs are flipped back to the input's
time order before merging, so step t of both halves refers to input step t.
Backward splits dL/dy by the merge rule and adds the two halves' dL/dx.
"""
import numpy as np

from ..parallel import PARALLEL_MIN_MACS, parallel_map
from ..serialization import deserialize_layer, serialize_layer
from .base import Layer
from .rnn import RNN

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    input_ndim = 3

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, RNN):
            raise ValueError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), received {layer!r}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {MERGE_MODES}, received {merge_mode!r}")
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        self.forward_layer = layer.unbuilt_copy(f"forward_{layer.name}", layer.go_backwards)
        if backward_layer is None:
            backward_layer = layer.unbuilt_copy(f"backward_{layer.name}", not layer.go_backwards)
        elif not isinstance(backward_layer, RNN):
            raise ValueError(f"Layer '{self.name}': backward_layer must be a recurrent layer, "
                             f"received {backward_layer!r}")
        # As Keras: the backward_layer given is used itself (a built one with its weights), so two
        # Bidirectional layers given the same one share its weights.
        if (backward_layer.return_sequences, backward_layer.return_state) != \
                (layer.return_sequences, layer.return_state) or backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(f"Layer '{self.name}': backward_layer must match the forward layer's "
                             f"return_sequences and return_state and read the other way (go_backwards)")
        self.backward_layer = backward_layer
        for half in (self.forward_layer, self.backward_layer):   # as Keras: padded steps output 0
            half.zero_output_for_mask = half.return_sequences
        self.merge_mode = merge_mode
        self.supports_masking = True              # as Keras: the mask reaches both halves
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def reset_states(self, states=None):
        """Forget the carried states of both halves (stateful layers)."""
        if states is not None:
            raise ValueError(f"Layer '{self.name}' (Bidirectional): reset_states(states) is not supported; "
                             f"set each half's states with forward_layer / backward_layer.reset_states")
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def build(self, input_shape):
        self.forward_layer.ensure_built(input_shape)
        self.backward_layer.ensure_built(input_shape)
        self.built = True

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        f_out, b_out = (f[0], b[0]) if self.return_state else (f, b)
        out = [f_out, b_out] if self.merge_mode is None else self.merged_shape(f_out, b_out)
        if not self.return_state:
            return out
        states = list(f[1:]) + list(b[1:])
        return (out if isinstance(out, list) else [out]) + states

    def __call__(self, inputs, initial_state=None, training=False, mask=None):
        x = self.check_input(inputs, ndim=3, last_dim=self.forward_layer.cell.input_dim if self.built else None,
                             any_layout=True)
        self.ensure_built(x.shape)
        return self.call(x, initial_state=initial_state, training=training, mask=mask)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def halves_together(self, shape, training):
        """Run the two directions side by side (on two cores) when each is big enough to pay
        for it and neither draws dropout masks (their order would depend on the threads)."""
        batch, time = shape[0], shape[1]
        halves = (self.forward_layer, self.backward_layer)
        return (all(h.largest_product(batch, time) >= PARALLEL_MIN_MACS for h in halves)
                and not any(h.draws_random(training) for h in halves))

    def call(self, x, initial_state=None, training=False, mask=None):
        f_init = b_init = None
        if initial_state is not None:
            states = list(initial_state)
            half = len(states) // 2
            if len(states) % 2:
                raise ValueError(f"Layer '{self.name}' expects an even number of initial states "
                                 f"(forward half, then backward half), received {len(states)}")
            f_init, b_init = states[:half], states[half:]
        halves = [(self.forward_layer, f_init), (self.backward_layer, b_init)]

        def run(half):
            layer, init = half
            return layer(x, initial_state=init, training=training, mask=mask)
        together = self.halves_together(x.shape, training)
        f, b = parallel_map(run, halves) if together else [run(half) for half in halves]
        f_out, f_states = (f[0], f[1:]) if self.return_state else (f, [])
        b_out, b_states = (b[0], b[1:]) if self.return_state else (b, [])
        if self.return_sequences:
            b_out = b_out[:, ::-1]
        self._cache = (f_out, b_out, together) if training else None
        out = self.merge(f_out, b_out)
        if not self.return_state:
            return out
        return (out if isinstance(out, list) else [out]) + list(f_states) + list(b_states)

    def merged_shape(self, f, b):
        """The merged output's shape from the halves' output shapes (a merge_mode set)."""
        return tuple(f[:-1]) + (f[-1] + b[-1],) if self.merge_mode == "concat" else tuple(f)

    def merge(self, f, b):
        mode = self.merge_mode
        if mode == "concat" and f.ndim == 3:
            # Joined time-major, handed on as a (batch, time) view: the halves' outputs are views
            # of time-major arrays, and a recurrent layer above reads it time-major.
            return np.concatenate([f.transpose(1, 0, 2), b.transpose(1, 0, 2)], axis=-1).transpose(1, 0, 2)
        if mode == "concat":
            return np.concatenate([f, b], axis=-1)
        if mode == "sum":
            return f + b
        if mode == "mul":
            return f * b
        if mode == "ave":
            return (f + b) / 2
        return [f, b]

    @property
    def skips_input_grad(self):
        """Whether ``backward(dy, input_grad=False)`` skips dL/dx (both halves can)."""
        return self.forward_layer.skips_input_grad and self.backward_layer.skips_input_grad

    def backward(self, dy, input_grad=True):
        """dL/dx, the sum of the two halves' (None with ``input_grad=False``, when both halves
        skip it: nothing below needs it)."""
        f_out, b_out, together = self.saved()
        parts = list(dy) if (self.return_state or self.merge_mode is None) else [dy]
        n_out = 2 if self.merge_mode is None else 1
        d_out, d_states = parts[:n_out], parts[n_out:]
        # The halves may hold different cells (backward_layer=...), so count each one's states.
        n_f, n_b = (len(half.cell.state_names) if self.return_state else 0
                    for half in (self.forward_layer, self.backward_layer))
        if self.return_state and len(d_states) != n_f + n_b:
            raise ValueError(f"Layer '{self.name}' backward expects {n_out + n_f + n_b} arrays, gradients "
                             f"for the output(s) and {n_f + n_b} states, received {len(parts)}")
        df, db = self.split(d_out, f_out, b_out)
        if self.return_sequences:
            db = db[:, ::-1]
        if self.return_state:
            df, db = [df] + d_states[:n_f], [db] + d_states[n_f:]
        jobs = [(self.forward_layer, df), (self.backward_layer, db)]

        def run(job):
            return job[0].backward(job[1], input_grad)
        dx_f, dx_b = parallel_map(run, jobs) if together else [run(job) for job in jobs]
        dx = None if dx_f is None or dx_b is None else dx_f + dx_b
        self.initial_state_grads = self.forward_layer.initial_state_grads + self.backward_layer.initial_state_grads
        return dx

    @property
    def grads(self):
        """The two halves' weight gradients, forward half first (as :attr:`weights`)."""
        halves = [getattr(self, name, None) for name in ("forward_layer", "backward_layer")]
        if any(half is None or half.grads is None for half in halves):
            return None
        return halves[0].grads + halves[1].grads

    @grads.setter
    def grads(self, value):
        if value is not None:
            raise AttributeError(f"Layer '{self.name}': the gradients live in the two halves")

    def split(self, d_out, f, b):
        """dL/dy_fwd and dL/dy_bwd from dL/dy by the merge rule."""
        mode = self.merge_mode
        expected = self.merged_shape(f.shape, b.shape) if mode else None
        d_out = [np.zeros(expected if mode else out.shape, self.dtype) if d is None else d
                 for d, out in zip(d_out, (f, b))]                # None: no gradient from that output
        if mode is None:
            return np.asarray(d_out[0], self.dtype), np.asarray(d_out[1], self.dtype)
        dy = self.check_gradient(d_out[0], expected)
        if mode == "concat":
            n = f.shape[-1]
            return dy[..., :n], dy[..., n:]
        if mode == "sum":
            return dy, dy
        if mode == "mul":
            return dy * b, dy * f
        return dy / 2, dy / 2

    def get_config(self):
        """The wrapped layer's config (named as given, without the ``forward_`` prefix), the
        merge mode and the backward layer's config, each as ``{"class_name", "config"}``."""
        config = super().get_config()
        layer = serialize_layer(self.forward_layer)
        name = layer["config"]["name"]
        layer["config"]["name"] = name[len("forward_"):] if name.startswith("forward_") else name
        config.update(layer=layer, merge_mode=self.merge_mode,
                      backward_layer=serialize_layer(self.backward_layer))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_layer(config[key])
        return cls(**config)
