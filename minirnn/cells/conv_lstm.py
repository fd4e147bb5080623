r"""ConvLSTM: an LSTM whose products are convolutions (1-D, 2-D or 3-D frames), gates i, f, c, o.

The same equations as cells/lstm.py with ``*`` a convolution (Keras's cross-correlation,
see minirnn/convolution.py) instead of a matrix product.  Each step reads a frame x_t
(B, S..., C) and carries h_t, c_t (B, O..., F), O the frame size after the input
convolution (its ``strides``, ``padding`` and ``dilation_rate``); the recurrent
convolution is always "same" with stride 1, so h keeps its size:

    F1  [a_i a_f a_c a_o] = W * x_t + U *_same h_{t-1} + b        (blocks of F channels)
    F2  i = sigma(a_i),  f = sigma(a_f),  g = phi(a_c),  o = sigma(a_o)
    F3  c_t = f c_{t-1} + i g
    F4  h_t = o phi(c_t)
    F5  masked steps (m_t = 0) keep both states: s_t = s_{t-1} + m_t (s_new - s_{t-1})

Backward, for t = T..1, from dh_next = dL/dh_T and dc_next = dL/dc_T:

    B1  dh  = m_t (dL/dh_t (output) + dh_next)
    B2  dc  = m_t dc_next + dh o phi'(c_t)
    B3  da_i = dc g sigma'(a_i)      da_f = dc c_{t-1} sigma'(a_f)
        da_c = dc i phi'(a_c)        da_o = dh phi(c_t) sigma'(a_o)
    B4  dc_next = dc f + (1 - m_t) dc_next,
        dh_next = U^T *_same da_t + (1 - m_t)(dL/dh_t + dh_next)     (the convolution's adjoint)
    B5  dW = sum_t x_t (*) da_t,  dU = sum_t h_{t-1} (*) da_t,  db = sum da_t,
        dx_t = W^T * da_t                          (*): the kernel gradient, see convolution.py

W * x_t for every step is one convolution of the T*B frames before the loop (F1's
shared product), and dW, db, dx one each after it (B5); dU is summed over the
steps after the loop from the kept h_t (its patches are made again, one step at a
time, rather than kept: they are k times larger than h).

Shapes: W (k..., C, 4F), U (k..., F, 4F), b (4F,), Keras's.  Under the cell contract
(cells/base.py) the frames and states travel flattened: x_t (B, prod(S) C), h_t
(B, prod(O) F) = (B, units); the cell reshapes them.  Recurrent dropout R_g
(B, prod(O) F) multiplies h_{t-1} before gate g's block of U, input dropout the
frames before each gate's block of W, as for the LSTM.
"""
from typing import NamedTuple

import numpy as np

from .. import initializers
from ..activations import activate, derivative
from ..convolution import Geometry, conv, conv_input_grad, conv_kernel_grad, output_size, patches
from .base import Cell


def _gates(a, F, act, rec_act):
    """F2: the activated [i f g o] of pre-activations a (..., 4F)."""
    gates = np.empty_like(a)
    gates[..., :2 * F] = activate(np.ascontiguousarray(a[..., :2 * F]), rec_act)
    gates[..., 2 * F:3 * F] = activate(np.ascontiguousarray(a[..., 2 * F:3 * F]), act)
    gates[..., 3 * F:] = activate(np.ascontiguousarray(a[..., 3 * F:]), rec_act)
    return gates


def recurrent_conv(h, U, geometry, R):
    """U *_same h, or with recurrent dropout [U_g *_same (h R_g) for each gate g]."""
    if R is None:
        return conv(h, U, geometry)[0]
    F = h.shape[-1]
    return np.concatenate([conv(h * R[g], U[..., g * F:(g + 1) * F], geometry)[0] for g in range(4)], axis=-1)


def recurrent_conv_grad(dA, U, geometry, R):
    """dL/dh of :func:`recurrent_conv` from dA (B, O..., 4F)."""
    if R is None:
        return conv_input_grad(dA, U, geometry)
    F = dA.shape[-1] // 4
    return sum(conv_input_grad(np.ascontiguousarray(dA[..., g * F:(g + 1) * F]), U[..., g * F:(g + 1) * F],
                               geometry) * R[g] for g in range(4))


