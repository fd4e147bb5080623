r"""GRU: gated recurrent unit, gates in Keras's order z, r, h, both reset forms.

Forward, for t = 1..T (sigma = ``recurrent_activation``, phi = ``activation``);
W, U and the biases are split column-wise into z, r, h blocks:

  reset_after=True (Keras default; cuDNN-compatible, two biases b and b'):
    F1  [x_z x_r x_h] = x_t W + b,      [m_z m_r m_h] = h_{t-1} U + b'
    F2  z = sigma(x_z + m_z),  r = sigma(x_r + m_r)
    F3  g = phi(x_h + r * m_h)
  reset_after=False (the original GRU, one bias b):
    F1' [x_z x_r x_h] = x_t W + b,      [m_z m_r] = h_{t-1} U_zr
    F2' z = sigma(x_z + m_z),  r = sigma(x_r + m_r)
    F3' g = phi(x_h + (r * h_{t-1}) U_h)
  both:
    F4  h_t = z * h_{t-1} + (1 - z) * g
    F5  masked steps (m_t = 0) keep the state: h_t = h_{t-1} + m_t (h_new - h_{t-1})

Backward, for t = T..1, starting from dh_next = dL/dh_T:

    B1  dh  = m_t (dL/dh_t (output) + dh_next)
    B2  dz  = dh * (h_{t-1} - g),   da_g = dh * (1 - z) * phi'(g)
    B3  da_z = dz * sigma'(z)
  reset_after=True:
    B4  da_r = da_g * m_h * sigma'(r);  dm = [da_z  da_r  da_g * r]
    B5  dh_next = dh * z + dm U^T
    B6  dU = sum_t h_{t-1}^T dm_t,  db' = sum_t dm_t
  reset_after=False:
    B4' d(rh) = da_g U_h^T,   da_r = d(rh) * h_{t-1} * sigma'(r)
    B5' dh_next = dh * z + d(rh) * r + [da_z da_r] U_zr^T
    B6' dU_zr = sum_t h_{t-1}^T [da_z da_r],  dU_h = sum_t (r * h_{t-1})^T da_g
  both:
    B7  dh_next += (1 - m_t)(dL/dh_t + dh_next)       masked steps pass it straight back
    B8  dW = sum_t x_t^T [da_z da_r da_g],  db = sum_t [da_z da_r da_g],  dx_t = [...] W^T

Shapes (time-major): x_t (B, D); h_t and each gate (B, n); W (D, 3n), U (n, 3n);
bias (3n,), or (2, 3n) = [b, b'] when reset_after.  Without a mask m_t = 1; with
recurrent dropout h_{t-1} meets each gate's block of U as h_{t-1} * R_g, also
inside r * h_{t-1} (see cells/base.py), while F4 blends the undropped h_{t-1}.
"""
import numpy as np

from ..activations import (ONE, activate, activate_inplace, derivative, polynomial_slope, slope,
                           slope_polynomial)
from ..backend import kernel
from ..blas import column_sums, gemm
from .base import Cell, add_recurrent_product, recurrent_grad, recurrent_grad_into, recurrent_product


@kernel
def forward_loop(XW, U, b_rec, h0, act, rec_act, reset_after, mask, R):
    """F1-F5 over all steps.  Returns the cache (gates z r g, M_h, H)."""
    T, B, width = XW.shape
    n = width // 3
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr = np.ascontiguousarray(U[:, :2 * n])
    U_h = np.ascontiguousarray(U[:, 2 * n:])
    gates = np.empty_like(XW)
    M_h = np.empty((T, B, n), XW.dtype)        # m_h, which B4 needs (reset_after)
    H = np.empty((T, B, n), XW.dtype)          # carried h_t
    h = h0
    for t in range(T):
        x = XW[t]
        if reset_after:
            m = recurrent_product(h, U, R) + b_rec                  # F1
            z = activate(x[:, :n] + m[:, :n], rec_act)              # F2
            r = activate(x[:, n:2 * n] + m[:, n:2 * n], rec_act)
            m_h = m[:, 2 * n:]
            g = activate(x[:, 2 * n:] + r * m_h, act)               # F3
            M_h[t] = m_h
        else:
            m = recurrent_product(h, U_zr, R[:2])                   # F1'
            z = activate(x[:, :n] + m[:, :n], rec_act)              # F2'
            r = activate(x[:, n:2 * n] + m[:, n:], rec_act)
            h_h = h * R[2] if dropped else h
            g = activate(x[:, 2 * n:] + (r * h_h) @ U_h, act)       # F3'
        h_new = z * h + (g - z * g)                                 # F4
        h = h + mask[t] * (h_new - h) if masked else h_new          # F5
        gates[t, :, :n] = z
        gates[t, :, n:2 * n] = r
        gates[t, :, 2 * n:] = g
        H[t] = h
    return gates, M_h, H


