r"""LSTM: long short-term memory, gates in Keras's order i, f, c, o.

What runs: ``forward_loop`` and ``backward_loop`` below are the reference, in NumPy.
With the default numba backend, Numba compiles their fused twins in
``minirnn/kernels/lstm.py`` instead (the same equations, one element at a time,
products by BLAS in place; tests/test_backends.py checks both give the same
numbers).  ``minirnn.set_backend("numpy")`` runs the code below.

Forward, for t = 1..T (sigma = ``recurrent_activation``, phi = ``activation``):

    F1  [a_i a_f a_c a_o] = x_t W + h_{t-1} U + b
    F2  i = sigma(a_i),  f = sigma(a_f),  g = phi(a_c),  o = sigma(a_o)
    F3  c_t = f * c_{t-1} + i * g
    F4  h_t = o * phi(c_t)
    F5  masked steps (m_t = 0) keep both states: s_t = s_{t-1} + m_t (s_new - s_{t-1})

Backward, for t = T..1, starting from dh_next = dL/dh_T, dc_next = dL/dc_T:

    B1  dh  = m_t (dL/dh_t (output) + dh_next)
    B2  dc  = m_t dc_next + dh * o * phi'(c_t)
    B3  da_i = dc * g * sigma'(a_i)          da_f = dc * c_{t-1} * sigma'(a_f)
        da_c = dc * i * phi'(a_c)            da_o = dh * phi(c_t) * sigma'(a_o)
    B4  dc_next = dc * f + (1 - m_t) dc_next,
        dh_next = [da_i da_f da_c da_o] U^T + (1 - m_t)(dL/dh_t + dh_next)
    B5  dW = sum_t x_t^T da_t,  dU = sum_t h_{t-1}^T da_t,  db = sum_t da_t,
        dx_t = da_t W^T                      one product each, after the loop

Shapes: the equations are written for one sequence as a row (x_t W, Keras's W (D, 4n),
U (n, 4n), b (4n,)); the loops hold each sequence as a column instead: x_t W + b as
(T, 4n, B), h_t, c_t and each gate (n, B), every step's states (T, n, B), so that each
line of the fused loops runs over the whole batch ("Column layout" in cells/base.py).
The cell hands the wrapper and its cache (T, B, .) views.
With ``unit_forget_bias`` the f slice of b starts at 1.
Without a mask m_t = 1; with recurrent dropout h_{t-1} meets each gate's block of
U as h_{t-1} * R_g (see cells/base.py).
"""
from typing import NamedTuple

import numpy as np

from ..activations import activate, derivative
from ..backend import kernel
from .base import Cell, column_layout, recurrent_grad_into, recurrent_product_into, row_view


@kernel(bitwise=True)
def forward_loop(XW, U, h0, c0, act, rec_act, mask, R):
    """F1-F5 over all steps, one column per sequence: XW (T, 4n, B) holds x_t W + b and is
    overwritten by the activated gates; h0, c0 (n, B).  Returns the cache (gates, C, phi_C, H),
    the states (T, n, B)."""
    T, width, B = XW.shape
    n = width // 4
    masked = mask.shape[0] > 0
    gates = XW                                 # activated [i f g o] replace x_t W + b, step by step
    C = np.empty((T, n, B), XW.dtype)          # carried c_t
    phi_C = np.empty((T, n, B), XW.dtype)      # phi(c_t) before masking, reused by backward
    H = np.empty((T, n, B), XW.dtype)          # carried h_t
    hU = np.empty((width, B), XW.dtype)        # (h_{t-1} U)^T
    h, c = h0, c0
    for t in range(T):
        recurrent_product_into(h.T, U, R, hU.T)
        a = XW[t] + hU                         # F1
        i = activate(a[:n], rec_act)           # F2
        f = activate(a[n:2 * n], rec_act)
        g = activate(a[2 * n:3 * n], act)
        o = activate(a[3 * n:], rec_act)
        c_new = f * c + i * g                  # F3
        phi_c = activate(c_new, act)
        h_new = o * phi_c                      # F4
        if masked:                             # F5: m_t, one per column
            h = h + mask[t, :, 0] * (h_new - h)
            c = c + mask[t, :, 0] * (c_new - c)
        else:
            h, c = h_new, c_new
        gates[t, :n] = i
        gates[t, n:2 * n] = f
        gates[t, 2 * n:3 * n] = g
        gates[t, 3 * n:] = o
        C[t] = c
        phi_C[t] = phi_c
        H[t] = h
    return gates, C, phi_C, H


