r"""N-D convolution (Keras's cross-correlation) as one gather and one product, and its adjoint.

Channels-last arrays x (N, S_1..S_r, C), kernel K (k_1..k_r, C, F).  Padded to xp by
:func:`window_padding` (TensorFlow's "valid", "same" and "causal" rules, per axis):

    P[n, o, j, c] = xp[n, o s + j d, c]                 o, j, s, d: r-tuples (a strided view)
    y[n, o, f]    = sum_{j, c} P[n, o, j, c] K[j, c, f]

Backward, from dy:

    dK  = P^T dy                   (P flattened to (N * prod(O), prod(k) * C))
    dP  = dy K^T,   dxp[n, o s + j d, c] += dP[n, o, j, c]      (one strided slice per tap j)
    dx  = dxp without the padding

Pooling uses the same windows (:func:`patches`) over each channel.
"""
import itertools

import numpy as np


def window_padding(length, window, stride, padding, dilation=1):
    """(pad_left, pad_right, output_length) of a 1-D sliding window, as TensorFlow computes them.

    valid:  no padding, out = floor((L - (w-1) d - 1) / s) + 1
    same:   out = ceil(L / s), total = max((out-1) s + (w-1) d + 1 - L, 0), left = total // 2
    causal: left = (w-1) d, then valid
    """
    span = (window - 1) * dilation + 1
    if padding == "same":
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
        return total // 2, total - total // 2, out
    left = span - 1 if padding == "causal" else 0
    return left, 0, (length + left - span) // stride + 1


def output_size(sizes, window, strides, padding, dilation=None):
    """The output's spatial sizes (None stays None) for input `sizes`."""
    dilation = dilation or (1,) * len(sizes)
    return tuple(None if n is None else window_padding(n, k, s, padding, d)[2]
                 for n, k, s, d in zip(sizes, window, strides, dilation))


class Geometry:
    """The padding and output sizes of one convolution or pooling on spatial `sizes`."""

    def __init__(self, sizes, window, strides, padding, dilation=None):
        dilation = tuple(dilation or (1,) * len(sizes))
        pads = [window_padding(n, k, s, padding, d) for n, k, s, d in zip(sizes, window, strides, dilation)]
        self.sizes, self.window, self.strides, self.dilation = tuple(sizes), tuple(window), tuple(strides), dilation
        self.pads = [(left, right) for left, right, _ in pads]
        self.out = tuple(out for _, _, out in pads)
        self.padded = tuple(n + left + right for n, (left, right) in zip(sizes, self.pads))

    def pad(self, x, value=0.0):
        """x (N, *sizes, C) padded on its spatial axes (with `value`)."""
        if not any(left or right for left, right in self.pads):
            return x
        return np.pad(x, [(0, 0)] + self.pads + [(0, 0)], constant_values=value)

    def crop(self, dxp):
        """The inverse of :meth:`pad` for gradients: the unpadded part of dxp."""
        index = (slice(None),) + tuple(slice(left, left + n) for (left, _), n in zip(self.pads, self.sizes))
        return np.ascontiguousarray(dxp[index])


def patches(xp, geometry):
    """The read-only view P[n, o_1..o_r, j_1..j_r, c] = xp[n, o s + j d, c] of padded xp."""
    g = geometry
    strides = xp.strides
    spatial = strides[1:-1]
    return np.lib.stride_tricks.as_strided(
        xp, shape=(xp.shape[0],) + g.out + g.window + (xp.shape[-1],),
        strides=(strides[0],) + tuple(st * s for st, s in zip(spatial, g.strides))
        + tuple(st * d for st, d in zip(spatial, g.dilation)) + (strides[-1],), writeable=False)


def scatter_patches(dP, geometry):
    """The adjoint of :func:`patches`: dxp[n, o s + j d, c] += dP[n, o, j, c], one slice per tap j."""
    g = geometry
    r = len(g.out)
    dxp = np.zeros((dP.shape[0],) + g.padded + (dP.shape[-1],), dP.dtype)
    for taps in itertools.product(*(range(k) for k in g.window)):
        index = (slice(None),) + tuple(slice(j * d, j * d + s * (o - 1) + 1, s)
                                       for j, d, s, o in zip(taps, g.dilation, g.strides, g.out))
        dxp[index] += dP[(slice(None),) * (r + 1) + taps]
    return dxp


def conv(x, kernel, geometry):
    """y (N, *out, F) and the flattened patches P (kept for the kernel's gradient)."""
    N, F = x.shape[0], kernel.shape[-1]
    cols = patches(geometry.pad(x), geometry).reshape(N * int(np.prod(geometry.out)), -1)   # copies
    y = cols @ kernel.reshape(-1, F)
    return y.reshape((N,) + geometry.out + (F,)), cols


def conv_input_grad(dy, kernel, geometry):
    """dL/dx of :func:`conv` from dy (N, *out, F)."""
    F = kernel.shape[-1]
    dP = (dy.reshape(-1, F) @ kernel.reshape(-1, F).T).reshape(dy.shape[:-1] + kernel.shape[:-1])
    return geometry.crop(scatter_patches(dP, geometry))


def conv_kernel_grad(cols, dy, kernel_shape):
    """dL/dK = P^T dy of :func:`conv` (cols: its flattened patches)."""
    return (cols.T @ dy.reshape(-1, kernel_shape[-1])).reshape(kernel_shape)