@kernel
def backward_loop(gates, M_h, H, h0, U, dH, dh_T, act, rec_act, reset_after, mask, R):
    """B1-B7 over all steps, last to first.  Returns (dXW, dM, dh0):
    dXW = dL/d(x_t W + b) and dM = dL/d(h_{t-1} U + b') per step."""
    T, B, n = H.shape
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    UT = np.ascontiguousarray(U.T)
    U_zrT = np.ascontiguousarray(U[:, :2 * n].T)
    U_hT = np.ascontiguousarray(U[:, 2 * n:].T)
    dXW = np.empty_like(gates)
    dM = np.empty_like(gates)
    dzr = np.empty((B, 2 * n), H.dtype)
    dh_next = dh_T
    for t in range(T - 1, -1, -1):
        z = gates[t, :, :n]
        r = gates[t, :, n:2 * n]
        g = gates[t, :, 2 * n:]
        h_prev = H[t - 1] if t > 0 else h0
        dh_out = dH[t] + dh_next
        dh = dh_out * mask[t] if masked else dh_out             # B1
        dz = dh * (h_prev - g)                                  # B2
        da_g = (dh - dh * z) * derivative(g, act)
        da_z = dz * derivative(z, rec_act)                      # B3
        dXW[t, :, :n] = da_z
        dXW[t, :, 2 * n:] = da_g
        if reset_after:
            da_r = da_g * M_h[t] * derivative(r, rec_act)       # B4
            dXW[t, :, n:2 * n] = da_r
            dM[t, :, :2 * n] = dXW[t, :, :2 * n]
            dM[t, :, 2 * n:] = da_g * r
            dh_next = dh * z + recurrent_grad(dM[t], UT, R)     # B5
        else:
            h_h = h_prev * R[2] if dropped else h_prev
            drh = da_g @ U_hT                                   # B4'
            da_r = drh * h_h * derivative(r, rec_act)
            dXW[t, :, n:2 * n] = da_r
            dzr[:, :n] = da_z
            dzr[:, n:] = da_r
            dh_h = drh * r * R[2] if dropped else drh * r
            dh_next = dh * z + dh_h + recurrent_grad(dzr, U_zrT, R[:2])   # B5'
        if masked:
            dh_next += dh_out - dh                              # B7
    if not reset_after:
        dM[:] = dXW
    return dXW, dM, dh_next


@forward_loop.fused
def forward_loop_fused(XW, U, b_rec, h0, act, rec_act, reset_after, mask, R):
    """forward_loop for Numba: the h_{t-1} products added by BLAS in place, the rest in
    simple loops over one row (one sequence) at a time, which vectorise."""
    T, B, width = XW.shape
    n = width // 3
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    exact = XW.itemsize == 8                  # float64: exact activations
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    R_zr, R_h = R[:2], R[2:]                  # empty without recurrent dropout
    gates = XW.copy()                         # x_t W + b; z, r, g are written over it
    M_h = np.empty((T, B, n), XW.dtype)
    H = np.empty((T, B, n), XW.dtype)
    m_zr = np.empty((B, 2 * n), XW.dtype)     # [m_z m_r]
    rh = np.empty((B, n), XW.dtype)           # r * h_{t-1} (reset_after=False)
    h = h0
    for t in range(T):
        for b in range(B):
            for k in range(2 * n):
                m_zr[b, k] = b_rec[k]
        add_recurrent_product(h, U_zr, R_zr, m_zr)                  # F1 / F1'
        if reset_after:
            for b in range(B):
                for j in range(n):
                    M_h[t, b, j] = b_rec[2 * n + j]
            add_recurrent_product(h, U_h, R_h, M_h[t])
        for b in range(B):
            row = gates[t, b]
            for k in range(2 * n):
                row[k] += m_zr[b, k]
            activate_inplace(row[:2 * n], rec_act, exact)          # F2 / F2': z, r
            if reset_after:
                for j in range(n):
                    row[2 * n + j] += row[n + j] * M_h[t, b, j]     # F3 (before phi)
                activate_inplace(row[2 * n:], act, exact)
            else:
                for j in range(n):
                    rh[b, j] = row[n + j] * (h[b, j] * R[2, b, j] if dropped else h[b, j])
        if not reset_after:
            gemm(rh, U_h, gates[t, :, 2 * n:], 1.0)                 # F3' (before phi)
            for b in range(B):
                activate_inplace(gates[t, b, 2 * n:], act, exact)
        for b in range(B):
            row = gates[t, b]
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                z, g = row[j], row[2 * n + j]
                h_new = z * h[b, j] + (g - z * g)                   # F4
                H[t, b, j] = h[b, j] + m * (h_new - h[b, j]) if masked else h_new   # F5
        h = H[t]
    return gates, M_h, H