def forward_loop(XW, U, geometry, h0, c0, act, rec_act, mask, R):
    """F1-F5 over all steps (XW = W * x_t + b, (T, B, O..., 4F)).  Returns (gates, C, phi_C, H)."""
    T = XW.shape[0]
    F = XW.shape[-1] // 4
    gates = np.empty_like(XW)                  # activated [i f g o] per step
    C = np.empty(XW.shape[:-1] + (F,), XW.dtype)     # carried c_t
    phi_C = np.empty_like(C)                   # phi(c_t) before masking, reused by backward
    H = np.empty_like(C)                       # carried h_t
    h, c = h0, c0
    for t in range(T):
        a = XW[t] + recurrent_conv(h, U, geometry, R)              # F1
        gates[t] = _gates(a, F, act, rec_act)                      # F2
        i, f, g, o = (gates[t, ..., k * F:(k + 1) * F] for k in range(4))
        c_new = f * c + i * g                                      # F3
        phi_C[t] = activate(c_new, act)
        h_new = o * phi_C[t]                                       # F4
        if mask is not None:                                       # F5
            h = h + mask[t] * (h_new - h)
            c = c + mask[t] * (c_new - c)
        else:
            h, c = h_new, c_new
        C[t], H[t] = c, h
    return gates, C, phi_C, H


def backward_loop(gates, C, phi_C, c0, U, geometry, dH, dh_T, dc_T, act, rec_act, mask, R):
    """B1-B4 over all steps, last to first.  Returns (dA, dh0, dc0)."""
    T = C.shape[0]
    F = C.shape[-1]
    dA = np.empty_like(gates)
    dh_next, dc_next = dh_T, dc_T
    for t in range(T - 1, -1, -1):
        i, f, g, o = (np.ascontiguousarray(gates[t, ..., k * F:(k + 1) * F]) for k in range(4))
        c_prev = C[t - 1] if t > 0 else c0
        dh_out = dH[t] + dh_next
        dh = dh_out * mask[t] if mask is not None else dh_out          # B1
        dc_in = dc_next * mask[t] if mask is not None else dc_next
        dc = dc_in + dh * o * derivative(phi_C[t], act)                # B2
        dA[t, ..., :F] = dc * g * derivative(i, rec_act)               # B3: da_i
        dA[t, ..., F:2 * F] = dc * c_prev * derivative(f, rec_act)     # da_f
        dA[t, ..., 2 * F:3 * F] = dc * i * derivative(g, act)          # da_c
        dA[t, ..., 3 * F:] = dh * phi_C[t] * derivative(o, rec_act)    # da_o
        dh_next = recurrent_conv_grad(dA[t], U, geometry, R)           # B4
        if mask is not None:
            dh_next += dh_out - dh
            dc_next = dc * f + (dc_next - dc_in)
        else:
            dc_next = dc * f
    return dA, dh_next, dc_next


class ConvLSTMCache(NamedTuple):
    """What forward keeps for backward (time-major, frames unflattened)."""
    X: np.ndarray             # (T, B, D) inputs, flattened frames
    cols: list                # the input convolution's patches, one per dropout block
    h0: np.ndarray            # (B, O..., F) initial states
    c0: np.ndarray
    gates: np.ndarray         # (T, B, O..., 4F) activated [i f g o]
    C: np.ndarray             # (T, B, O..., F) carried c_t
    phi_C: np.ndarray         # phi(c_t)
    H: np.ndarray             # carried h_t
    mask: object              # (T, B, 1...) or None
    R: object                 # (4, B, O..., F) recurrent dropout or None
    input_masks: list         # input dropout, or None


def _tuple(value, rank, argument, cell):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    if len(values) != rank or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                      for v in values):
        raise ValueError(f"{type(cell).__name__}: {argument} must be a positive integer or a tuple of "
                         f"{rank}, received {value!r}")
    return tuple(int(v) for v in values)


