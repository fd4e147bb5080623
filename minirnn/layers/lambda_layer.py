"""Lambda: wrap an array function as a layer that can still be trained through.

Its gradient is derived, not written by the user.  A function built from
:mod:`minirnn.ops` (``ops.expand_dims``, ``ops.mean``, ``x * 2``...) is traced and
back-propagated through the ops' own rules.  Otherwise, one of two general ways,
each verified on the function itself before it is used:

* Re-arrangement (indexing, reshape, expand_dims, transpose, tiling): call the
  function on the *indices* 0..N-1 laid out like x; if the result holds whole
  indices and picks the same elements out of x and out of a random probe, then
  y = x.flat[idx] and dx = scatter-add of dy into idx.
* Element-wise analytic functions (scaling, exp, tanh...): complex-step
  differentiation, f'(x) = Im f(x + i h) / h, exact to round-off; verified by a
  second random direction (element-wise means J v = f'(x) * v) and against a
  central difference (which rejects non-analytic functions such as abs).

``backward=`` takes an explicit ``backward(x, dy) -> dx`` instead.  Anything
else raises a clear error naming the layer.
"""
import numpy as np

from .. import ops, registry
from ..serialization import config_error, deserialize_function, serialize_function
from .base import Layer

_COMPLEX_STEP = 1e-30


