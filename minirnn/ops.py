"""Array operations under ``keras.ops``'s names, in NumPy, each with its gradient beside it.

    Lambda(lambda x: ops.expand_dims(x, axis=-1))
    Lambda(lambda x: ops.mean(ops.square(x), axis=1))

Every op takes and returns NumPy arrays.  Inside a ``Lambda`` its gradient comes from the rule
written next to it (``d…`` below is the gradient of the loss, as in the layers): the layer calls
the function once on a :class:`Traced` input, each op records its inputs and a vector-Jacobian
product, and :func:`vjp` runs those rules backwards.  A function that mixes in plain NumPy calls
cannot be traced (NumPy refuses a :class:`Traced`); the Lambda then falls back to its other
gradient methods, for which the element-wise ops also accept complex input (complex-step
derivatives) and the re-arranging ops index arrays.

Same as ``keras.ops``, except: results are NumPy arrays, not backend tensors; gradients at
kinks follow TensorFlow (``relu'(0) = 0``, ``abs'(0) = 0``, ``max`` shares its gradient among
ties, ``clip`` passes it at the bounds); ``cast`` of a complex input to a float type keeps it
complex (so complex-step derivatives pass through).
"""
import builtins

import numpy as np

from . import registry


class Traced:
    """An array that remembers how it was computed from a :func:`vjp` input: ``links`` are
    ``(parent, rule)`` pairs, ``rule(dy)`` giving the gradient of the parent."""

    __array_ufunc__ = None           # NumPy functions refuse it: only minirnn.ops are traced

    def __init__(self, value, links=()):
        self.value, self.links = value, links

    def __array__(self, *args, **kwargs):
        raise TypeError("a traced array only goes through minirnn.ops functions")

    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    dtype = property(lambda self: self.value.dtype)
    size = property(lambda self: self.value.size)

    def __len__(self):
        return len(self.value)

    def __getitem__(self, index):
        return _getitem(self, index)

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return subtract(self, other)

    def __rsub__(self, other):
        return subtract(other, self)

    def __mul__(self, other):
        return multiply(self, other)

    def __rmul__(self, other):
        return multiply(other, self)

    def __truediv__(self, other):
        return divide(self, other)

    def __rtruediv__(self, other):
        return divide(other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return negative(self)

    def __pow__(self, exponent):
        return power(self, exponent)


def _value(a):
    return a.value if isinstance(a, Traced) else np.asarray(a)


def _record(y, *links):
    """``y``, traced if any of the linked inputs is."""
    links = tuple((a, rule) for a, rule in links if isinstance(a, Traced))
    return Traced(y, links) if links else y


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting."""
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    axes = tuple(k for k, (n, m) in enumerate(zip(shape, g.shape)) if n == 1 and m != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _restore(dy, ndim, axis, keepdims):
    """``dy`` of a reduction with its reduced axes put back (size 1), ready to broadcast."""
    if keepdims or axis is None and np.ndim(dy) == ndim:
        return dy
    if axis is None:
        return np.reshape(dy, (1,) * ndim)
    axes = sorted(a % ndim for a in np.atleast_1d(axis))
    return np.expand_dims(dy, tuple(axes))


# -- shapes ----------------------------------------------------------------------------------
def shape(x):
    """The shape, a tuple of ints (not differentiable: no array)."""
    return tuple(_value(x).shape)


def expand_dims(x, axis):
    a = _value(x)
    return _record(np.expand_dims(a, axis), (x, lambda dy: np.reshape(dy, a.shape)))


def squeeze(x, axis=None):
    a = _value(x)
    return _record(np.squeeze(a, axis), (x, lambda dy: np.reshape(dy, a.shape)))


def reshape(x, newshape):
    a = _value(x)
    return _record(np.reshape(a, newshape), (x, lambda dy: np.reshape(dy, a.shape)))


def transpose(x, axes=None):
    a = _value(x)
    order = tuple(range(a.ndim))[::-1] if axes is None else tuple(ax % a.ndim for ax in axes)
    return _record(np.transpose(a, order), (x, lambda dy: np.transpose(dy, np.argsort(order))))


def concatenate(xs, axis=0):
    values = [_value(x) for x in xs]
    y = np.concatenate(values, axis=axis)
    ends = np.cumsum([v.shape[axis] for v in values])
    pieces = lambda dy: np.split(dy, ends[:-1], axis=axis)        # noqa: E731  dx_k = dy's k-th slab
    return _record(y, *((x, lambda dy, k=k: pieces(dy)[k]) for k, x in enumerate(xs)))


def stack(x, axis=0):
    values = [_value(v) for v in x]
    return _record(np.stack(values, axis=axis),
                   *((v, lambda dy, k=k: np.take(dy, k, axis=axis)) for k, v in enumerate(x)))


def _getitem(x, index):
    """``x[index]`` (basic or fancy): the gradient scatters dy back into the picked places."""
    a = _value(x)

    def rule(dy):
        dx = np.zeros(a.shape, np.result_type(dy, a))
        np.add.at(dx, index, dy)
        return dx
    return _record(a[index], (x, rule))


# -- reductions ----------------------------------------------------------------------------
def _axes(axis):
    """Keras takes a list of axes where NumPy wants a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, keepdims=False):                             # noqa: A001  (Keras's name)
    a, axis = _value(x), _axes(axis)
    return _record(np.sum(a, axis=axis, keepdims=keepdims),
                   (x, lambda dy: np.broadcast_to(_restore(dy, a.ndim, axis, keepdims), a.shape)))


