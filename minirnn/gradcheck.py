"""Check a hand-written backward pass against central differences (float64).

    import minirnn as mr
    layer = mr.LSTM(4, return_sequences=True, dtype="float64")
    report = mr.gradcheck(layer, x)        # raises GradcheckError if a gradient is wrong
    print(report)                          # one line per array: its relative error

:func:`gradcheck` takes a layer, a cell, a whole model with its loss, or any function
with a backward.  Every array the loss depends on (the input, each weight, the
initial states) is perturbed in place one element at a time by +-eps and +-2 eps;
the fourth-order central difference

    dL/dw ~ (8 (L(w + eps) - L(w - eps)) - (L(w + 2 eps) - L(w - 2 eps))) / (12 eps)

is compared with the analytic gradient over the whole array:

    error = |a - n| / max(|a| + |n|, TINY, FLOOR * scale)      (Euclidean norms)

where scale is the size of L's terms (|L|, or sum |output * cotangent|): gradients
that small are compared absolutely, since round-off in L (~1e-16 |L| / eps) swamps
them.  The fourth-order stencil keeps the truncation error O(eps^4) even for the
steep polynomials of all-linear gates.

For a layer or a cell the loss is L = sum(output * cotangent) over every output, with
random cotangents; a model uses its loss on (x, y).  Only float64 gives differences
precise enough: a float32 layer is refused with a clear error.
"""
import numpy as np

EPS = 1e-6          # central-difference step
TOL = 1e-6          # largest accepted relative error
TINY = 1e-6         # floor of the denominator: gradients this small are compared absolutely (to TOL * TINY) ...
FLOOR = 1e-2        # ... and so are those below FLOOR * |terms of L|

__all__ = ["gradcheck", "check_arrays", "GradcheckReport", "GradcheckError"]


class GradcheckError(AssertionError):
    """An analytic gradient differs from central differences (the report is ``.report``)."""

    def __init__(self, report):
        self.report = report
        super().__init__(f"analytic and numerical gradients differ (relative error > {report.tol:g}) "
                         f"for {report.target}:\n{report}")


class GradcheckReport(dict):
    """{array name: relative error}, with ``.ok``, ``.failed`` and a readable ``str``."""

    def __init__(self, errors, tol=TOL, target="the function"):
        super().__init__(errors)
        self.tol, self.target = tol, target

    @property
    def failed(self):
        """{name: error} of the arrays whose error is not below ``tol`` (missing gradients: inf)."""
        return {name: err for name, err in self.items() if not err < self.tol}

    @property
    def ok(self):
        return not self.failed

    def __str__(self):
        width = max((len(name) for name in self), default=0)
        return "\n".join(f"  {name:<{width}}  {err:.2e}  {'ok' if err < self.tol else 'WRONG'}"
                         for name, err in self.items())

    def raise_if_failed(self):
        if not self.ok:
            raise GradcheckError(self)
        return self


def check_arrays(loss, arrays, analytic, names=None, eps=EPS, tol=TOL, scale=0.0, target="the function"):
    """The checker itself: each analytic gradient against central differences of ``loss()``.

    ``loss()`` must read the live float64 ``arrays``, which are perturbed in place and
    restored.  ``scale``: the size of the terms of the loss (at least |loss()| is used).
    A missing or misshapen gradient counts as an infinite error.  Returns a
    :class:`GradcheckReport` (never raises for a wrong gradient)."""
    arrays, analytic = list(arrays), list(analytic)
    names = list(names) if names is not None else [f"array {k}" for k in range(len(arrays))]
    errors = {}
    if len(analytic) != len(arrays):
        errors["gradient count"] = np.inf
    for name, arr, grad in zip(names, arrays, analytic):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
            raise TypeError(f"gradcheck: {name} must be a float64 array (differences in float32 are "
                            f"too coarse), received {type(arr).__name__} of dtype {getattr(arr, 'dtype', None)}")
        if grad is None or np.shape(grad) != arr.shape:
            errors[name] = np.inf
            continue
        numeric = np.empty(arr.shape)
        for i in range(arr.size):
            old = arr.flat[i]
            value = {}
            for k in (-2, -1, 1, 2):
                arr.flat[i] = old + k * eps
                value[k] = loss()
            arr.flat[i] = old
            numeric.flat[i] = (8 * (value[1] - value[-1]) - (value[2] - value[-2])) / (12 * eps)
            scale = max(scale, *map(abs, value.values()))
        grad = np.asarray(grad, np.float64)
        denominator = max(np.linalg.norm(grad) + np.linalg.norm(numeric), TINY, FLOOR * scale)
        errors[name] = float(np.linalg.norm(grad - numeric) / denominator)
    return GradcheckReport(errors, tol, target)