class Lambda(Layer):
    """``Lambda(function, output_shape=None, arguments=None, backward=None)``."""

    reads_strings = True          # the function decides what it takes

    def __init__(self, function, output_shape=None, arguments=None, backward=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Layer '{self.name}' (Lambda) expects a callable, received {function!r}")
        self.function = function
        self.output_shape = None if output_shape is None else tuple(output_shape)
        self.arguments = dict(arguments or {})
        self.backward_function = backward
        self._gather = {}            # input shape -> flat indices, once verified
        self._untraceable = False    # f is not built from minirnn.ops alone

    def apply(self, x):
        return np.asarray(self.function(x, **self.arguments))

    def compute_output_shape(self, input_shape):
        if self.output_shape is not None:
            return (input_shape[0],) + self.output_shape
        # Two probes with different sizes for the unknown axes tell which output axes follow them.
        # Each is a read-only view of one zero (no memory for the input, whatever its shape);
        # a function that writes into its input gets real zeros.
        probes = []
        for n in (2, 3):
            shape = [n if d is None else d for d in input_shape]
            try:
                probes.append(self.apply(np.broadcast_to(np.zeros((), self.dtype), shape)).shape)
            except ValueError:
                probes.append(self.apply(np.zeros(shape, self.dtype)).shape)
        return tuple(a if a == b else None for a, b in zip(*probes))

    def __call__(self, inputs, training=False):
        x = self.check_input(inputs)
        self.ensure_built(x.shape)
        return self.call(x, training=training)

    def call(self, x, training=False):
        y = self.apply(x)
        if y.dtype.kind == "f":
            y = np.asarray(y, self.dtype)
        self._cache = (x, y) if training else None
        return y

    def backward(self, dy):
        x, y = self.saved()
        dy = self.check_gradient(dy, y.shape)
        self.grads = []
        if self.backward_function is not None:
            dx = np.asarray(self.backward_function(x, dy), self.dtype)
            if dx.shape != x.shape:
                raise ValueError(f"Layer '{self.name}': backward function returned shape {dx.shape}, "
                                 f"expected the input's shape {x.shape}")
            return dx
        dx = self.traced_gradient(x, dy)
        if dx is not None:
            return dx.astype(self.dtype, copy=False)
        idx = self._gather.get(x.shape)
        if idx is None and x.shape not in self._gather:
            idx = self._gather[x.shape] = self.trace_indices(x, y)
        if idx is not None:
            dx = np.zeros(x.size, self.dtype)
            np.add.at(dx, idx, dy.ravel())
            return dx.reshape(x.shape)
        slope = self.elementwise_derivative(x, y)
        if slope is not None:
            return (dy * slope).astype(self.dtype)
        raise ValueError(
            f"Layer '{self.name}' (Lambda) cannot derive the gradient of {self.function!r}: it is neither "
            f"a re-arrangement of its input's elements nor an element-wise analytic function of shape "
            f"{x.shape} -> {x.shape} (received output shape {y.shape}). Pass backward=lambda x, dy: dx.")

    def traced_gradient(self, x, dy):
        """dx through the rules of :mod:`minirnn.ops`, or None if f uses anything else."""
        if self._untraceable:
            return None
        dx = ops.vjp(lambda t: self.function(t, **self.arguments), x, dy)
        self._untraceable = dx is None
        return dx

    def trace_indices(self, x, y):
        """Flat input index of every output element, or None if f is not a re-arrangement."""
        try:
            with np.errstate(all="ignore"):          # f need not be defined at every index
                traced = self.apply(np.arange(x.size, dtype=np.float64).reshape(x.shape))
        except Exception:
            return None
        if traced.shape != y.shape or traced.dtype.kind not in "iuf":
            return None
        if not np.all((traced >= 0) & (traced < x.size) & (traced == np.round(traced))):
            return None
        idx = traced.astype(np.int64).ravel()
        probe = np.random.default_rng(0).standard_normal(x.shape)
        try:
            same = (np.array_equal(self.apply(probe).ravel(), probe.ravel()[idx])
                    and np.array_equal(y.ravel(), x.ravel()[idx]))
        except Exception:
            return None
        return idx if same else None

    def elementwise_derivative(self, x, y):
        """f'(x) by complex step if f is element-wise and analytic at x, else None."""
        if y.shape != x.shape:
            return None
        x64 = x.astype(np.float64)
        direction = np.random.default_rng(1).uniform(0.5, 1.5, x.shape)
        try:
            with np.errstate(all="ignore"):
                slope = self.apply(x64 + 1j * _COMPLEX_STEP).imag / _COMPLEX_STEP
                along = self.apply(x64 + 1j * _COMPLEX_STEP * direction).imag / _COMPLEX_STEP
                eps = 1e-6 * (1 + np.abs(x64))
                central = (self.apply(x64 + eps * direction) - self.apply(x64 - eps * direction)) / (2 * eps)
        except Exception:
            return None
        if slope.shape != x.shape or not np.all(np.isfinite(slope)):
            return None
        scale = 1 + np.abs(slope * direction)
        if not np.all(np.abs(along - slope * direction) <= 1e-9 * scale):
            return None              # an output depends on more than its own element
        if not np.all(np.abs(central - slope * direction) <= 1e-4 * scale):
            return None              # not analytic (abs, max...): complex step would be wrong
        return slope

    def get_config(self):
        """The constructor arguments.  ``function`` and ``backward`` are stored as
        :func:`minirnn.serialization.serialize_function` stores them: by registered name (e.g.
        ``"numpy>tanh"``), else a Python function's source, which only ``safe_mode=False``
        loads; ``arguments`` must be plain JSON data."""
        where = f"Layer '{self.name}' (Lambda) argument"
        config = super().get_config()
        config.update(function=serialize_function(self.function, f"{where} 'function'"),
                      output_shape=None if self.output_shape is None else list(self.output_shape),
                      arguments=dict(self.arguments),
                      backward=None if self.backward_function is None else
                      serialize_function(self.backward_function, f"{where} 'backward'"))
        return config

    @classmethod
    def from_config(cls, config):
        """Functions are looked up by registered name, never imported (see
        :func:`minirnn.serialization.deserialize_function`); ``arguments`` stay data."""
        config = dict(config)
        where = f"layer {str(config.get('name'))[:80]!r} (Lambda) field"
        for key in ("function", "backward"):
            if key == "function" or config.get(key) is not None:
                config[key] = deserialize_function(config.get(key), f"{where} {key!r}")
        arguments = config.get("arguments")
        if arguments is not None and not (isinstance(arguments, dict) and all(isinstance(k, str) for k in arguments)):
            raise config_error(f"{where} 'arguments'", f"expected keyword arguments {{name: value}}, "
                                                       f"received {type(arguments).__name__}")
        return cls(**config)


# Functions a saved Lambda may name as "numpy>name": element-wise mathematics and axis
# re-arrangements of NumPy, which neither touch files nor call back into Python.
for _name in ("abs", "absolute", "negative", "positive", "sign", "square", "sqrt", "cbrt", "reciprocal",
              "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin",
              "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "floor",
              "ceil", "rint", "trunc", "reshape", "transpose", "swapaxes", "moveaxis", "expand_dims",
              "squeeze", "flip", "cumsum", "sum", "mean", "max", "min", "clip"):
    registry.register(getattr(np, _name), _name, "numpy")
