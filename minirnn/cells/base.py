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

Two optional extras reach the time loops as arrays (empty when unused):

* ``mask`` (T, B, 1), 1 for real steps and 0 for padding: a masked step keeps
  the previous state, s_t = s_{t-1} + m_t (s_new - s_{t-1}), and passes its
  gradient straight back.
* ``R`` (G, B, n), recurrent dropout: one mask per gate, fixed for the whole
  sequence, applied to h_{t-1} before it meets that gate's block of U.
  Input dropout works the same way on x_t, outside the loop.
"""
import numpy as np

from .. import activations, initializers
from ..backend import kernel
from ..blas import column_sums, float_signatures, gemm


@kernel
def recurrent_product(h, U, R):
    """h U, or with recurrent dropout [(h * R_g) U_g for each gate block g]."""
    if R.shape[0] == 0:
        return h @ U
    n = h.shape[1]
    out = np.empty((h.shape[0], U.shape[1]), h.dtype)
    for g in range(U.shape[1] // n):
        out[:, g * n:(g + 1) * n] = (h * R[g]) @ np.ascontiguousarray(U[:, g * n:(g + 1) * n])
    return out


@kernel
def recurrent_grad(dM, UT, R):
    """dL/dh from dL/d(h U), given UT = U^T (contiguous, made once per sequence):
    dM U^T, or with recurrent dropout sum_g (dM_g U_g^T) * R_g."""
    if R.shape[0] == 0:
        return dM @ UT
    n = UT.shape[1]
    dh = np.zeros((dM.shape[0], n), dM.dtype)
    for g in range(UT.shape[0] // n):
        dh += (np.ascontiguousarray(dM[:, g * n:(g + 1) * n]) @ UT[g * n:(g + 1) * n]) * R[g]
    return dh


@kernel
def add_recurrent_product(h, U, R, out):
    """out += recurrent_product(h, U, R), in place (the fused loops' form of F1)."""
    out += recurrent_product(h, U, R)


@add_recurrent_product.fused(signatures=float_signatures("void({t}[:, :], {t}[:, :], {t}[:, :, :], {t}[:, :])"))
def add_recurrent_product_blas(h, U, R, out):
    """add_recurrent_product by BLAS, straight into `out`."""
    if R.shape[0] == 0:
        gemm(h, U, out, 1.0)
        return
    n = h.shape[1]
    hR = np.empty_like(h)
    for g in range(U.shape[1] // n):
        for b in range(h.shape[0]):
            for j in range(n):
                hR[b, j] = h[b, j] * R[g, b, j]
        gemm(hR, U[:, g * n:(g + 1) * n], out[:, g * n:(g + 1) * n], 1.0)


@kernel
def recurrent_grad_into(dM, U, R, out, beta):
    """out = recurrent_grad(dM, U^T, R) + beta * out, in place (beta 0 or 1; the fused loops' form)."""
    grad = recurrent_grad(dM, np.ascontiguousarray(U.T), R)
    out[...] = grad if beta == 0 else grad + beta * out


@recurrent_grad_into.fused(
    signatures=float_signatures("void({t}[:, :], {t}[:, :], {t}[:, :, :], {t}[:, :], float64)"))
def recurrent_grad_into_blas(dM, U, R, out, beta):
    """recurrent_grad_into by BLAS, U^T read in place."""
    if R.shape[0] == 0:
        gemm(dM, U.T, out, beta)
        return
    n = U.shape[0]
    part = np.empty_like(out)
    if beta == 0:
        out[...] = 0
    for g in range(U.shape[1] // n):
        gemm(dM[:, g * n:(g + 1) * n], U[:, g * n:(g + 1) * n].T, part, 0.0)
        for b in range(out.shape[0]):
            for j in range(n):
                out[b, j] += part[b, j] * R[g, b, j]


def empty_masks(dtype):
    """The 'no mask' / 'no dropout' argument of the time loops."""
    return np.zeros((0, 1, 1), dtype)


class Cell:
    """Base class: weights, initialisation and the out-of-loop products."""

    gates = 1                 # G: blocks of `units` columns in W and U
    gate_names = ("h",)
    state_names = ("h",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dtype="float32"):
        if isinstance(units, (bool, np.bool_)) or not isinstance(units, (int, np.integer)) or units < 1:
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

    def column_blocks(self, masks):
        """(columns, mask) pairs: one input-dropout mask per block of gates."""
        width = self.gates * self.units
        step = width // len(masks)
        return [(slice(k * step, (k + 1) * step), m) for k, m in enumerate(masks)]

    def project(self, X, input_masks=None):
        """XW = X W + b for every step at once: (T, B, D) -> (T, B, G*n).

        With input dropout, block k of the columns sees X * input_masks[k]."""
        T, B, D = X.shape
        XW = np.empty((T * B, self.gates * self.units), X.dtype)
        b = self.input_bias()
        if b is not None:
            XW[:] = b                     # the product is then added to it: one pass less
        beta = 0.0 if b is None else 1.0
        if input_masks is None:
            gemm(X.reshape(T * B, D), self.kernel, XW, beta)
        else:
            for cols, m in self.column_blocks(input_masks):
                gemm((X * m).reshape(T * B, D), self.kernel[:, cols], XW[:, cols], beta)
        return XW.reshape(T, B, -1)

    def input_grad(self, dXW, input_masks=None):
        """dL/dX = dL/dXW W^T (with input dropout, block k of the columns times input_masks[k])."""
        T, B, width = dXW.shape
        D = self.input_dim
        flat = dXW.reshape(T * B, width)
        if input_masks is None:
            dX = np.empty((T * B, D), dXW.dtype)
            gemm(flat, self.kernel.T, dX, 0.0)
            return dX.reshape(T, B, D)
        dX = np.zeros((T, B, D), dXW.dtype)
        for cols, m in self.column_blocks(input_masks):
            dX += (flat[:, cols] @ self.kernel[:, cols].T).reshape(T, B, D) * m
        return dX

    def kernel_grads(self, X, dXW, input_masks=None):
        """dW = sum_t x_t^T dXW_t and db = sum_t dXW_t (the input bias's gradient)."""
        T, B, D = X.shape
        flat = dXW.reshape(T * B, -1)
        dW = np.empty_like(self.kernel)
        if input_masks is None:
            gemm(X.reshape(T * B, D).T, flat, dW, 0.0)
        else:
            for cols, m in self.column_blocks(input_masks):
                gemm((X * m).reshape(T * B, D).T, flat[:, cols], dW[:, cols], 0.0)
        return dW, column_sums(flat)

    def recurrent_kernel_grad(self, H_prev, dM, R):
        """dU = sum_t h_{t-1}^T dM_t, per gate block with h_{t-1} * R_g under recurrent dropout."""
        if R.shape[0] == 0:
            return self.outer(H_prev, dM)
        n = self.units
        return np.concatenate([self.outer(H_prev * R[g], dM[..., g * n:(g + 1) * n])
                               for g in range(dM.shape[-1] // n)], axis=1)

    @staticmethod
    def previous(H, h0):
        """h_{t-1} for every step: (T, B, n) with h0 first."""
        return np.concatenate([h0[None], H[:-1]], axis=0)

    @staticmethod
    def outer(A, dA):
        """sum_t A_t^T dA_t as one product: (T, B, m), (T, B, k) -> (m, k)."""
        out = np.empty((A.shape[-1], dA.shape[-1]), A.dtype)
        gemm(A.reshape(-1, A.shape[-1]).T, dA.reshape(-1, dA.shape[-1]), out, 0.0)
        return out

    # -- to be written by each cell -------------------------------------------
    def forward(self, X, states, mask, R, input_masks=None):
        """Run the sequence X (T, B, D) from `states`.

        `mask` (T, B, 1) and `R` (G, B, n) may be empty (see the module doc);
        `input_masks` is None or one (B, D) input-dropout mask per block of gates.
        Returns (H, final_states, cache): H (T, B, n) holds every (carried) h_t."""
        raise NotImplementedError

    def backward(self, cache, dH, dstates):
        """Backpropagate through time.

        dH (T, B, n) is dL/dh_t from outside (the outputs), dstates the
        gradients of the final states.  Returns (dX, grads, dstates0) with
        grads aligned with :attr:`weights`."""
        dX, dstates0, weight_grads = self.backward_phases(cache, dH, dstates)
        return dX, weight_grads(), dstates0

    def backward_phases(self, cache, dH, dstates):
        """:meth:`backward` in two parts: returns (dX, dstates0, weight_grads), where
        weight_grads() computes grads.  The layer below waits for dX; the weight gradients
        are needed only by the optimizer, so they may be computed on another core meanwhile."""
        raise NotImplementedError