class ConvLSTMCell(Cell):
    """One ConvLSTM step of rank ``rank`` (1, 2 or 3 spatial axes), run by the loops above.

    ``units`` is the size of a flattened state, prod(O) * filters, known once
    :meth:`set_frame` has given the frame's shape (before :meth:`build`)."""

    gates = 4
    gate_names = ("i", "f", "g", "o")
    state_names = ("h", "c")
    rank = None
    reads_frames = True       # x_t is a flattened frame of set_frame's shape, not a vector

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 unit_forget_bias=True, **kwargs):
        super().__init__(filters, **kwargs)
        self.filters = self.units
        r = self.rank
        self.kernel_size = _tuple(kernel_size, r, "kernel_size", self)
        self.strides = _tuple(strides, r, "strides", self)
        self.dilation_rate = _tuple(dilation_rate, r, "dilation_rate", self)
        if isinstance(padding, str) and padding.lower() in ("valid", "same"):
            self.padding = padding.lower()
        else:
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', received {padding!r}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{type(self).__name__}: Specifying `strides > 1` is not compatible with "
                             f"`dilation_rate > 1`, "
                             f"received strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.unit_forget_bias = bool(unit_forget_bias)
        self.frame = None

    # -- the frame's geometry --------------------------------------------------------------
    def output_frame(self, sizes):
        """The state's spatial sizes O for frames of spatial sizes `sizes` (None stays None)."""
        return output_size(sizes, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def set_frame(self, sizes, channels):
        """Fix the frame shape (S..., C): the convolutions' padding and ``units``."""
        out = self.output_frame(sizes)
        if any(o is None for o in out) or min(out) <= 0:
            raise ValueError(f"{type(self).__name__}: frames of size {tuple(sizes)} are too small for "
                             f"kernel_size={self.kernel_size} with padding='{self.padding}'")
        self.frame = (tuple(sizes), int(channels))
        self.state_frame = tuple(out) + (self.filters,)
        self.units = int(np.prod(self.state_frame))
        self.input_geometry = Geometry(sizes, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        self.recurrent_geometry = Geometry(out, self.kernel_size, (1,) * self.rank, "same")

    # -- weights -------------------------------------------------------------------------------
    def weight_shapes(self, input_dim):
        channels = self.frame[1]
        width = 4 * self.filters
        shapes = {"kernel": self.kernel_size + (channels, width),
                  "recurrent_kernel": self.kernel_size + (self.filters, width)}
        if self.use_bias:
            shapes["bias"] = (width,)
        return shapes

    def build(self, input_dim):
        if self.frame is None:
            raise ValueError(f"{type(self).__name__}: set_frame(sizes, channels) must come before build")
        expected = int(np.prod(self.frame[0])) * self.frame[1]
        if int(input_dim) != expected:
            raise ValueError(f"{type(self).__name__}: frames of shape {self.frame[0] + (self.frame[1],)} "
                             f"flatten to {expected} values, received input_dim={input_dim}")
        super().build(input_dim)

    def initial_weight(self, name, shape):
        if name != "bias" or not self.unit_forget_bias:
            return super().initial_weight(name, shape)
        F, dt = self.filters, self.dtype.name             # b_f starts at 1, as the LSTM's
        return np.concatenate([self.bias_initializer((F,), dtype=dt), initializers.Ones()((F,), dtype=dt),
                               self.bias_initializer((2 * F,), dtype=dt)])

    # -- layout: flat (contract) <-> frames ---------------------------------------------------
    def _frames(self, X):
        """(T, B, D) -> (T*B, S..., C)."""
        sizes, channels = self.frame
        return X.reshape((-1,) + sizes + (channels,))

    def _state(self, s):
        """(..., B, units) -> (..., B, O..., F)."""
        return s.reshape(s.shape[:-1] + self.state_frame)

    def _flat(self, s):
        return s.reshape(s.shape[:-(self.rank + 1)] + (self.units,))

    def _blocks(self, input_masks):
        """(gate columns, mask) of the input convolution: one block, or one per gate with dropout."""
        if input_masks is None:
            return [(slice(None), None)]
        step = 4 * self.filters // len(input_masks)
        return [(slice(k * step, (k + 1) * step), m) for k, m in enumerate(input_masks)]

    # -- the products outside the time loop (F1, B5) -----------------------------------------
    def project(self, X, input_masks=None):
        """XW = W * x_t + b for every step at once: (T, B, D) -> (T, B, O..., 4F), and the patches."""
        T, B = X.shape[:2]
        parts, cols = [], []
        for block, m in self._blocks(input_masks):
            frames = self._frames(X if m is None else X * m)
            y, c = conv(frames, self.kernel[..., block], self.input_geometry)
            parts.append(y)
            cols.append(c)
        XW = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        if self.use_bias:
            XW += self.bias
        return XW.reshape((T, B) + XW.shape[1:]), cols

    def forward(self, X, states, mask, R, input_masks=None):
        T, B = X.shape[:2]
        h0, c0 = (self._state(s) for s in states)
        mask = None if mask.shape[0] == 0 else mask.reshape((T, B) + (1,) * (self.rank + 1))
        R = None if R.shape[0] == 0 else self._state(R)
        XW, cols = self.project(X, input_masks)
        gates, C, phi_C, H = forward_loop(XW, self.recurrent_kernel, self.recurrent_geometry, h0, c0,
                                          self.activation, self.recurrent_activation, mask, R)
        cache = ConvLSTMCache(X, cols, h0, c0, gates, C, phi_C, H, mask, R, input_masks)
        return self._flat(H), [self._flat(H[-1]), self._flat(C[-1])], cache

    def backward_phases(self, cache, dH, dstates):
        dh_T, dc_T = (self._state(d) for d in dstates)
        dA, dh0, dc0 = backward_loop(cache.gates, cache.C, cache.phi_C, cache.c0, self.recurrent_kernel,
                                     self.recurrent_geometry, self._state(dH), dh_T, dc_T, self.activation,
                                     self.recurrent_activation, cache.mask, cache.R)
        T, B = dA.shape[:2]
        frames = dA.reshape((T * B,) + dA.shape[2:])

        def weight_grads():                                                    # B5
            dW = np.empty_like(self.kernel)
            for (block, _), cols in zip(self._blocks(cache.input_masks), cache.cols):
                dW[..., block] = conv_kernel_grad(cols, np.ascontiguousarray(frames[..., block]),
                                                  self.kernel[..., block].shape)
            grads = dict(kernel=dW, recurrent_kernel=self.recurrent_kernel_grad(cache, dA))
            if self.use_bias:
                grads["bias"] = frames.reshape(-1, frames.shape[-1]).sum(axis=0)
            return grads

        dX = np.zeros(cache.X.shape, dA.dtype)
        for block, m in self._blocks(cache.input_masks):
            dframes = conv_input_grad(np.ascontiguousarray(frames[..., block]), self.kernel[..., block],
                                      self.input_geometry).reshape(cache.X.shape)
            dX += dframes if m is None else dframes * m
        return dX, [self._flat(dh0), self._flat(dc0)], weight_grads

    def recurrent_kernel_grad(self, cache, dA):
        """dU = sum_t h_{t-1} (*) da_t, per gate block with h_{t-1} R_g under recurrent dropout."""
        F, g = self.filters, self.recurrent_geometry
        dU = np.zeros_like(self.recurrent_kernel)
        for t in range(dA.shape[0]):
            h_prev = cache.H[t - 1] if t > 0 else cache.h0
            for k in (range(4) if cache.R is not None else [None]):
                block = slice(None) if k is None else slice(k * F, (k + 1) * F)
                h = h_prev if k is None else h_prev * cache.R[k]
                cols = patches(g.pad(h), g).reshape(-1, dU.shape[-2] * int(np.prod(self.kernel_size)))
                dU[..., block] += conv_kernel_grad(cols, np.ascontiguousarray(dA[t][..., block]),
                                                   dU[..., block].shape)
        return dU


class ConvLSTM1DCell(ConvLSTMCell):
    """ConvLSTM over 1-D frames: x_t (B, steps, C), h_t (B, steps', F)."""
    rank = 1


class ConvLSTM2DCell(ConvLSTMCell):
    """ConvLSTM over 2-D frames: x_t (B, rows, cols, C), h_t (B, rows', cols', F)."""
    rank = 2


class ConvLSTM3DCell(ConvLSTMCell):
    """ConvLSTM over 3-D frames: x_t (B, d1, d2, d3, C), h_t (B, d1', d2', d3', F)."""
    rank = 3
