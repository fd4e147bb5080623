r"""LSTM: long short-term memory, gates in Keras's order i, f, c, o.

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

Shapes (time-major): x_t (B, D); h_t, c_t and each gate (B, n); W (D, 4n),
U (n, 4n), b (4n,).  With ``unit_forget_bias`` the f slice of b starts at 1.
Without a mask m_t = 1; with recurrent dropout h_{t-1} meets each gate's block of
U as h_{t-1} * R_g (see cells/base.py).
"""
import numpy as np

from ..activations import (ONE, activate, activate_columns, activate_inplace, derivative, slope,
                           polynomial_slope, slope_polynomial, tanh_columns, tanh_rational, value)
from ..backend import kernel
from .base import Cell, add_recurrent_product, recurrent_grad, recurrent_grad_into, recurrent_product


@kernel
def forward_loop(XW, U, h0, c0, act, rec_act, mask, R):
    """F1-F5 over all steps.  Returns the cache (gates, C, phi(c_new), H)."""
    T, B, width = XW.shape
    n = width // 4
    masked = mask.shape[0] > 0
    gates = np.empty_like(XW)                  # activated i f g o per step
    C = np.empty((T, B, n), XW.dtype)          # carried c_t
    PC = np.empty((T, B, n), XW.dtype)         # phi(c_new), reused by backward
    H = np.empty((T, B, n), XW.dtype)          # carried h_t
    h, c = h0, c0
    for t in range(T):
        a = XW[t] + recurrent_product(h, U, R)  # F1
        i = activate(a[:, :n], rec_act)        # F2
        f = activate(a[:, n:2 * n], rec_act)
        g = activate(a[:, 2 * n:3 * n], act)
        o = activate(a[:, 3 * n:], rec_act)
        c_new = f * c + i * g                  # F3
        pc = activate(c_new, act)
        h_new = o * pc                         # F4
        if masked:                             # F5
            h = h + mask[t] * (h_new - h)
            c = c + mask[t] * (c_new - c)
        else:
            h, c = h_new, c_new
        gates[t, :, :n] = i
        gates[t, :, n:2 * n] = f
        gates[t, :, 2 * n:3 * n] = g
        gates[t, :, 3 * n:] = o
        C[t] = c
        PC[t] = pc
        H[t] = h
    return gates, C, PC, H


