"""A Lambda as ONNX nodes: its function run once on a traced input, each minirnn.ops call recorded.

The function is called on a :class:`minirnn.ops.Traced` example while a profiler hook notes every
call of a :mod:`minirnn.ops` function (the outermost one only: ``x + 1`` is ``Traced.__add__`` ->
``ops.add``), with its arguments and result.  Each call whose result is traced becomes ONNX nodes;
arguments that are not traced are constants.  The trace is taken at two sizes of every free axis
(batch, time): if the calls or their constants differ, the function depends on the input's size
(e.g. a reshape to ``ops.shape(x)[0]``) and is refused, since the served graph takes any size.
A function that uses anything but minirnn.ops on its input (NumPy refuses a Traced) is refused.
"""
import sys

import numpy as np

from .. import ops
from .graph import INT64_MAX, INT64_MIN, Graph

DEFAULT_SCRATCH_OPSET = 17          # the scratch graph only checks that every call has an ONNX form
_OPS = {getattr(ops, name).__code__: name for name in ops.__all__}
_OPS[ops._getitem.__code__] = "getitem"


class NotTraceable(ValueError):
    pass


def trace(function, example, arguments):
    """(start, output, calls): the Traced input, the Traced output and the ``[op, arguments,
    result]`` of every outermost minirnn.ops call the function made."""
    calls, active = [], []

    def hook(frame, event, result):
        if event == "call" and frame.f_code in _OPS:
            if not active:
                calls.append([_OPS[frame.f_code], dict(frame.f_locals), None])
            active.append(frame)
        elif event == "return" and active and active[-1] is frame:
            active.pop()
            if not active:
                calls[-1][2] = result
    start = ops.Traced(example)
    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        out = function(start, **arguments)
    except Exception as e:                            # noqa: BLE001  NumPy refusing a Traced, and the like
        raise NotTraceable(f"its function is not built from minirnn.ops alone ({type(e).__name__}: {e})") from None
    finally:
        sys.setprofile(previous)
    if not isinstance(out, ops.Traced):
        raise NotTraceable("its function's result does not depend on its input through minirnn.ops")
    return start, out, calls


def _signature(calls):
    """The calls with their constant arguments, to compare two traces."""
    def constant(v):
        if isinstance(v, ops.Traced):
            return "traced"
        if isinstance(v, (list, tuple)):
            return tuple(constant(u) for u in v)
        if isinstance(v, np.ndarray):
            return (v.shape, v.tobytes())
        return repr(v)
    return [(name, tuple((k, constant(v)) for k, v in sorted(args.items()))) for name, args, _ in calls]


def examples(layer, shape):
    """Two inputs for the traces: free axes of sizes 2 and 3 (so no free axis looks like a 1)."""
    rng = np.random.default_rng(0)
    return [rng.uniform(0.5, 1.5, [n if d is None else d for d in shape]).astype(layer.dtype) for n in (2, 3)]


def check(layer, shape):
    """The first trace of the Lambda at input `shape`, or NotTraceable saying why it cannot be
    exported (its nodes are built once, into a scratch graph, to find out)."""
    first, second = examples(layer, shape)
    traced = trace(layer.function, first, layer.arguments)
    again = trace(layer.function, second, layer.arguments)
    if _signature(traced[2]) != _signature(again[2]):
        raise NotTraceable("its function computes differently for other batch or sequence sizes (a shape "
                           "read with ops.shape and used as a constant?), so no one graph serves every size")
    _emit(Graph(DEFAULT_SCRATCH_OPSET), layer, "x", *traced)
    return traced


def convert(ctx, layer, x):
    """The ONNX name of the Lambda's output for input Value `x`."""
    return _emit(ctx.g, layer, x.name, *check(layer, x.shape))


def _emit(g, layer, x, start, out, calls):
    env = {id(start): x}
    try:
        for name, args, result in calls:
            if isinstance(result, ops.Traced):
                env[id(result)] = _EMIT[name](g, env, args, result.value)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, NotTraceable):
            raise
        raise NotTraceable(f"its {name} call has no ONNX form here ({type(e).__name__}: {e})") from None
    y = env.get(id(out))
    if y is None:
        raise NotTraceable("its result comes from no minirnn.ops call")
    kind = out.value.dtype
    return g.cast(y, layer.dtype, kind) if kind.kind == "f" else y


# -- one emitter per op: (graph, names of traced values, the call's arguments, its example result) -> name
def _in(g, env, a, dtype):
    """A traced argument's name (cast to `dtype` when NumPy promoted it), or a constant of `dtype`."""
    if isinstance(a, ops.Traced):
        return g.cast(env[id(a)], dtype, a.value.dtype)
    return g.const(np.asarray(a), dtype)


def _unary(op_type):
    return lambda g, env, args, y: g.op(op_type, [_in(g, env, args["x"], y.dtype)])


def _binary(op_type):
    return lambda g, env, args, y: g.op(op_type, [_in(g, env, args["x1"], y.dtype), _in(g, env, args["x2"], y.dtype)])