def mean(x, axis=None, keepdims=False):
    a, axis = _value(x), _axes(axis)
    y = np.mean(a, axis=axis, keepdims=keepdims)
    count = a.size // builtins.max(np.size(y), 1) if a.size else 1          # elements averaged per output
    return _record(y, (x, lambda dy: np.broadcast_to(_restore(dy, a.ndim, axis, keepdims) / count, a.shape)))


def var(x, axis=None, keepdims=False):
    """mean((x - mean(x))^2), the population variance; dx = 2 (x - mean) dy / n (mean's own
    dependence on x drops out: the deviations sum to 0)."""
    a, axis = _value(x), _axes(axis)
    d = a - np.mean(a, axis=axis, keepdims=True)
    y = np.mean(d * d, axis=axis, keepdims=keepdims)
    count = a.size // builtins.max(np.size(y), 1) if a.size else 1
    return _record(y, (x, lambda dy: 2 * d * _restore(dy, a.ndim, axis, keepdims) / count))


def std(x, axis=None, keepdims=False):
    """sqrt(var(x)); dx = (x - mean) dy / (n std)."""
    a, axis = _value(x), _axes(axis)
    d = a - np.mean(a, axis=axis, keepdims=True)
    y = np.sqrt(np.mean(d * d, axis=axis, keepdims=keepdims))
    count = a.size // builtins.max(np.size(y), 1) if a.size else 1
    return _record(y, (x, lambda dy: d * _restore(dy / y, a.ndim, axis, keepdims) / count))


def _extreme(pick, x, axis, keepdims):
    a, axis = _value(x), _axes(axis)
    y = pick(a, axis=axis, keepdims=keepdims)

    def rule(dy):                      # ties share the gradient equally, as TensorFlow does
        hit = a == _restore(y, a.ndim, axis, keepdims)
        share = hit / hit.sum(axis=axis, keepdims=True)
        return share * _restore(dy, a.ndim, axis, keepdims)
    return _record(y, (x, rule))


def max(x, axis=None, keepdims=False):                             # noqa: A001
    return _extreme(np.max, x, axis, keepdims)


def min(x, axis=None, keepdims=False):                             # noqa: A001
    return _extreme(np.min, x, axis, keepdims)


# -- element-wise ------------------------------------------------------------------------------
# Comparisons use the real part, so a complex-step input (x + i h) follows the real branch.
def abs(x):                                                        # noqa: A001
    a = _value(x)
    sign = np.sign(a.real)                                         # |x|' = sign(x), 0 at 0
    return _record(a * sign if np.iscomplexobj(a) else np.abs(a), (x, lambda dy: dy * sign))


def negative(x):
    return _record(-_value(x), (x, lambda dy: -dy))


def square(x):
    a = _value(x)
    return _record(a * a, (x, lambda dy: 2 * a * dy))


def sqrt(x):
    y = np.sqrt(_value(x))
    return _record(y, (x, lambda dy: dy / (2 * y)))


def rsqrt(x):
    """1 / sqrt(x); dx = -dy y^3 / 2."""
    y = 1 / np.sqrt(_value(x))
    return _record(y, (x, lambda dy: -0.5 * dy * y ** 3))


def power(x, exponent):
    """x ** exponent for a constant exponent."""
    a, p = _value(x), exponent
    return _record(a ** p, (x, lambda dy: dy * p * a ** (p - 1)))


def exp(x):
    y = np.exp(_value(x))
    return _record(y, (x, lambda dy: dy * y))


def log(x):
    a = _value(x)
    return _record(np.log(a), (x, lambda dy: dy / a))


def tanh(x):
    y = np.tanh(_value(x))
    return _record(y, (x, lambda dy: dy * (1 - y * y)))


def sigmoid(x):
    a = _value(x)
    z = np.exp(np.where(a.real >= 0, -a, a))       # e^-|x|: never overflows
    y = np.where(a.real >= 0, 1 / (1 + z), z / (1 + z))     # 1 / (1 + e^-x), or e^x / (1 + e^x) below 0
    return _record(y, (x, lambda dy: dy * y * (1 - y)))


def relu(x):
    a = _value(x)
    on = a.real > 0
    return _record(np.where(on, a, 0).astype(a.dtype, copy=False), (x, lambda dy: dy * on))


