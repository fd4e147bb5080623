r"""GRU: gated recurrent unit, gates in Keras's order z, r, h, both reset forms.

What runs: ``forward_loop`` and ``backward_loop`` below are the reference, in NumPy.
With the default numba backend, Numba compiles their fused twins in
``minirnn/kernels/gru.py`` instead (the same equations, one element at a time,
products by BLAS in place; tests/test_backends.py checks both give the same
numbers).  ``minirnn.set_backend("numpy")`` runs the code below.

Forward, for t = 1..T (sigma = ``recurrent_activation``, phi = ``activation``);
W, U and the biases are split column-wise into z, r, h blocks, and hU_k names
block k of h_{t-1} U (plus the recurrent bias b'):

  reset_after=True (Keras default; cuDNN-compatible, two biases b and b'):
    F1  [x_z x_r x_h] = x_t W + b,      [hU_z hU_r hU_h] = h_{t-1} U + b'
    F2  z = sigma(x_z + hU_z),  r = sigma(x_r + hU_r)
    F3  g = phi(x_h + r * hU_h)
  reset_after=False (the original GRU, one bias b):
    F1' [x_z x_r x_h] = x_t W + b,      [hU_z hU_r] = h_{t-1} U_zr
    F2' z = sigma(x_z + hU_z),  r = sigma(x_r + hU_r)
    F3' g = phi(x_h + (r * h_{t-1}) U_h)
  both:
    F4  h_t = z * h_{t-1} + (1 - z) * g
    F5  masked steps (m_t = 0) keep the state: h_t = h_{t-1} + m_t (h_new - h_{t-1})

Backward, for t = T..1, starting from dh_next = dL/dh_T:

    B1  dh  = m_t (dL/dh_t (output) + dh_next)
    B2  dz  = dh * (h_{t-1} - g),   da_g = dh * (1 - z) * phi'(g)
    B3  da_z = dz * sigma'(z)
  reset_after=True:
    B4  da_r = da_g * hU_h * sigma'(r);  dhU = [da_z  da_r  da_g * r]
    B5  dh_next = dh * z + dhU U^T
    B6  dU = sum_t h_{t-1}^T dhU_t,  db' = sum_t dhU_t
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
from typing import NamedTuple

import numpy as np

from ..activations import activate, derivative
from ..backend import kernel
from ..blas import gemm
from .base import Cell, recurrent_grad_into, recurrent_product_into


@kernel(bitwise=True)
def forward_loop(XW, U, b_rec, h0, act, rec_act, reset_after, mask, R):
    """F1-F5 over all steps; XW holds x_t W + b and is overwritten by the activated gates.
    Returns the cache (gates z r g, HU_h, H)."""
    T, B, width = XW.shape
    n = width // 3
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    gates = XW                                 # activated [z r g] replace x_t W + b, step by step
    HU_h = np.empty((T, B, n), XW.dtype)       # hU_h per step, which B4 needs (reset_after)
    H = np.empty((T, B, n), XW.dtype)          # carried h_t
    hU = np.empty((B, width), XW.dtype)
    rhU = np.empty((B, n), XW.dtype)           # (r * h_{t-1}) U_h (reset_after=False)
    h = h0
    for t in range(T):
        x_z, x_r, x_h = XW[t, :, :n], XW[t, :, n:2 * n], XW[t, :, 2 * n:]
        if reset_after:
            recurrent_product_into(h, U, R, hU)
            hU += b_rec                                             # F1
            z = activate(x_z + hU[:, :n], rec_act)                  # F2
            r = activate(x_r + hU[:, n:2 * n], rec_act)
            g = activate(x_h + r * hU[:, 2 * n:], act)              # F3
            HU_h[t] = hU[:, 2 * n:]
        else:
            recurrent_product_into(h, U_zr, R[:2], hU[:, :2 * n])        # F1'
            z = activate(x_z + hU[:, :n], rec_act)                  # F2'
            r = activate(x_r + hU[:, n:2 * n], rec_act)
            h_h = h * R[2] if dropped else h
            gemm(r * h_h, U_h, rhU, 0.0)
            g = activate(x_h + rhU, act)                            # F3'
        h_new = z * h + (1 - z) * g                                 # F4
        h = h + mask[t] * (h_new - h) if masked else h_new          # F5
        gates[t, :, :n] = z
        gates[t, :, n:2 * n] = r
        gates[t, :, 2 * n:] = g
        H[t] = h
    return gates, HU_h, H


@kernel(bitwise=True)
def backward_loop(gates, HU_h, H, h0, U, dH, dh_T, act, rec_act, reset_after, mask, R):
    """B1-B7 over all steps, last to first.  Returns (dXW, dHU, dh0):
    dXW = dL/d(x_t W + b) and dHU = dL/d(h_{t-1} U + b') per step."""
    T, B, n = H.shape
    masked = mask.shape[0] > 0
    dropped = R.shape[0] > 0
    U_zr, U_h = U[:, :2 * n], U[:, 2 * n:]
    dXW = np.empty_like(gates)
    dHU = np.empty_like(gates)
    drh = np.empty((B, n), H.dtype)
    grad = np.empty((B, n), H.dtype)
    dh_next = dh_T.copy()
    for t in range(T - 1, -1, -1):
        z = gates[t, :, :n]
        r = gates[t, :, n:2 * n]
        g = gates[t, :, 2 * n:]
        h_prev = H[t - 1] if t > 0 else h0
        dh_out = dH[t] + dh_next
        dh = dh_out * mask[t] if masked else dh_out             # B1
        dz = dh * (h_prev - g)                                  # B2
        da_g = dh * (1 - z) * derivative(g, act)
        da_z = dz * derivative(z, rec_act)                      # B3
        dXW[t, :, :n] = da_z
        dXW[t, :, 2 * n:] = da_g
        if reset_after:
            da_r = da_g * HU_h[t] * derivative(r, rec_act)      # B4
            dXW[t, :, n:2 * n] = da_r
            dHU[t, :, :2 * n] = dXW[t, :, :2 * n]
            dHU[t, :, 2 * n:] = da_g * r
            recurrent_grad_into(dHU[t], U, R, grad)
            dh_next = dh * z + grad                             # B5
        else:
            h_h = h_prev * R[2] if dropped else h_prev
            gemm(dXW[t, :, 2 * n:], U_h.T, drh, 0.0)            # B4'
            dXW[t, :, n:2 * n] = drh * h_h * derivative(r, rec_act)
            recurrent_grad_into(dXW[t, :, :2 * n], U_zr, R[:2], grad)
            dh_h = drh * r * R[2] if dropped else drh * r
            dh_next = dh * z + dh_h + grad                      # B5'
        if masked:
            dh_next += dh_out - dh                              # B7
    if not reset_after:
        dHU[:] = dXW
    return dXW, dHU, dh_next


class GRUCache(NamedTuple):
    """What forward keeps for backward (time-major)."""
    X: np.ndarray             # (T, B, D) inputs
    h0: np.ndarray            # (B, n) initial state
    gates: np.ndarray         # (T, B, 3n) activated [z r g]
    HU_h: np.ndarray          # (T, B, n) hU_h (reset_after; unused otherwise)
    H: np.ndarray             # (T, B, n) carried h_t
    mask: np.ndarray          # (T, B, 1) or empty
    R: np.ndarray             # (3, B, n) recurrent dropout or empty
    input_masks: list         # input dropout, or None


class GRUCell(Cell):
    """One GRU step, run over whole sequences by the loops above."""

    gates = 3
    skips_input_grad = True
    gate_names = ("z", "r", "g")
    state_names = ("h",)

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def weight_shapes(self, input_dim):
        shapes = super().weight_shapes(input_dim)
        if self.use_bias and self.reset_after:
            shapes["bias"] = (2, 3 * self.units)         # [b, b']
        return shapes

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
        gates, HU_h, H = forward_loop(self.project(X, input_masks), self.recurrent_kernel, self.recurrent_bias(),
                                      h0, self.activation, self.recurrent_activation, self.reset_after, mask, R)
        return H, [H[-1]], GRUCache(X, h0, gates, HU_h, H, mask, R, input_masks)

    def backward_phases(self, cache, dH, dstates, input_grad=True):
        (dh_T,) = dstates
        R = cache.R
        dXW, dHU, dh0 = backward_loop(cache.gates, cache.HU_h, cache.H, cache.h0, self.recurrent_kernel_by_columns(),
                                      dH, dh_T, self.activation, self.recurrent_activation, self.reset_after,
                                      cache.mask, R)

        def weight_grads():
            dW, db = self.kernel_grads(cache.X, dXW, cache.input_masks)         # B8
            n = self.units
            if self.reset_after:
                dU = self.recurrent_kernel_grad_from_states(cache.H, cache.h0, dHU, R)     # B6
                db = np.stack([db, self.sum_over_steps(dHU)])
            else:
                r = cache.gates[:, :, n:2 * n]
                H_prev = self.previous(cache.H, cache.h0)
                h_h = H_prev * R[2] if R.shape[0] else H_prev
                dU = np.concatenate([self.recurrent_kernel_grad(H_prev, dXW[:, :, :2 * n], R[:2]),   # B6'
                                     self.outer(r * h_h, dXW[:, :, 2 * n:])], axis=1)
            return dict(kernel=dW, recurrent_kernel=dU, bias=db)
        return self.input_grad(dXW, cache.input_masks, input_grad), [dh0], weight_grads
