"""Merge layers: several inputs in, one output out.

Called on a list ``[x_1, ..., x_n]``; ``backward(dy)`` returns ``[dx_1, ..., dx_n]``.
Element-wise merges broadcast like NumPy (and sum dy back over broadcast axes):

    Add       y = sum_i x_i                   dx_i = dy
    Subtract  y = x_1 - x_2                   dx_1 = dy, dx_2 = -dy
    Multiply  y = prod_i x_i                  dx_i = dy * prod_{j != i} x_j
    Average   y = (1/n) sum_i x_i             dx_i = dy / n
    Maximum   y = max_i x_i                   dx_i = dy where x_i is the first maximum, else 0
    Minimum   y = min_i x_i                   (same with the first minimum)

    Concatenate(axis)   y = [x_1 | ... | x_n] along axis     dx_i = dy's slice of x_i
    Dot(axes)           y[b] = sum_k x_1[b, .., k, ..] x_2[b, .., k, ..]  (batch-wise dot product)
                        dX_1 = dY Y_2^T,  dX_2 = X_1^T dY  on the folded (batch, rows, k) views

Masks (Keras's rules): element-wise merges keep the OR of the input masks when every input has
one (else none); Concatenate keeps, per step, whether any concatenated part is unmasked; Dot
drops the mask.
"""
import numpy as np

from .base import Layer, format_shape