def clip(x, x_min, x_max):
    a = _value(x)
    inside = (a.real >= x_min) & (a.real <= x_max)
    y = np.where(a.real < x_min, x_min, np.where(a.real > x_max, x_max, a)).astype(a.dtype, copy=False)
    return _record(y, (x, lambda dy: dy * inside))


def cast(x, dtype):
    a = _value(x)
    dtype = np.dtype(dtype)
    if np.iscomplexobj(a) and dtype.kind == "f":
        return a                                  # a complex-step probe passes through a float cast
    y = a.astype(dtype)
    return _record(y, (x, lambda dy: np.asarray(dy, a.dtype) if dtype.kind == "f" else np.zeros(a.shape, a.dtype)))


def _binary(op, x1, x2, rule1, rule2):
    a, b = _value(x1), _value(x2)
    y = op(a, b)
    return _record(y, (x1, lambda dy: _unbroadcast(rule1(dy, a, b), a.shape)),
                   (x2, lambda dy: _unbroadcast(rule2(dy, a, b), b.shape)))


def add(x1, x2):
    return _binary(np.add, x1, x2, lambda dy, a, b: dy, lambda dy, a, b: dy)


def subtract(x1, x2):
    return _binary(np.subtract, x1, x2, lambda dy, a, b: dy, lambda dy, a, b: -dy)


def multiply(x1, x2):
    return _binary(np.multiply, x1, x2, lambda dy, a, b: dy * b, lambda dy, a, b: dy * a)


def divide(x1, x2):
    return _binary(np.divide, x1, x2, lambda dy, a, b: dy / b, lambda dy, a, b: -dy * a / (b * b))


def matmul(x1, x2):
    """x1 @ x2 (batched, broadcasting, 1-D operands as NumPy treats them):
    dA = dY B^T, dB = A^T dY, each summed over broadcast batch axes."""
    a, b = _value(x1), _value(x2)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b

    def dy2(dy):                                   # dy with the 1-D operands' axes put back
        dy = np.expand_dims(dy, -2) if a.ndim == 1 else dy
        return np.expand_dims(dy, -1) if b.ndim == 1 else dy
    return _record(np.matmul(a, b),
                   (x1, lambda dy: _unbroadcast(dy2(dy) @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)),
                   (x2, lambda dy: _unbroadcast(np.swapaxes(a2, -1, -2) @ dy2(dy), b2.shape).reshape(b.shape)))


# -- backward through a traced function ------------------------------------------------------
class Parts:
    """The gradient of a node with several outputs (a layer returning ``[y, h, c]``): one entry
    per output, ``None`` where none arrived; ``+`` adds entry by entry."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = list(items)

    def __add__(self, other):
        return Parts(a if b is None else b if a is None else a + b for a, b in zip(self.items, other.items))


def backprop(outputs, d_outputs, leaves):
    """dL/d(leaf) for every leaf (:class:`Traced` inputs and weights), from dL/d(outputs), by the
    rules each op recorded, visited children before parents.  A leaf the outputs do not depend
    on gets None."""
    order, seen = [], set()
    stack_ = [(out, False) for out in outputs if isinstance(out, Traced)]
    while stack_:                                  # depth-first post-order: parents before children
        node, done = stack_.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack_.append((node, True))
            stack_.extend((parent, False) for parent, _ in node.links if id(parent) not in seen)
    grads = {}
    for out, d in zip(outputs, d_outputs):
        if isinstance(out, Traced) and d is not None:
            d = np.asarray(d)
            grads[id(out)] = d if id(out) not in grads else grads[id(out)] + d
    wanted = {id(leaf) for leaf in leaves}
    found = {}
    for node in reversed(order):
        g = grads.get(id(node)) if id(node) in wanted else grads.pop(id(node), None)
        if g is None:
            continue
        for parent, rule in node.links:
            d = rule(g)
            if d is not None:
                grads[id(parent)] = d if id(parent) not in grads else grads[id(parent)] + d
    for leaf in leaves:
        found[id(leaf)] = grads.get(id(leaf))
    return [found[id(leaf)] for leaf in leaves]


def vjp(function, x, dy):
    """dL/dx = J^T dy for ``y = function(x)`` built from these ops, or None when ``function``
    uses anything else (or its output does not depend on x through them)."""
    start = Traced(x)
    try:
        out = function(start)
    except Exception:          # noqa: BLE001  anything a non-op (NumPy, array methods) raises on a Traced
        return None
    if not isinstance(out, Traced) or out.value.shape != np.shape(dy):
        return None
    g = backprop([out], [dy], [start])[0]
    return np.zeros_like(x) if g is None else np.asarray(g, x.dtype)


__all__ = ["shape", "expand_dims", "squeeze", "reshape", "transpose", "concatenate", "stack", "sum", "mean",
           "var", "std", "max", "min", "abs", "negative", "square", "sqrt", "rsqrt", "power", "exp", "log", "tanh",
           "sigmoid", "relu", "clip", "cast", "add", "subtract", "multiply", "divide", "matmul"]
for _name in __all__:
    registry.register(globals()[_name], f"ops.{_name}")
