"""What every recurrent cell shares: its weights and the two big matrix products.

A cell owns ``kernel`` W (input_dim, G*units), ``recurrent_kernel`` U
(units, G*units) and ``bias`` b, where G is the number of gates.  The part of
the pre-activations that does not depend on the recurrence is one product over
all time steps, done before the time loop; the matching weight gradients are
one product each, done after the backward loop:

    XW = X W + b                      (T*B, D) @ (D, G*n)   before the loop
    dW = X^T dXW,  db = sum dXW       after the loop
    dX = dXW W^T

Sequences are time-major inside cells, ``(time, batch, features)``, so each
step reads one contiguous ``(batch, features)`` block.
"""
import numpy as np

from .. import activations, initializers


class Cell:
    """Base class: weights, initialisation and the out-of-loop products."""

    gates = 1                 # G: blocks of `units` columns in W and U
    gate_names = ("h",)
    state_names = ("h",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dtype="float32"):
        if not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"{type(self).__name__}: units must be a positive integer, received {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dtype = np.dtype(dtype)
        self.input_dim = None

    # -- weights -------------------------------------------------------------
    def bias_shape(self):
        return (self.gates * self.units,)

    def initial_bias(self):
        return self.bias_initializer(self.bias_shape(), dtype=self.dtype.name)

    def build(self, input_dim):
        width = self.gates * self.units
        self.input_dim = int(input_dim)
        self.kernel = np.asarray(self.kernel_initializer((self.input_dim, width), dtype=self.dtype.name), self.dtype)
        self.recurrent_kernel = np.asarray(self.recurrent_initializer((self.units, width), dtype=self.dtype.name), self.dtype)
        if self.use_bias:
            self.bias = np.ascontiguousarray(self.initial_bias(), self.dtype)

    @property
    def weights(self):
        """[kernel, recurrent_kernel, bias] (live arrays, Keras's order)."""
        ws = [self.kernel, self.recurrent_kernel]
        return ws + [self.bias] if self.use_bias else ws

    def weight_shapes(self, input_dim):
        width = self.gates * self.units
        shapes = [(input_dim, width), (self.units, width)]
        return shapes + [self.bias_shape()] if self.use_bias else shapes

    def zero_states(self, batch):
        return [np.zeros((batch, self.units), self.dtype) for _ in self.state_names]

    # -- the products outside the time loop ----------------------------------
    def input_bias(self):
        """Bias added to the input projection XW (None when use_bias=False)."""
        return self.bias if self.use_bias else None

    def project(self, X):
        """XW = X W + b for every step at once: (T, B, D) -> (T, B, G*n)."""
        T, B, D = X.shape
        XW = X.reshape(T * B, D) @ self.kernel
        b = self.input_bias()
        if b is not None:
            XW += b
        return XW.reshape(T, B, -1)

    def input_grads(self, X, dXW):
        """dX, dW and db (of the input bias) from dL/dXW."""
        T, B, D = X.shape
        flat = dXW.reshape(T * B, -1)
        dX = (flat @ self.kernel.T).reshape(T, B, D)
        dW = X.reshape(T * B, D).T @ flat
        db = flat.sum(axis=0)
        return dX, dW, db

    @staticmethod
    def previous(H, h0):
        """h_{t-1} for every step: (T, B, n) with h0 first."""
        return np.concatenate([h0[None], H[:-1]], axis=0)

    @staticmethod
    def outer(A, dA):
        """sum_t A_t^T dA_t as one product: (T, B, m), (T, B, k) -> (m, k)."""
        return A.reshape(-1, A.shape[-1]).T @ dA.reshape(-1, dA.shape[-1])

    # -- to be written by each cell -------------------------------------------
    def forward(self, X, states):
        """Run the sequence X (T, B, D) from `states`.

        Returns (H, final_states, cache): H (T, B, n) holds every h_t."""
        raise NotImplementedError

    def backward(self, cache, dH, dstates):
        """Backpropagate through time.

        dH (T, B, n) is dL/dh_t from outside (the outputs), dstates the
        gradients of the final states.  Returns (dX, grads, dstates0) with
        grads aligned with :attr:`weights`."""
        raise NotImplementedError
