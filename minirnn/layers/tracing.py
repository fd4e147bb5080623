"""Gradients of a layer written Keras's way: weights from ``add_weight``, a ``call`` built from
``keras.ops`` (:mod:`minirnn.ops`), no ``backward``.

A training call runs ``call`` once on :class:`minirnn.ops.Traced` inputs, with each weight the
layer created swapped for a traced leaf while it runs; every op records its vector-Jacobian
product, so backward is :func:`minirnn.ops.backprop` from the outputs to the leaves:

    dL/dx, dL/dW = backprop(outputs, dL/doutputs, [x, W, ...])

A minirnn layer called inside (``self.lstm(x)`` in a subclassed model) is not traced: it runs its
own forward on the values and appears in the trace as one node whose rule is its hand-written
``backward``; its weight gradients are summed per weight over its calls.  All of one call's
leaves and gradients live in one :class:`Tape`.
"""
import os
import sys
import threading
import traceback

import numpy as np

from ..ops import Parts, Traced, backprop

_state = threading.local()           # .tape: the Tape of the traced call running now
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Tape:
    """The leaves of one traced call (``id(weight) -> Traced``) and the weight gradients the
    hand-written layers inside it left (``id(weight) -> dW`` summed over calls)."""

    def __init__(self):
        self.leaves = {}
        self.weight_grads = {}

    def leaf(self, weight):
        found = self.leaves.get(id(weight))
        if found is None:
            found = self.leaves[id(weight)] = Traced(np.asarray(weight))
        return found

    def add_grads(self, weights, grads):
        for w, g in zip(weights, grads):
            if g is not None:
                key = id(w)
                self.weight_grads[key] = g if key not in self.weight_grads else self.weight_grads[key] + g


def active_tape():
    return getattr(_state, "tape", None)


class _using:
    """Within the block, `tape` is the active one (None: no trace)."""

    def __init__(self, tape):
        self.tape = tape

    def __enter__(self):
        self.previous = active_tape()
        _state.tape = self.tape

    def __exit__(self, *exc):
        _state.tape = self.previous


def value(x):
    """The array(s) inside a possibly traced structure."""
    if isinstance(x, Traced):
        return x.value
    if isinstance(x, (list, tuple)):
        return [value(v) for v in x]
    if isinstance(x, dict):
        return {k: value(v) for k, v in x.items()}
    return x


def has_traced(x):
    if isinstance(x, Traced):
        return True
    if isinstance(x, (list, tuple)):
        return any(has_traced(v) for v in x)
    if isinstance(x, dict):
        return any(has_traced(v) for v in x.values())
    return False


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [a for v in x for a in _flat(v)]
    if isinstance(x, dict):
        return [a for v in x.values() for a in _flat(v)]
    return [x]


def swap(layer, tape):
    """Replace the layer's own weights among its attributes by traced leaves; returns what to
    put back."""
    own = {id(w): w for w in layer.own_weights()}
    swapped = []
    for name, attr in list(vars(layer).items()):
        if id(attr) in own:
            swapped.append((name, attr))
            object.__setattr__(layer, name, tape.leaf(attr))
        elif isinstance(attr, list) and any(id(a) in own for a in attr):
            swapped.append((name, attr))
            object.__setattr__(layer, name, [tape.leaf(a) if id(a) in own else a for a in attr])
    return swapped