@kernel(bitwise=True)
def backward_loop(gates, C, phi_C, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """B1-B4 over all steps, last to first, in forward_loop's layout (dH (T, n, B); c0, dh_T,
    dc_T (n, B)).  Returns (dA (T, 4n, B), dh0, dc0)."""
    T, width, B = gates.shape
    n = width // 4
    masked = mask.shape[0] > 0
    dA = np.empty_like(gates)
    dh_next, dc_next = dh_T.copy(), dc_T
    for t in range(T - 1, -1, -1):
        i = gates[t, :n]
        f = gates[t, n:2 * n]
        g = gates[t, 2 * n:3 * n]
        o = gates[t, 3 * n:]
        phi_c = phi_C[t]
        c_prev = C[t - 1] if t > 0 else c0
        dh_out = dH[t] + dh_next
        dh = dh_out * mask[t, :, 0] if masked else dh_out            # B1
        dc_in = dc_next * mask[t, :, 0] if masked else dc_next
        dc = dc_in + dh * o * derivative(phi_c, act)           # B2
        dA[t, :n] = dc * g * derivative(i, rec_act)            # B3: da_i
        dA[t, n:2 * n] = dc * c_prev * derivative(f, rec_act)        # da_f
        dA[t, 2 * n:3 * n] = dc * i * derivative(g, act)             # da_c
        dA[t, 3 * n:] = dh * phi_c * derivative(o, rec_act)          # da_o
        recurrent_grad_into(dA[t].T, U, R, dh_next.T)                # B4
        if masked:
            dh_next += dh_out - dh
            dc_next = dc * f + (dc_next - dc_in)
        else:
            dc_next = dc * f
    return dA, dh_next, dc_next


class LSTMCache(NamedTuple):
    """What forward keeps for backward: (T, B, .) views of the loops' column-layout arrays."""
    X: np.ndarray             # (T, B, D) inputs
    h0: np.ndarray            # (B, n) initial states
    c0: np.ndarray
    gates: np.ndarray         # (T, B, 4n) activated [i f g o]
    C: np.ndarray             # (T, B, n) carried c_t
    phi_C: np.ndarray         # (T, B, n) phi(c_t)
    H: np.ndarray             # (T, B, n) carried h_t
    mask: np.ndarray          # (T, B, 1) or empty
    R: np.ndarray             # (4, B, n) recurrent dropout or empty
    input_masks: list         # input dropout, or None


class LSTMCell(Cell):
    """One LSTM step, run over whole sequences by the loops above."""

    gates = 4
    sequences_as_columns = True
    skips_input_grad = True
    gate_names = ("i", "f", "g", "o")
    state_names = ("h", "c")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def initial_weight(self, name, shape):
        if name != "bias" or not self.unit_forget_bias:
            return super().initial_weight(name, shape)
        n, dt = self.units, self.dtype.name              # b_f starts at 1: remember by default
        return np.concatenate([self.bias_initializer((n,), dtype=dt), np.ones(n, dt),
                               self.bias_initializer((2 * n,), dtype=dt)])

    def forward(self, X, states, mask, R, input_masks=None):
        h0, c0 = states
        mask = np.ascontiguousarray(mask)      # the fused loops read m_t as one contiguous row
        gates, C, phi_C, H = map(row_view, forward_loop(
            self.project(X, input_masks, columns=True), self.recurrent_kernel, column_layout(h0),
            column_layout(c0), self.activation, self.recurrent_activation, mask, R))
        final = [np.ascontiguousarray(H[-1]), np.ascontiguousarray(C[-1])]
        return H, final, LSTMCache(X, h0, c0, gates, C, phi_C, H, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates, input_grad=True):
        dh_T, dc_T = dstates
        dA, dh0, dc0 = backward_loop(*map(column_layout, (cache.gates, cache.C, cache.phi_C, cache.c0)),
                                     self.recurrent_kernel, *map(column_layout, (dH, dh_T, dc_T)),
                                     self.activation, self.recurrent_activation, cache.mask, cache.R)
        dA = row_view(dA)

        def weight_grads():                                                  # B5
            dW, db = self.kernel_grads(cache.X, dA, cache.input_masks)
            dU = self.recurrent_kernel_grad_from_states(cache.H, cache.h0, dA, cache.R)
            return dict(kernel=dW, recurrent_kernel=dU, bias=db)
        dstates0 = [np.ascontiguousarray(row_view(dh0)), np.ascontiguousarray(row_view(dc0))]
        return self.input_grad(dA, cache.input_masks, input_grad), dstates0, weight_grads