def gradcheck(target, x=None, y=None, *, loss=None, backward=None, initial_state=None, mask=None,
              training=False, skip_outputs=(), input_names=None, seed=0, eps=EPS, tol=TOL,
              raise_exception=True):
    """Check the backward pass of `target` by central differences in float64.

    * a layer: ``gradcheck(layer, x, initial_state=..., mask=...)`` checks dL/dx, every
      weight and the initial states, L = sum(output * random cotangent);
    * a cell: ``gradcheck(cell, X)`` with X time-major (T, B, D), from random initial states;
    * a model: ``gradcheck(model, x, y)`` with its compiled loss (or ``loss=``);
    * a function: ``gradcheck(f, [a, b], backward=f_backward)`` where ``f(a, b)`` returns an
      array and ``f_backward(dy, a, b)`` the gradients of sum(f(a, b) * dy) for a and b
      (``input_names=["a", "b"]`` names them in the report).

    ``training=True`` runs the differenced forward passes in training mode (dropout: fix the
    masks first).  ``skip_outputs``: indices of a layer's outputs that get no gradient (None),
    as when a state returned by ``return_state`` is not used.

    Returns a :class:`GradcheckReport`; raises :class:`GradcheckError` when a gradient is
    wrong unless ``raise_exception=False``."""
    from .cells.base import Cell
    from .layers.base import Layer

    rng = np.random.default_rng(seed)
    if backward is not None:
        report = _function_report(target, x, backward, input_names, rng, eps, tol)
    elif isinstance(target, Cell):
        report = _cell_report(target, x, rng, initial_state, mask, eps, tol)
    elif hasattr(target, "layers") and hasattr(target, "backward"):       # a model (itself a Layer)
        report = _model_report(target, x, y, loss, eps, tol)
    elif isinstance(target, Layer):
        report = _layer_report(target, x, rng, initial_state, mask, training, skip_outputs, eps, tol)
    else:
        raise TypeError(f"gradcheck: expected a layer, a cell, a model or a function with backward=..., "
                        f"received {target!r}")
    return report.raise_if_failed() if raise_exception else report


def weight_names(layer):
    """Readable names of a layer's weights: the cell's names for recurrent layers."""
    halves = [getattr(layer, side, None) for side in ("forward_layer", "backward_layer")]
    if all(half is not None for half in halves):
        return [f"{half.name}/{name}" for half in halves for name in weight_names(half)]
    cell = getattr(layer, "cell", None)
    if cell is not None and hasattr(cell, "weight_names"):
        return list(cell.weight_names)
    return [f"weight[{k}] {w.shape}" for k, w in enumerate(layer.weights)]


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _layer_report(layer, x, rng, initial_state, mask, training, skip_outputs, eps, tol):
    if np.dtype(layer.dtype) != np.float64:
        raise TypeError(f"gradcheck: layer '{layer.name}' ({type(layer).__name__}) computes in {layer.dtype}; "
                        f"create it with dtype='float64' (differences in float32 are too coarse)")
    kwargs = {} if initial_state is None else {"initial_state": initial_state}
    if mask is not None:
        kwargs["mask"] = mask
    out = layer(x, training=True, **kwargs)
    outs = _as_list(out)
    cotangents = [None if k in skip_outputs else rng.standard_normal(np.shape(o)) for k, o in enumerate(outs)]
    dx = layer.backward(cotangents if isinstance(out, list) else cotangents[0])
    arrays, analytic, names = [x], [dx], ["dL/dx"]
    grads = layer.grads or [None] * len(layer.weights)
    for name, w, g in zip(weight_names(layer), layer.weights, grads):
        arrays.append(w)
        analytic.append(g)
        names.append(f"dL/d{name}")
    if "initial_state" in kwargs:
        states = _as_list(kwargs["initial_state"])
        state_grads = list(getattr(layer, "initial_state_grads", None) or [None] * len(states))
        for k, (s, g) in enumerate(zip(states, state_grads)):
            arrays.append(s)
            analytic.append(g)
            names.append(f"dL/dinitial_state[{k}]")

    def loss():
        again = _as_list(layer(x, training=training, **kwargs))
        return sum(float(np.sum(o * c)) for o, c in zip(again, cotangents) if c is not None)

    scale = sum(float(np.sum(np.abs(o * c))) for o, c in zip(outs, cotangents) if c is not None)
    return check_arrays(loss, arrays, analytic, names, eps, tol, scale,
                        target=f"layer '{layer.name}' ({type(layer).__name__})")