def _unbroadcast(g, shape):
    """Sum `g` over the axes that broadcasting added or stretched to reach it from `shape`."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


class Merge(Layer):
    """Base of the merge layers: a list of at least ``min_inputs`` inputs (exactly
    ``max_inputs`` when set) of broadcast-compatible shapes."""

    supports_masking = True
    min_inputs, max_inputs = 2, None

    def _check_count(self, n):
        what = f"Layer '{self.name}' ({type(self).__name__})"
        if self.max_inputs == self.min_inputs and n != self.min_inputs:
            raise ValueError(f"{what} should be called on a list of exactly {self.min_inputs} inputs, "
                             f"received {n}")
        if n < self.min_inputs:
            raise ValueError(f"{what} should be called on a list of at least {self.min_inputs} inputs, "
                             f"received {n}")

    def __call__(self, inputs, training=False):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) should be called on a list of "
                             f"inputs, received {type(inputs).__name__}")
        self._check_count(len(inputs))
        xs = [self.check_input(x) for x in inputs]
        self.ensure_built([x.shape for x in xs])
        return self.call(xs, training=training)

    def build(self, input_shape):
        shapes = list(input_shape)
        if not shapes or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) should be called on a list of "
                             f"inputs, received shape {input_shape}")
        self._check_count(len(shapes))
        self.compute_output_shape(shapes)           # validates the shapes
        self.built = True

    def compute_output_shape(self, input_shape):
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            a, b = list(out), list(shape)
            if len(a) < len(b):
                a, b = b, a
            b = [1] * (len(a) - len(b)) + b
            merged = []
            for x, y in zip(a, b):
                if x is None or y is None:
                    merged.append(y if x in (None, 1) else x)
                elif x == y or y == 1 or x == 1:
                    merged.append(max(x, y))
                else:
                    raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) cannot merge inputs of "
                                     f"shapes {[format_shape(s) for s in input_shape]}: they do not "
                                     f"broadcast")
            out = merged
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or any(m is None for m in mask):
            return None
        return np.logical_or.reduce([np.asarray(m, bool) for m in mask])

    def call(self, xs, training=False):
        y = self.merge(xs)
        self._cache = ([x.shape for x in xs], xs) if training else None
        return y

    def backward(self, dy):
        shapes, xs = self.saved()
        dy = self.check_gradient(dy, np.broadcast_shapes(*shapes))
        return [_unbroadcast(g, shape) for g, shape in zip(self.input_gradients(dy, xs), shapes)]

    def merge(self, xs):
        raise NotImplementedError

    def input_gradients(self, dy, xs):
        raise NotImplementedError


class Add(Merge):
    """y = x_1 + ... + x_n."""

    def merge(self, xs):
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y = y + x
        return y

    def input_gradients(self, dy, xs):
        return [dy] * len(xs)


class Subtract(Merge):
    """y = x_1 - x_2."""

    max_inputs = 2

    def merge(self, xs):
        return xs[0] - xs[1]

    def input_gradients(self, dy, xs):
        return [dy, -dy]


class Multiply(Merge):
    """y = x_1 * ... * x_n (element-wise)."""

    def merge(self, xs):
        y = xs[0] * xs[1]
        for x in xs[2:]:
            y = y * x
        return y

    def input_gradients(self, dy, xs):
        grads = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


class Average(Merge):
    """y = (x_1 + ... + x_n) / n."""

    def merge(self, xs):
        return Add.merge(self, xs) / self.dtype_type(len(xs))

    def input_gradients(self, dy, xs):
        return [dy / self.dtype_type(len(xs))] * len(xs)

    @property
    def dtype_type(self):
        return np.dtype(self.dtype).type


class _Extremum(Merge):
    """The element-wise max (min) of the inputs; its gradient goes to the first input holding it."""

    pick = None

    def merge(self, xs):
        return type(self).pick.reduce(np.broadcast_arrays(*xs))

    def input_gradients(self, dy, xs):
        stacked = np.stack(np.broadcast_arrays(*xs))
        winner = (np.argmax if type(self).pick is np.maximum else np.argmin)(stacked, axis=0)
        return [np.where(winner == i, dy, 0).astype(dy.dtype) for i in range(len(xs))]


class Maximum(_Extremum):
    """y = max(x_1, ..., x_n), element-wise."""

    pick = np.maximum


class Minimum(_Extremum):
    """y = min(x_1, ..., x_n), element-wise."""

    pick = np.minimum


class Concatenate(Merge):
    """y = the inputs joined along `axis` (default the last); the other axes must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"Layer '{self.name}' (Concatenate): axis must be an integer, received {axis!r}")
        self.axis = int(axis)

    def _axis(self, ndim):
        axis = self.axis % ndim if -ndim <= self.axis < ndim else None
        if axis is None or axis == 0:
            raise ValueError(f"Layer '{self.name}' (Concatenate): axis {self.axis} is not a feature axis of "
                             f"inputs of rank {ndim}")
        return axis

    def compute_output_shape(self, input_shape):
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"Layer '{self.name}' (Concatenate) needs inputs of one rank, received shapes "
                             f"{[format_shape(s) for s in input_shape]}")
        axis = self._axis(ranks.pop())
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            for k, (a, b) in enumerate(zip(out, shape)):
                if k == axis:
                    out[k] = None if a is None or b is None else a + b
                elif a is not None and b is not None and a != b:
                    raise ValueError(f"Layer '{self.name}' (Concatenate) needs inputs whose shapes match "
                                     f"except on the concatenation axis ({self.axis}), received shapes "
                                     f"{[format_shape(s) for s in input_shape]}")
                elif a is None:
                    out[k] = b
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        parts = []
        for x, m in zip(inputs, mask):
            shape = np.shape(x)
            m = np.ones(shape, bool) if m is None else np.asarray(m, bool)
            parts.append(np.broadcast_to(m[..., None], shape) if m.ndim < len(shape) else m)
        return np.concatenate(parts, axis=self.axis).any(axis=-1)

    def merge(self, xs):
        return np.concatenate(xs, axis=self.axis)

    def backward(self, dy):
        shapes, _ = self.saved()
        axis = self._axis(len(shapes[0]))
        expected = list(shapes[0])
        expected[axis] = sum(s[axis] for s in shapes)
        dy = self.check_gradient(dy, expected)
        edges = np.cumsum([s[axis] for s in shapes])[:-1]
        return [np.ascontiguousarray(part) for part in np.split(dy, edges, axis=axis)]

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class Dot(Merge):
    """Batch-wise dot product of two inputs over ``axes`` (one axis for both, or a pair);
    ``normalize=True`` takes the cosine: each input divided by its L2 norm along its axis,
    x / sqrt(max(sum x^2, 1e-12)).  A result with no axis left but the batch gets one of size 1."""

    min_inputs = max_inputs = 2
    EPSILON = 1e-12

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = list(axes) if isinstance(axes, (list, tuple)) else [axes, axes]
        if len(pair) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in pair):
            raise ValueError(f"Layer '{self.name}' (Dot): axes must be an integer or a pair of integers, "
                             f"received {axes!r}")
        self.axes = axes if isinstance(axes, (int, np.integer)) else [int(a) for a in pair]
        self._pair = [int(a) for a in pair]
        self.normalize = bool(normalize)

    def _resolved(self, shapes):
        axes = []
        for a, shape in zip(self._pair, shapes):
            if not -len(shape) <= a < len(shape) or a % len(shape) == 0:
                raise ValueError(f"Layer '{self.name}' (Dot): axis {a} is not a feature axis of an input of "
                                 f"shape {format_shape(shape)}")
            axes.append(a % len(shape))
        return axes

    def compute_output_shape(self, input_shape):
        s1, s2 = (list(s) for s in input_shape)
        a1, a2 = self._resolved([s1, s2])
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"Layer '{self.name}' (Dot) contracts axis {a1} of {format_shape(s1)} with axis "
                             f"{a2} of {format_shape(s2)}: their sizes differ")
        rest = s1[1:a1] + s1[a1 + 1:] + s2[1:a2] + s2[a2 + 1:]
        return (s1[0],) + tuple(rest or [1])

    def compute_mask(self, inputs, mask=None):
        return None

    def _normalized(self, x, axis):
        norm = np.sqrt(np.maximum((x * x).sum(axis=axis, keepdims=True), self.EPSILON))
        return x / norm, norm

    def call(self, xs, training=False):
        x1, x2 = xs
        a1, a2 = self._resolved([x1.shape, x2.shape])
        norms = None
        if self.normalize:
            (x1, n1), (x2, n2) = self._normalized(x1, a1), self._normalized(x2, a2)
            norms = (n1, n2)
        X = np.moveaxis(x1, a1, -1)                          # (B, rows..., K)
        Y = np.moveaxis(x2, a2, 1)                           # (B, K, cols...)
        B, K = X.shape[0], X.shape[-1]
        out = np.matmul(X.reshape(B, -1, K), Y.reshape(B, K, -1))         # (B, rows, cols)
        y = out.reshape((B,) + (X.shape[1:-1] + Y.shape[2:] or (1,)))
        self._cache = (X, Y, (a1, a2), norms, y.shape) if training else None
        return y

    def backward(self, dy):
        X, Y, (a1, a2), norms, y_shape = self.saved()
        dy = self.check_gradient(dy, y_shape)
        B, K = X.shape[0], X.shape[-1]
        d = dy.reshape(B, X.reshape(B, -1, K).shape[1], -1)
        dX = np.matmul(d, np.swapaxes(Y.reshape(B, K, -1), 1, 2)).reshape(X.shape)
        dY = np.matmul(np.swapaxes(X.reshape(B, -1, K), 1, 2), d).reshape(Y.shape)
        dx1, dx2 = np.moveaxis(dX, -1, a1), np.moveaxis(dY, 1, a2)
        if norms is not None:                     # through x / |x|: (dx_hat - x_hat sum(dx_hat x_hat)) / |x|
            x1_hat, x2_hat = np.moveaxis(X, -1, a1), np.moveaxis(Y, 1, a2)
            dx1 = self._through_norm(dx1, x1_hat, norms[0], a1)
            dx2 = self._through_norm(dx2, x2_hat, norms[1], a2)
        return [np.ascontiguousarray(dx1), np.ascontiguousarray(dx2)]

    def _through_norm(self, d_hat, x_hat, norm, axis):
        clipped = (norm * norm) <= self.EPSILON          # the norm is the constant floor there
        radial = np.where(clipped, 0, (d_hat * x_hat).sum(axis=axis, keepdims=True))
        return (d_hat - x_hat * radial) / norm

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, normalize=self.normalize)
        return config


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``, Keras's functional shortcut."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