@backward_loop.fused
def backward_loop_fused(gates, M_h, H, h0, U, dH, dh_T, act, rec_act, reset_after, mask, R):
    """backward_loop for Numba: one pass per step, the products with U^T added by BLAS."""
    T, B, n = H.shape
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    dXW = np.empty_like(gates)
    dM = np.empty_like(gates)
    da_g = np.empty((B, n), H.dtype)
    drh = np.empty((B, n), H.dtype)           # d(r h_{t-1}) (reset_after=False)
    dh_next = dh_T.copy()
    s_act, act_poly = slope_polynomial(act, gates)
    s_rec, rec_poly = slope_polynomial(rec_act, gates)
    poly = act_poly and rec_poly              # slopes without branches in the inner loop
    for t in range(T - 1, -1, -1):
        h_prev = H[t - 1] if t > 0 else h0
        for b in range(B):
            m = mask[t, b, 0] if masked else ONE
            for j in range(n):
                z, r, g = gates[t, b, j], gates[t, b, n + j], gates[t, b, 2 * n + j]
                dh_out = dH[t, b, j] + dh_next[b, j]
                dh = dh_out * m if masked else dh_out               # B1
                dz = dh * (h_prev[b, j] - g)                        # B2
                dg = (dh - dh * z) * (polynomial_slope(g, s_act) if poly else slope(g, act))
                da_z = dz * (polynomial_slope(z, s_rec) if poly else slope(z, rec_act))   # B3
                dXW[t, b, j] = da_z
                dXW[t, b, 2 * n + j] = dg
                da_g[b, j] = dg
                dh_next[b, j] = dh * z + (dh_out - dh)              # B5 / B5' direct part, B7
                if reset_after:
                    d_r = polynomial_slope(r, s_rec) if poly else slope(r, rec_act)
                    da_r = dg * M_h[t, b, j] * d_r                  # B4
                    dXW[t, b, n + j] = da_r
                    dM[t, b, j] = da_z
                    dM[t, b, n + j] = da_r
                    dM[t, b, 2 * n + j] = dg * r
        if reset_after:
            recurrent_grad_into(dM[t], U, R, dh_next, 1.0)          # B5
        else:
            gemm(da_g, U_h.T, drh, 0.0)                             # B4'
            for b in range(B):
                for j in range(n):
                    r = gates[t, b, n + j]
                    h_h = h_prev[b, j] * R[2, b, j] if dropped else h_prev[b, j]
                    d_r = polynomial_slope(r, s_rec) if poly else slope(r, rec_act)
                    dXW[t, b, n + j] = drh[b, j] * h_h * d_r
                    dh_next[b, j] += drh[b, j] * r * R[2, b, j] if dropped else drh[b, j] * r
            recurrent_grad_into(dXW[t, :, :2 * n], U_zr, R[:2], dh_next, 1.0)   # B5'
    if not reset_after:
        dM = dXW.copy()
    return dXW, dM, dh_next


class GRUCell(Cell):
    """One GRU step, run over whole sequences by the kernels above."""

    gates = 3
    gate_names = ("z", "r", "h")
    state_names = ("h",)

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        if not self.use_bias:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def recurrent_bias(self):
        if self.use_bias and self.reset_after:
            return self.bias[1]
        return np.zeros(3 * self.units, self.dtype)

    def forward(self, X, states, mask, R, input_masks=None):
        (h0,) = states
        gates, M_h, H = forward_loop(self.project(X, input_masks), self.recurrent_kernel, self.recurrent_bias(),
                                     h0, self.activation, self.recurrent_activation, self.reset_after, mask, R)
        return H, [H[-1]], (X, h0, gates, M_h, H, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates):
        X, h0, gates, M_h, H, mask, R, input_masks = cache
        (dh_T,) = dstates
        dXW, dM, dh0 = backward_loop(gates, M_h, H, h0, self.recurrent_kernel, dH, dh_T, self.activation,
                                     self.recurrent_activation, self.reset_after, mask, R)

        def weight_grads():
            dW, db = self.kernel_grads(X, dXW, input_masks)                 # B8
            H_prev = self.previous(H, h0)
            n = self.units
            if self.reset_after:
                dU = self.recurrent_kernel_grad(H_prev, dM, R)            # B6
                db = np.stack([db, column_sums(dM.reshape(-1, 3 * n))])
            else:
                r = gates[:, :, n:2 * n]
                h_h = H_prev * R[2] if R.shape[0] else H_prev
                dU = np.concatenate([self.recurrent_kernel_grad(H_prev, dXW[:, :, :2 * n], R[:2]),   # B6'
                                     self.outer(r * h_h, dXW[:, :, 2 * n:])], axis=1)
            return [dW, dU, db] if self.use_bias else [dW, dU]
        return self.input_grad(dXW, input_masks), [dh0], weight_grads