def _cell_report(cell, X, rng, initial_state, mask, eps, tol):
    from .cells.base import empty_masks

    T, B, D = X.shape
    if cell.input_dim is None:
        cell.dtype = X.dtype
        cell.build(D)
    states = _as_list(initial_state) if initial_state is not None else \
        [rng.normal(0.0, 0.5, (B, cell.units)) for _ in cell.state_names]
    M = empty_masks(X.dtype) if mask is None else mask
    R = empty_masks(X.dtype)
    H, final, cache = cell.forward(X, states, M, R)
    dH = rng.standard_normal(H.shape)
    dfinal = [rng.standard_normal(s.shape) for s in final]
    dX, dstates0, grads = cell.backward(cache, dH, dfinal)

    def loss():
        H, final, _ = cell.forward(X, states, M, R)
        return float(np.sum(H * dH)) + sum(float(np.sum(s * d)) for s, d in zip(final, dfinal))

    names = ["dL/dX"] + [f"dL/d{name}" for name in cell.weight_names] + [f"dL/d{s}0" for s in cell.state_names]
    arrays = [X] + cell.weights + states
    analytic = [dX] + [grads.get(name) for name in cell.weight_names] + list(dstates0)
    scale = float(np.sum(np.abs(H * dH)))
    return check_arrays(loss, arrays, analytic, names, eps, tol, scale, target=type(cell).__name__)


def _model_report(model, x, y, loss, eps, tol):
    from . import losses

    loss_fn = losses.get(loss) if loss is not None else getattr(model, "loss", None)
    if loss_fn is None:
        raise ValueError("gradcheck: the model is not compiled; pass loss=... (a name or a loss object)")
    y_pred = model(x, training=True)
    dx = model.backward(loss_fn.gradient(y, y_pred))
    arrays, analytic, names = [x], [dx], ["dL/dx"]
    model_grads = list(model.grads)          # aligned with model.weights (shared layers summed)
    for layer in model.layers:
        grads, model_grads = model_grads[:len(layer.weights)], model_grads[len(layer.weights):]
        for name, w, g in zip(weight_names(layer), layer.weights, grads):
            arrays.append(w)
            analytic.append(g)
            names.append(f"{layer.name}: dL/d{name}")
    return check_arrays(lambda: float(loss_fn(y, model(x))), arrays, analytic, names, eps, tol,
                        target=f"model '{getattr(model, 'name', type(model).__name__)}'")


def _function_report(fn, inputs, backward, input_names, rng, eps, tol):
    inputs = _as_list(inputs)
    out = fn(*inputs)
    dy = rng.standard_normal(np.shape(out))
    grads = _as_list(backward(dy, *inputs))
    names = [f"dL/d{name}" for name in input_names] if input_names else \
        [f"dL/d(input {k})" for k in range(len(inputs))]
    return check_arrays(lambda: float(np.sum(fn(*inputs) * dy)), inputs, grads, names, eps, tol,
                        float(np.sum(np.abs(out * dy))), target=getattr(fn, "__name__", "the function"))
