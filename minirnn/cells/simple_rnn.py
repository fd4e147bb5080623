r"""SimpleRNN: the Elman recurrence.

Forward, for t = 1..T (phi = ``activation``, tanh by default):

    F1  a_t = x_t W + h_{t-1} U + b
    F2  h_t = phi(a_t)

Backward, for t = T..1, with dh_next = dL/dh_T from the final state:

    B1  dh_t  = dL/dh_t (output) + dh_next
    B2  da_t  = dh_t * phi'(a_t)              phi' from h_t (see activations)
    B3  dh_next = da_t U^T                    carried to step t-1
    B4  dW = sum_t x_t^T da_t,  dU = sum_t h_{t-1}^T da_t,  db = sum_t da_t,
        dx_t = da_t W^T                       one product each, after the loop

Shapes (time-major): x_t (B, D), h_t and a_t (B, n), W (D, n), U (n, n), b (n,).
"""
import numpy as np

from ..activations import activate, derivative
from ..backend import kernel
from .base import Cell


@kernel
def forward_loop(XW, U, h0, act):
    """F1-F2 over all steps; XW already holds x_t W + b.  Returns H (T, B, n)."""
    H = np.empty_like(XW)
    h = h0
    for t in range(XW.shape[0]):
        h = activate(XW[t] + h @ U, act)       # F1, F2
        H[t] = h
    return H


@kernel
def backward_loop(H, U, dH, dh_T, act):
    """B1-B3 over all steps, last to first.  Returns (dA, dh0)."""
    dA = np.empty_like(H)
    UT = np.ascontiguousarray(U.T)
    dh_next = dh_T
    for t in range(H.shape[0] - 1, -1, -1):
        dh = dH[t] + dh_next                   # B1
        da = dh * derivative(H[t], act)        # B2
        dA[t] = da
        dh_next = da @ UT                      # B3
    return dA, dh_next


class SimpleRNNCell(Cell):
    """One SimpleRNN step, run over whole sequences by the kernels above."""

    gates = 1
    gate_names = ("h",)
    state_names = ("h",)

    def forward(self, X, states):
        (h0,) = states
        H = forward_loop(self.project(X), self.recurrent_kernel, h0, self.activation)
        return H, [H[-1]], (X, h0, H)

    def backward(self, cache, dH, dstates):
        X, h0, H = cache
        (dh_T,) = dstates
        dA, dh0 = backward_loop(H, self.recurrent_kernel, dH, dh_T, self.activation)
        dX, dW, db = self.input_grads(X, dA)                     # B4
        dU = self.outer(self.previous(H, h0), dA)
        grads = [dW, dU, db] if self.use_bias else [dW, dU]
        return dX, grads, [dh0]