@kernel
def backward_loop(gates, C, PC, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """B1-B4 over all steps, last to first.  Returns (dA, dh0, dc0)."""
    T, B, n = C.shape
    masked = mask.shape[0] > 0
    dA = np.empty_like(gates)
    UT = np.ascontiguousarray(U.T)
    dh_next, dc_next = dh_T, dc_T
    for t in range(T - 1, -1, -1):
        i = gates[t, :, :n]
        f = gates[t, :, n:2 * n]
        g = gates[t, :, 2 * n:3 * n]
        o = gates[t, :, 3 * n:]
        c_prev = C[t - 1] if t > 0 else c0
        dh_out = dH[t] + dh_next
        dh = dh_out * mask[t] if masked else dh_out            # B1
        dc_in = dc_next * mask[t] if masked else dc_next
        dc = dc_in + dh * o * derivative(PC[t], act)           # B2
        dA[t, :, :n] = dc * g * derivative(i, rec_act)         # B3
        dA[t, :, n:2 * n] = dc * c_prev * derivative(f, rec_act)
        dA[t, :, 2 * n:3 * n] = dc * i * derivative(g, act)
        dA[t, :, 3 * n:] = dh * PC[t] * derivative(o, rec_act)
        dh_next = recurrent_grad(dA[t], UT, R)                  # B4
        if masked:
            dh_next += dh_out - dh
            dc_next = dc * f + (dc_next - dc_in)
        else:
            dc_next = dc * f
    return dA, dh_next, dc_next


@forward_loop.fused
def forward_loop_fused(XW, U, h0, c0, act, rec_act, mask, R):
    """forward_loop for Numba: h_{t-1} U added by BLAS to (a copy of) x_t W + b, the rest in
    simple loops over one row (one sequence) at a time, which vectorise."""
    T, B, width = XW.shape
    n = width // 4
    masked = mask.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    coef = tanh_columns((rec_act, rec_act, act, rec_act), n, XW)   # all four gates in one pass
    fast = coef.shape[1] > 0
    phi = coef[:, 2 * n] if fast else np.zeros(3, XW.dtype)     # phi(c) = phi[1] tanh(phi[0] c) + phi[2]
    gates = XW.copy()                         # x_t W + b, then h_{t-1} U is added in place
    C = np.empty((T, B, n), XW.dtype)
    PC = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    h, c = h0, c0
    for t in range(T):
        add_recurrent_product(h, U, R, gates[t])                    # F1
        for b in range(B):
            row = gates[t, b]
            if fast:                                                # F2: i, f, g, o
                activate_columns(row, coef)
            else:
                activate_inplace(row[:2 * n], rec_act, exact)
                activate_inplace(row[2 * n:3 * n], act, exact)
                activate_inplace(row[3 * n:], rec_act, exact)
            for j in range(n):
                c_new = row[n + j] * c[b, j] + row[j] * row[2 * n + j]          # F3
                pc = phi[1] * tanh_rational(phi[0] * c_new) + phi[2] if fast else value(c_new, act, exact)
                C[t, b, j] = c_new
                PC[t, b, j] = pc
                H[t, b, j] = row[3 * n + j] * pc                    # F4
            if masked:                                              # F5
                m = mask[t, b, 0]
                for j in range(n):
                    C[t, b, j] = c[b, j] + m * (C[t, b, j] - c[b, j])
                    H[t, b, j] = h[b, j] + m * (H[t, b, j] - h[b, j])
        h, c = H[t], C[t]
    return gates, C, PC, H


@backward_loop.fused
def backward_loop_fused(gates, C, PC, c0, U, dH, dh_T, dc_T, act, rec_act, mask, R):
    """backward_loop for Numba: one pass per step, then (da_t) U^T added by BLAS."""
    T, B, n = C.shape
    masked = mask.shape[0] > 0
    dA = np.empty_like(gates)
    dh_next, dc_next = dh_T.copy(), dc_T.copy()
    s_act, act_poly = slope_polynomial(act, gates)
    s_rec, rec_poly = slope_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    for t in range(T - 1, -1, -1):
        c_prev = C[t - 1] if t > 0 else c0
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                i = gates[t, b, j]
                f = gates[t, b, n + j]
                g = gates[t, b, 2 * n + j]
                o = gates[t, b, 3 * n + j]
                pc = PC[t, b, j]
                dh_out = dH[t, b, j] + dh_next[b, j]
                dh = dh_out * m if masked else dh_out               # B1
                dc_in = dc_next[b, j] * m if masked else dc_next[b, j]
                d_pc = polynomial_slope(pc, s_act) if poly else slope(pc, act)
                d_i = polynomial_slope(i, s_rec) if poly else slope(i, rec_act)
                d_f = polynomial_slope(f, s_rec) if poly else slope(f, rec_act)
                d_g = polynomial_slope(g, s_act) if poly else slope(g, act)
                d_o = polynomial_slope(o, s_rec) if poly else slope(o, rec_act)
                dc = dc_in + dh * o * d_pc                          # B2
                dA[t, b, j] = dc * g * d_i                          # B3
                dA[t, b, n + j] = dc * c_prev[b, j] * d_f
                dA[t, b, 2 * n + j] = dc * i * d_g
                dA[t, b, 3 * n + j] = dh * pc * d_o
                dh_next[b, j] = dh_out - dh                         # (1 - m_t)(...), B4
                dc_next[b, j] = dc * f + (dc_next[b, j] - dc_in) if masked else dc * f
        recurrent_grad_into(dA[t], U, R, dh_next, 1.0 if masked else 0.0)   # B4
    return dA, dh_next, dc_next


class LSTMCell(Cell):
    """One LSTM step, run over whole sequences by the kernels above."""

    gates = 4
    gate_names = ("i", "f", "c", "o")
    state_names = ("h", "c")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def initial_bias(self):
        if not self.unit_forget_bias:
            return super().initial_bias()
        n, dt = self.units, self.dtype.name
        return np.concatenate([self.bias_initializer((n,), dtype=dt), np.ones(n, dt),
                               self.bias_initializer((2 * n,), dtype=dt)])

    def forward(self, X, states, mask, R, input_masks=None):
        h0, c0 = states
        gates, C, PC, H = forward_loop(self.project(X, input_masks), self.recurrent_kernel, h0, c0,
                                       self.activation, self.recurrent_activation, mask, R)
        return H, [H[-1], C[-1]], (X, h0, c0, gates, C, PC, H, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates):
        X, h0, c0, gates, C, PC, H, mask, R, input_masks = cache
        dh_T, dc_T = dstates
        dA, dh0, dc0 = backward_loop(gates, C, PC, c0, self.recurrent_kernel, dH, dh_T, dc_T,
                                     self.activation, self.recurrent_activation, mask, R)

        def weight_grads():                                                  # B5
            dW, db = self.kernel_grads(X, dA, input_masks)
            dU = self.recurrent_kernel_grad(self.previous(H, h0), dA, R)
            return [dW, dU, db] if self.use_bias else [dW, dU]
        return self.input_grad(dA, input_masks), [dh0, dc0], weight_grads