def _axes(axis, ndim):
    if axis is None:
        return None
    return [int(a) % ndim for a in np.atleast_1d(axis)]


def _reduce(op_type):
    def emit(g, env, args, y):
        x = args["x"]
        return g.reduce(op_type, _in(g, env, x, y.dtype), _axes(args["axis"], x.ndim), args["keepdims"])
    return emit


def _reshape(g, env, args, y):
    shape = [int(d) for d in np.atleast_1d(args["newshape"])]
    if 0 in shape:
        raise NotTraceable("reshape to a shape with a 0")
    return g.op("Reshape", [_in(g, env, args["x"], y.dtype), g.ints(shape)])


def _transpose(g, env, args, y):
    x = args["x"]
    axes = args["axes"]
    perm = list(range(x.ndim))[::-1] if axes is None else [int(a) % x.ndim for a in axes]
    return g.transpose(_in(g, env, x, y.dtype), perm)


def _squeeze(g, env, args, y):
    x = args["x"]
    axes = _axes(args["axis"], x.ndim)
    if axes is None:
        axes = [k for k, d in enumerate(x.shape) if d == 1]
    return g.squeeze(_in(g, env, x, y.dtype), axes)


def _concatenate(g, env, args, y):
    return g.op("Concat", [_in(g, env, v, y.dtype) for v in args["xs"]], axis=int(args["axis"]) % y.ndim)


def _stack(g, env, args, y):
    axis = int(args["axis"]) % y.ndim
    return g.op("Concat", [g.unsqueeze(_in(g, env, v, y.dtype), [axis]) for v in args["x"]], axis=axis)


def _getitem(g, env, args, y):
    """Basic indexing: slices (Slice), integers (Gather, dropping the axis), None (Unsqueeze), '...'."""
    x, index = args["x"], args["index"]
    index = index if isinstance(index, tuple) else (index,)
    for i in index:
        if not (i is None or i is Ellipsis or isinstance(i, slice)
                or (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)))):
            raise NotTraceable(f"indexing with {type(i).__name__} (only integers, slices, None and ... export)")
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (slice(None),) * (x.ndim - used) + index[k + 1:]
    name = _in(g, env, x, y.dtype)
    axis, position, picks, new_axes, cuts = 0, 0, [], [], []
    for i in index:
        if i is None:
            new_axes.append(position)
            position += 1
        elif isinstance(i, slice):
            step = 1 if i.step is None else int(i.step)
            start = (0 if step > 0 else -1) if i.start is None else int(i.start)
            stop = (INT64_MAX if step > 0 else INT64_MIN) if i.stop is None else int(i.stop)
            if (start, stop, step) != (0, INT64_MAX, 1):
                cuts.append((axis, start, stop, step))
            axis, position = axis + 1, position + 1
        else:
            picks.append((axis, int(i)))
            axis += 1
    if cuts:
        a, s, e, st = zip(*cuts)
        name = g.op("Slice", [name, g.ints(s), g.ints(e), g.ints(a), g.ints(st)], "slice")
    for a, i in sorted(picks, reverse=True):          # the last axis first, so earlier axes keep their numbers
        name = g.op("Gather", [name, g.const(np.int64(i), np.int64)], "pick", axis=a)
    return g.unsqueeze(name, new_axes) if new_axes else name


def _power(g, env, args, y):
    return g.op("Pow", [_in(g, env, args["x"], y.dtype), g.const(args["exponent"], y.dtype)])


def _clip(g, env, args, y):
    return g.op("Clip", [_in(g, env, args["x"], y.dtype), g.const(args["x_min"], y.dtype),
                         g.const(args["x_max"], y.dtype)])


def _cast(g, env, args, y):
    x = args["x"]
    return g.cast(env[id(x)], y.dtype, x.value.dtype)


def _square(g, env, args, y):
    x = _in(g, env, args["x"], y.dtype)
    return g.op("Mul", [x, x])


def _expand_dims(g, env, args, y):
    return g.unsqueeze(_in(g, env, args["x"], y.dtype), _axes(args["axis"], y.ndim))


_EMIT = {"expand_dims": _expand_dims, "squeeze": _squeeze, "reshape": _reshape, "transpose": _transpose,
         "concatenate": _concatenate, "stack": _stack, "getitem": _getitem,
         "sum": _reduce("ReduceSum"), "mean": _reduce("ReduceMean"), "max": _reduce("ReduceMax"),
         "min": _reduce("ReduceMin"), "abs": _unary("Abs"), "negative": _unary("Neg"), "square": _square,
         "sqrt": _unary("Sqrt"), "power": _power, "exp": _unary("Exp"), "log": _unary("Log"),
         "tanh": _unary("Tanh"), "sigmoid": _unary("Sigmoid"), "relu": _unary("Relu"), "clip": _clip,
         "cast": _cast, "add": _binary("Add"), "subtract": _binary("Sub"), "multiply": _binary("Mul"),
         "divide": _binary("Div"), "matmul": _binary("MatMul")}