def _untraceable(layer, error):
    """The error a user sees when call() used something minirnn.ops cannot differentiate: the
    line of their code that did it."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not os.path.abspath(f.filename).startswith(_PACKAGE) and "site-packages" not in f.filename]
    where = f"`{frames[-1].line}` ({os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else "an operation"
    return TypeError(f"Layer '{layer.name}' ({type(layer).__name__}): cannot differentiate its call(): {where} "
                     f"uses an operation outside keras.ops / minirnn.ops ({type(error).__name__}: {error}). "
                     f"Write it with keras.ops functions, or give the layer a backward(dy) method")


def run_call(layer, inputs, kwargs, tape):
    """``layer.call(inputs, **kwargs)`` inside `tape`, its weights traced."""
    swapped = swap(layer, tape)
    try:
        with _using(tape):
            return layer.call(inputs, **kwargs)
    except Exception as error:        # noqa: BLE001  only errors a Traced caused are translated
        text = f"{type(error).__name__}: {error}"
        if "Traced" in text or "traced" in text or "__array_ufunc__" in text:
            raise _untraceable(layer, error).with_traceback(sys.exc_info()[2]) from None
        raise
    finally:
        restore(layer, swapped)


def restore(layer, swapped):
    """Put back what :func:`swap` replaced."""
    for name, attr in swapped:
        object.__setattr__(layer, name, attr)


def _leaves(x):
    if isinstance(x, (list, tuple)):
        return [_leaves(v) for v in x]
    if isinstance(x, dict):
        return {k: _leaves(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return Traced(x)
    return x


def traced_forward(layer, inputs, kwargs):
    """A training call on arrays: (output arrays, the cache :func:`traced_backward` needs)."""
    tape = Tape()
    leaves = _leaves(inputs)
    out = run_call(layer, leaves, kwargs, tape)
    return value(out), (tape, out, leaves)


def traced_backward(layer, cache, dy):
    """(dL/dinputs in the inputs' structure, dL/dweights aligned with ``layer.weights``)."""
    tape, out, leaves = cache
    outs, dys = _flat(out), _flat(dy) if isinstance(out, (list, tuple, dict)) else [dy]
    flat_leaves = _flat(leaves)
    weights = layer.weights
    targets = flat_leaves + [tape.leaves[id(w)] for w in weights if id(w) in tape.leaves]
    grads = backprop(outs, dys, targets)
    dx = [np.zeros(np.shape(v.value)) if g is None and isinstance(v, Traced) else g
          for v, g in zip(flat_leaves, grads)]
    found = dict(tape.weight_grads)
    for w, g in zip([w for w in weights if id(w) in tape.leaves], grads[len(flat_leaves):]):
        if g is not None:
            found[id(w)] = found[id(w)] + g if id(w) in found else g
    dw = [np.asarray(found[id(w)], w.dtype) if id(w) in found else np.zeros_like(w) for w in weights]
    return (dx[0] if not isinstance(leaves, (list, tuple, dict)) else dx), dw


def call_hand_written(layer, call, inputs, args, kwargs, tape):
    """A minirnn layer (its own ``backward``) called inside a trace: its forward on the values,
    recorded as one node whose rule is its backward."""
    states = kwargs.get("initial_state")
    kwargs = {**kwargs, "training": True}
    if states is not None:
        kwargs["initial_state"] = value(states)
    if "mask" in kwargs:
        kwargs["mask"] = value(kwargs["mask"])
    with _using(None):                                   # the layers inside run as usual
        y = call(layer, value(inputs), *args, **kwargs)
    caches = [(holder, holder._cache) for holder in layer.cache_holders()]
    multi = isinstance(y, list)
    state_list = [] if states is None else (list(states) if isinstance(states, (list, tuple)) else [states])
    done = {}

    def run_backward(parts):
        if id(parts) not in done:
            done.clear()
            for holder, cache in caches:
                holder._cache = cache
            with _using(None):
                dx = layer.backward(parts.items if multi else parts.items[0])
            tape.add_grads(layer.weights, layer.grads or [])
            done[id(parts)] = (dx, list(getattr(layer, "initial_state_grads", None) or []))
        return done[id(parts)]

    links = []
    if isinstance(inputs, (list, tuple)):
        for k, x in enumerate(inputs):
            links.append((x, lambda parts, k=k: run_backward(parts)[0][k]))
    else:
        links.append((inputs, lambda parts: run_backward(parts)[0]))
    for k, s in enumerate(state_list):
        links.append((s, lambda parts, k=k: run_backward(parts)[1][k]))
    links = [(x, rule) for x, rule in links if isinstance(x, Traced)]
    if not links and not layer.weights:
        return y
    joint = Traced(None, tuple(links) if links else ((Traced(None), lambda parts: run_backward(parts)[0]),))
    outs = y if multi else [y]
    n = len(outs)
    traced = [Traced(o, ((joint, lambda d, k=k: Parts([d if j == k else None for j in range(n)])),))
              for k, o in enumerate(outs)]
    return traced if multi else traced[0]
