"""The two kernel paths: plain NumPy and compiled Numba must compute the same thing.

Every cell and flag is run forward and backward once per backend on identical
layers (same weights, same dropout seed); outputs, dL/dx, weight gradients and
initial-state gradients must be the same bits in float32 (what lets a first fit
start on NumPy while the kernels compile) and agree to round-off in float64.
Activations are compared for every code, and also against independent formulas.
Backend selection: the environment variable (in a subprocess), set_backend, and
invalid names.  Here the numba backend always runs compiled kernels (compiled
before their first call, not in the background).
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minirnn as mr
from minirnn import activations, backend, parallel, registry
from minirnn.backend import Kernel
from minirnn.cells import Cell, SimpleRNNCell
from minirnn.layers import RNN

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(autouse=True)
def compile_before_first_call():
    previous = backend.compile_in_background(False)
    yield
    backend.compile_in_background(previous)


def assert_backends_agree(got, expected, dtype, name=""):
    """The same bits in float32 (a dtype whose kernels are bitwise), round-off in float64."""
    if np.dtype(dtype) in backend.BITWISE_DTYPES:
        np.testing.assert_array_equal(got, expected, err_msg=name, strict=True)
    else:
        np.testing.assert_allclose(got, expected, err_msg=name, **TOLERANCE[dtype])


# Every cell minirnn registers with a fused twin, and GRU's other reset form (the ConvLSTM cells
# run their reference loops only: tests/test_conv_lstm.py).
CELL_OPTIONS = {name.partition(">")[2]: (registry.get_registered_object(name), {})
                for name in registry.registered_names("minirnn")
                if isinstance(registry.get_registered_object(name), type)       # ops are functions
                and issubclass(registry.get_registered_object(name), Cell)
                and not getattr(registry.get_registered_object(name), "reads_frames", False)}
CELL_OPTIONS["GRUCell_reset_before"] = (CELL_OPTIONS["GRUCell"][0], dict(reset_after=False))
CELLS = sorted(CELL_OPTIONS)
FLAGS = {   # name: (layer arguments, call options)
    "defaults": ({}, {}),
    "return_sequences": (dict(return_sequences=True), {}),
    "return_state": (dict(return_state=True), {}),
    "go_backwards": (dict(go_backwards=True, return_sequences=True), {}),
    "no_bias": (dict(use_bias=False), {}),
    "initial_state": ({}, dict(initial_state=True)),
    "relu_hard_sigmoid": (dict(activation="relu", recurrent_activation="hard_sigmoid"), {}),
    "linear_sigmoid": (dict(activation="linear", recurrent_activation="sigmoid"), {}),
    "mask": (dict(return_sequences=True), dict(mask=True)),
    "dropout": (dict(dropout=0.3, recurrent_dropout=0.4, seed=5), {}),
    "everything": (dict(return_sequences=True, return_state=True, go_backwards=True, use_bias=False,
                        dropout=0.2, recurrent_dropout=0.3, seed=9), dict(initial_state=True, mask=True)),
}
B, T, D, N = 3, 5, 4, 3


CELL_ARGUMENTS = ("activation", "recurrent_activation", "use_bias")


LAYER_FOR = {layer.cell_class: layer for layer in RNN.__subclasses__() if hasattr(layer, "cell_class")}


def make_layer(cell, dtype, units=N, **args):
    """The layer users call for this cell (SimpleRNN, LSTM, GRU), or RNN(cell) for a cell without one."""
    cell_class, options = CELL_OPTIONS[cell]
    options = dict(options, **{k: args.pop(k) for k in CELL_ARGUMENTS if k in args})
    if cell_class in LAYER_FOR:
        if cell_class is SimpleRNNCell:
            options.pop("recurrent_activation", None)
        return LAYER_FOR[cell_class](units, dtype=dtype, **options, **args)
    return RNN(cell_class(units, **options), dtype=dtype, **args)


def run_layer(which, cell, dtype, args, options, seed=0, batch=B, units=N):
    """Forward and backward on `which` backend; every array that comes out."""
    mr.set_backend(which)
    rng = np.random.default_rng(seed)
    layer = make_layer(cell, dtype, units, **args)
    x = rng.normal(size=(batch, T, D)).astype(dtype)
    layer.ensure_built(x.shape)
    layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.weights])
    kwargs = {}
    if options.get("initial_state"):
        kwargs["initial_state"] = [rng.normal(size=(batch, units)).astype(dtype) for _ in layer.cell.state_names]
    if options.get("mask"):
        mask = rng.random((batch, T)) > 0.35
        mask[:, 0] = True
        kwargs["mask"] = mask
    out = layer(x, training=True, **kwargs)
    outs = out if isinstance(out, list) else [out]
    cotangents = [rng.normal(size=o.shape).astype(dtype) for o in outs]
    dx = layer.backward(cotangents if isinstance(out, list) else cotangents[0])
    results = {f"output {k}": o.copy() for k, o in enumerate(outs)}
    results["dL/dx"] = dx
    results.update({f"dL/dweight {k}": g for k, g in enumerate(layer.grads)})
    if "initial_state" in kwargs:
        results.update({f"dL/dinitial_state {k}": g for k, g in enumerate(layer.initial_state_grads)})
    return results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("flags", sorted(FLAGS))
@pytest.mark.parametrize("cell", CELLS)
def test_layer_backends_agree(cell, flags, dtype, restore_numerics):
    args, options = FLAGS[flags]
    numpy_run = run_layer("numpy", cell, dtype, dict(args), options)
    numba_run = run_layer("numba", cell, dtype, dict(args), options)
    assert numpy_run.keys() == numba_run.keys()
    for name, expected in numpy_run.items():
        got = numba_run[name]
        assert got.dtype == expected.dtype == np.dtype(dtype), name
        assert np.all(np.isfinite(got)), name
        assert_backends_agree(got, expected, dtype, name)


@pytest.mark.parametrize("flags", ["defaults", "mask", "relu_hard_sigmoid", "everything"])
@pytest.mark.parametrize("cell", CELLS)
def test_wide_layer_backends_agree(cell, flags, restore_numerics):
    """With 37 units the compiled loops run their vectorised bodies (8 float32 lanes at a time)
    as well as the element-at-a-time remainders: still the NumPy loops' bits."""
    args, options = FLAGS[flags]
    numpy_run = run_layer("numpy", cell, "float32", dict(args), options, batch=5, units=37)
    numba_run = run_layer("numba", cell, "float32", dict(args), options, batch=5, units=37)
    for name, expected in numpy_run.items():
        assert_backends_agree(numba_run[name], expected, "float32", name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("flags", sorted(FLAGS))
@pytest.mark.parametrize("cell", CELLS)
def test_batch_split_across_cores_agrees(cell, flags, dtype, monkeypatch, restore_numerics):
    """A batch split into chunks that run side by side (large layers) computes what one pass
    over the whole batch computes: outputs, states, dL/dx and every gradient."""
    args, options = FLAGS[flags]
    whole = run_layer("numba", cell, dtype, dict(args), options, batch=10)
    calls = []

    def spy(fn, items):
        calls.append(len(items))
        return real_map(fn, items)

    real_map = parallel.parallel_map
    monkeypatch.setattr(parallel, "parallel_map", spy)
    monkeypatch.setattr(parallel, "SPLIT_MIN_MACS", 0)         # every layer counts as large
    monkeypatch.setattr(parallel, "MIN_CHUNK_ROWS", 3)
    previous = parallel.set_large_work_threads(3)
    try:
        split = run_layer("numba", cell, dtype, dict(args), options, batch=10)
    finally:
        parallel.set_large_work_threads(previous)
    assert calls == [3, 3], "forward and backward should each run 3 chunks (rows 0-2, 3-6, 7-9)"
    assert whole.keys() == split.keys()
    for name, expected in whole.items():
        np.testing.assert_allclose(split[name], expected, err_msg=name, **TOLERANCE[dtype])


def test_chunks_of_column_layout_arrays_are_views():
    """A batch chunk of a column-layout (T, B, k) array is a view (the column-layout cells read
    it as it stands); a chunk of any other array is a contiguous copy."""
    stored = np.arange(3 * 4 * 6, dtype=np.float32).reshape(3, 4, 6)     # (T, k, B)
    part = Cell.batch_rows(stored.swapaxes(1, 2), slice(1, 4))
    assert part.shape == (3, 3, 4) and np.shares_memory(part, stored)
    np.testing.assert_array_equal(part, stored.swapaxes(1, 2)[:, 1:4])
    row_major = np.arange(3 * 6 * 4, dtype=np.float32).reshape(3, 6, 4)  # (T, B, k)
    part = Cell.batch_rows(row_major, slice(1, 4))
    assert part.flags.c_contiguous and not np.shares_memory(part, row_major)
    np.testing.assert_array_equal(part, row_major[:, 1:4])


def test_numpy_backend_never_compiles(monkeypatch, numpy_backend):
    """With the NumPy backend no kernel reaches Numba (the dispatch really switches)."""
    def refuse(self, dtype):
        raise AssertionError(f"kernel {self.__name__} was compiled under the numpy backend")

    monkeypatch.setattr(Kernel, "jit_for", refuse)
    for cell in CELLS:
        run_layer("numpy", cell, "float64", dict(return_sequences=True), dict(initial_state=True, mask=True))


def test_numba_backend_runs_compiled_kernels(monkeypatch, numba_backend):
    """With the Numba backend the Python bodies of the kernels are not run."""
    import sys

    for cell_class, _ in CELL_OPTIONS.values():
        module = sys.modules[cell_class.__module__]
        for kern in (module.forward_loop, module.backward_loop):
            kern.jit                                            # compile first (or load the cache)
            monkeypatch.setattr(kern, "py", None)               # a Python call would now fail
    for cell in CELLS:
        run_layer("numba", cell, "float32", dict(return_state=True), {})


# -- activations ------------------------------------------------------------------
REFERENCE = {
    "linear": (lambda a: a, lambda a: np.ones_like(a)),
    "tanh": (np.tanh, lambda a: 1 / np.cosh(a) ** 2),
    "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2),
    "relu": (lambda a: np.where(a > 0, a, 0.0), lambda a: (a > 0).astype(float)),
    "hard_sigmoid": (lambda a: np.clip(a / 6 + 0.5, 0, 1), lambda a: ((a > -3) & (a < 3)) / 6),
}


def activation_inputs(dtype, shape):
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    a = rng.normal(0, 3, shape)
    a.flat[:3] = [0.0, 40.0, -40.0][:a.size]                    # the kink of relu, saturation
    return a.astype(dtype)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 1, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(activations.CODES))
def test_activation_backends_agree(name, dtype, shape, restore_numerics):
    code = activations.CODES[name]
    a = activation_inputs(dtype, shape)
    results = {}
    for which in ("numpy", "numba"):
        mr.set_backend(which)
        y = activations.activate(a, code)
        d = activations.derivative(y, code)
        assert y.dtype == d.dtype == np.dtype(dtype) and y.shape == d.shape == a.shape
        results[which] = (y, d)
    for k in range(2):
        assert_backends_agree(results["numba"][k], results["numpy"][k], dtype)

    # ... and both equal the textbook formulas (not just each other).
    f, df = REFERENCE[name]
    a64 = a.astype(np.float64)
    ulp = np.finfo(dtype).eps               # derivatives come from y: 1 - y^2 loses ~2 ulp(1) near |y| = 1
    np.testing.assert_allclose(results["numpy"][0], f(a64), rtol=4 * ulp, atol=ulp)
    np.testing.assert_allclose(results["numpy"][1], df(a64), rtol=4 * ulp, atol=4 * ulp)


# -- selecting the backend ------------------------------------------------------------
def run_python(code, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "MINIRNN_BACKEND"}
    full_env.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=full_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


SELECTED = """
import sys
import numpy as np
import minirnn
layer = minirnn.LSTM(2, return_sequences=True)
y = layer(np.ones((1, 3, 2)), training=True)
layer.backward(np.ones_like(y))
minirnn.backend.wait_for_compiled()
print(minirnn.backend.backend(), "numba" in sys.modules)
"""


@pytest.mark.parametrize("value", ["numpy", "NumPy"])
def test_environment_selects_numpy(value):
    """MINIRNN_BACKEND=numpy: the NumPy path is used, Numba is never even imported."""
    result = run_python(SELECTED, MINIRNN_BACKEND=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["numpy", "False"]


def test_environment_default_is_numba():
    result = run_python(SELECTED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["numba", "True"]


def test_environment_invalid_backend_raises():
    result = run_python("import minirnn", MINIRNN_BACKEND="cuda")
    assert result.returncode != 0
    assert "ValueError" in result.stderr
    assert "MINIRNN_BACKEND" in result.stderr and "'cuda'" in result.stderr and "numpy" in result.stderr


def test_set_backend_switches_and_returns_previous(restore_numerics):
    mr.set_backend("numba")
    assert mr.set_backend("NUMPY") == "numba"
    assert backend.backend() == "numpy"
    assert mr.set_backend("numba") == "numpy"
    assert backend.backend() == "numba"


@pytest.mark.parametrize("name", ["cuda", "", "jax", None])
def test_set_backend_invalid_name_raises(name, restore_numerics):
    before = backend.backend()
    with pytest.raises(ValueError, match=r"backend must be one of \('numba', 'numpy'\), received"):
        mr.set_backend(name)
    assert backend.backend() == before


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
def test_bidirectional_halves_side_by_side_agree(cell, merge_mode, monkeypatch, restore_numerics):
    """The two directions of a Bidirectional layer run on two threads give what they give one
    after the other; a layer with dropout keeps them in order (one shared random generator)."""
    from minirnn.layers import Bidirectional, bidirectional

    mr.set_backend("numba")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, T, D)).astype("float32")

    def run(dropout=0.0):
        layer = Bidirectional(make_layer(cell, "float32", return_sequences=True, return_state=True,
                                         dropout=dropout), merge_mode=merge_mode)
        layer.ensure_built(x.shape)
        layer.set_weights([np.random.default_rng(k).normal(0, 0.5, w.shape) for k, w in enumerate(layer.weights)])
        outs = layer(x, training=True)
        cotangents = [np.random.default_rng(10 + k).normal(size=o.shape).astype("float32") for k, o in enumerate(outs)]
        dx = layer.backward(cotangents)
        return [o.copy() for o in outs] + [dx] + list(layer.grads)

    serial = run()
    calls = []
    real_map = bidirectional.parallel_map
    monkeypatch.setattr(bidirectional, "parallel_map",
                        lambda fn, items: calls.append(len(items)) or real_map(fn, items))
    monkeypatch.setattr(bidirectional, "PARALLEL_MIN_MACS", 0)
    together = run()
    assert calls == [2, 2], "forward and backward should each run the two halves side by side"
    for k, (a, b) in enumerate(zip(serial, together)):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7, err_msg=f"array {k}")
    calls.clear()
    run(dropout=0.3)
    assert calls == [], "halves that draw dropout masks must run one after the other"


def _square_in_pool(queue):
    queue.put(parallel.parallel_map(lambda v: v * v, [1, 2, 3]))


def test_parallel_map_works_in_a_forked_child():
    """A child forked after the thread pool started (multiprocessing's default on Linux) gets a
    pool of its own instead of waiting forever on threads it did not inherit."""
    import multiprocessing

    previous = parallel.set_large_work_threads(2)                     # a pool even on one core
    try:
        assert parallel.parallel_map(lambda v: v + 1, [1, 2]) == [2, 3]    # the parent's pool exists
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_square_in_pool, args=(queue,))
        child.start()
        child.join(timeout=60)
    finally:
        parallel.set_large_work_threads(previous)
    if child.is_alive():
        child.kill()
        pytest.fail("parallel_map hung in the forked child")
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [1, 4, 9]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("flags", ["defaults", "everything"])
def test_weight_gradients_computed_on_a_spare_core_agree(cell, flags, monkeypatch, restore_numerics):
    """Weight gradients handed to a helper thread (while the layers below back-propagate) equal
    those computed in line."""
    args, options = FLAGS[flags]
    in_line = run_layer("numba", cell, "float64", dict(args), options)
    deferred = []
    real_run_later = parallel.run_later

    def spy(fn, worth_it=True):
        deferred.append(worth_it)
        return real_run_later(fn, worth_it)

    monkeypatch.setattr(parallel, "run_later", spy)
    monkeypatch.setattr(parallel, "LATER_MIN_MACS", 0)         # every layer is worth it
    previous = parallel.set_large_work_threads(2)
    try:
        handed_over = run_layer("numba", cell, "float64", dict(args), options)
    finally:
        parallel.set_large_work_threads(previous)
    assert deferred == [True]
    for name, expected in in_line.items():
        np.testing.assert_array_equal(handed_over[name], expected, err_msg=name)


def test_run_later_results_errors_and_a_busy_helper():
    """run_later gives fn's value and raises its error at result(); work the helper has not
    started (it is busy) runs on the thread that asks for it, instead of waiting in the queue."""
    import threading

    previous = parallel.set_large_work_threads(2)
    try:
        assert parallel.run_later(lambda: 7).result() == 7
        assert parallel.run_later(lambda: 8, worth_it=False).result() == 8

        def fail():
            raise ValueError("inside")
        with pytest.raises(ValueError, match="inside"):
            parallel.run_later(fail).result()

        release = threading.Event()
        blocker = parallel.run_later(lambda: release.wait(30))      # occupies the one helper
        ran_on = []
        queued = parallel.run_later(lambda: ran_on.append(threading.current_thread()) or 9)
        assert queued.result() == 9
        assert ran_on == [threading.current_thread()]
        release.set()
        assert blocker.result() is True
    finally:
        parallel.set_large_work_threads(previous)


ALLOCATOR_RUN = """
import numpy as np, minirnn as mr
from minirnn import memory
calls = []
memory._mallopt = lambda: (lambda *a: calls.append(a) or 1)
memory.AUTOMATIC = {automatic}
if {release_first}:
    memory.release_freed_memory()
model = mr.Sequential([mr.Input((4, 1)), mr.layers.LSTM(3), mr.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(np.ones((8, 4, 1), "float32"), np.ones((8, 1), "float32"), epochs=2, verbose=0)
model.predict(np.ones((8, 4, 1), "float32"), verbose=0)
print(calls)
"""
KEEP = [(-3, 32 * 2 ** 20), (-2, 64 * 2 ** 20)]        # M_MMAP_THRESHOLD 32 MiB, M_TOP_PAD 64 MiB
GLIBC_DEFAULTS = [(-3, 128 * 1024), (-2, 128 * 1024)]


@pytest.mark.parametrize("automatic, release_first, expected", [
    (True, False, KEEP),                     # the default: set once, by the first computation
    (False, False, []),                      # switched off: malloc never touched
    (True, True, GLIBC_DEFAULTS),            # released before: glibc's defaults, not set again
])
def test_allocator_tuning_applied_once_unless_refused(automatic, release_first, expected):
    code = ALLOCATOR_RUN.format(automatic=automatic, release_first=release_first)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(expected)


def test_memory_functions_report_whether_applied():
    """On glibc (CI) both calls apply; they return a bool either way."""
    from minirnn import memory

    applied = memory.keep_freed_memory()
    assert memory.release_freed_memory() is applied
    assert isinstance(applied, bool)


# -- compiling in the background ------------------------------------------------------
COLD_FIT = """
import json
import numpy as np
import minirnn as mr
from minirnn import backend
from minirnn.cells import simple_rnn

def fit():
    mr.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 20, 1)).astype("float32")
    y = rng.normal(size=(96, 1)).astype("float32")
    model = mr.Sequential([mr.Input(shape=(20, 1)), mr.layers.SimpleRNN(8, return_sequences=True),
                           mr.layers.SimpleRNN(8), mr.layers.Dense(1)])
    model.compile(optimizer=mr.optimizers.SGD(1e-2, momentum=0.9), loss="huber")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    return [w.tolist() for w in model.get_weights()]

first = fit()
before = simple_rnn.forward_loop.calls_while_compiling
backend.wait_for_compiled()
second = fit()
print(json.dumps(dict(first=first, second=second, before=before,
                      after=simple_rnn.forward_loop.calls_while_compiling, errors=backend._compiler.errors,
                      compiled=sorted(str(d) for d in simple_rnn.forward_loop._ready))))
"""


def test_first_fit_runs_numpy_while_compiling_with_the_same_numbers(tmp_path):
    """A fresh process with an empty compile cache starts on the NumPy loops while the compiled
    ones build in the background, then switches; the trained weights are the same bits as an
    all-NumPy run and an all-compiled run (float32 kernels are bitwise, see the tests above)."""
    import json

    cache = str(tmp_path / "numba_cache")
    runs = {}
    for name, env in (("background", {}), ("numpy", dict(MINIRNN_BACKEND="numpy")),
                      ("compiled first", dict(MINIRNN_COMPILE="wait"))):
        result = run_python(COLD_FIT, NUMBA_CACHE_DIR=cache, **env)
        assert result.returncode == 0, result.stderr
        runs[name] = json.loads(result.stdout.strip().splitlines()[-1])
    background = runs["background"]
    assert background["errors"] == []
    assert background["before"] > 0, "the first fit should have started on the NumPy loops"
    assert background["compiled"] == ["float32"] and background["after"] == background["before"], \
        "after wait_for_compiled the compiled loops should run"
    assert runs["compiled first"]["before"] == 0
    for name, run in runs.items():
        assert run["first"] == background["first"], f"{name}: first fit differs"
        assert run["second"] == background["first"], f"{name}: second fit differs"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_scatter_backends_agree(dtype, restore_numerics):
    """Embedding's gradient: the compiled scatter adds the rows in np.add.at's order (ids repeat)."""
    from minirnn.layers.embedding import rows_added

    rng = np.random.default_rng(4)
    idx = rng.integers(0, 7, 300)
    rows = (rng.standard_normal((300, 5)) * 10 ** rng.uniform(-4, 4, (300, 5))).astype(dtype)
    results = {}
    for which in ("numpy", "numba"):
        mr.set_backend(which)
        table = np.zeros((7, 5), dtype)
        rows_added(table, idx, rows)
        results[which] = table
    np.testing.assert_array_equal(results["numba"], results["numpy"], strict=True)
    expected = np.stack([rows[idx == i].astype(np.float64).sum(axis=0) for i in range(7)])
    np.testing.assert_allclose(results["numpy"], expected, rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_update_backends_agree(dtype, nesterov, restore_numerics):
    """SGD's compiled momentum update gives the NumPy update's bits, for weights of every layout
    (a column-major weight takes the NumPy update: its flat view would be a copy)."""
    from minirnn.optimizers import SGD, momentum_step

    results = {}
    for which in ("numpy", "numba"):
        mr.set_backend(which)
        rng = np.random.default_rng(6)
        params = [rng.standard_normal((5, 7)).astype(dtype), rng.standard_normal(7).astype(dtype),
                  np.asfortranarray(rng.standard_normal((4, 3)).astype(dtype))]
        optimizer = SGD(0.05, momentum=0.9, nesterov=nesterov)
        for _ in range(4):
            grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
            grads[0] = np.asfortranarray(grads[0])              # a gradient of another layout
            optimizer.apply_gradients(params, grads)
        results[which] = params
    assert momentum_step._ready.get(np.dtype(dtype)) is not None, "the numba run should have compiled it"
    for got, expected in zip(results["numba"], results["numpy"]):
        np.testing.assert_array_equal(got, expected, strict=True)
    # and the update is SGD's: four steps from the same start by the formula, in float64
    rng = np.random.default_rng(6)
    start = rng.standard_normal((5, 7))
    rng.standard_normal(7), rng.standard_normal((4, 3))              # the other weights
    p, m = start.astype(dtype).astype(np.float64), np.zeros((5, 7))
    for _ in range(4):
        g = rng.standard_normal((5, 7)).astype(dtype).astype(np.float64)
        rng.standard_normal(7), rng.standard_normal((4, 3))          # the other weights' draws
        m = 0.9 * m - 0.05 * g
        p = p + (0.9 * m - 0.05 * g if nesterov else m)
    np.testing.assert_allclose(results["numba"][0], p, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)


def test_each_float_type_compiles_into_dispatchers_of_its_own(numba_backend):
    """Numba's dispatcher is not thread-safe: compiling one float type's versions (on the compiler
    thread, say) must not touch a dispatcher that another thread calls with the other type.  So a
    kernel and every kernel its compiled code calls keep one dispatcher per float type, and a
    float type's dispatchers only ever hold versions for arrays of that type."""
    from minirnn.blas import gemm

    def reachable(kern, seen):
        if kern not in seen:
            seen.append(kern)
            for callee in kern.callees():
                reachable(callee, seen)
        return seen

    f32, f64 = np.dtype("float32"), np.dtype("float64")
    A, B, C = np.ones((2, 3)), np.ones((3, 2)), np.zeros((2, 2))
    gemm(A, B, C, 0.0)                                  # float64 ready
    kernels = reachable(gemm, [])
    assert len(kernels) >= 4                            # gemm, its plan and the plan's helpers
    before = {k.__name__: list(k.jit_for(f64).overloads) for k in kernels}
    gemm.compiled_for(f32)                              # what the compiler thread does for float32
    C32 = np.zeros((2, 2), "float32")
    gemm(A.astype("float32"), B.astype("float32"), C32, 0.0)
    np.testing.assert_array_equal(C32, np.full((2, 2), 3.0, "float32"))
    for k in kernels:
        assert list(k.jit_for(f64).overloads) == before[k.__name__], k.__name__
        assert k.jit_for(f32) is not k.jit_for(f64), k.__name__
        for dtype in (f32, f64):
            array_types = [a.dtype for sig in k.jit_for(dtype).overloads for a in sig if hasattr(a, "ndim")]
            assert {str(t) for t in array_types} <= {dtype.name}, (k.__name__, dtype, array_types)


NO_SCIPY = """
import sys
import numpy as np
import minirnn
rng = np.random.default_rng(0)
x = rng.normal(size=(4, 7, 3)).astype("float32")
layer = minirnn.LSTM(5, return_sequences=True)
minirnn.set_backend("numpy")
y = layer(x, training=True)
dx = layer.backward(np.ones_like(y))
scipy_loaded = "scipy.linalg" in sys.modules
minirnn.set_backend("numba")
minirnn.backend.compile_in_background(False)
y2 = layer(x, training=True)
dx2 = layer.backward(np.ones_like(y2))
print(scipy_loaded, np.array_equal(y, y2), np.array_equal(dx, dx2), minirnn.blas.LIBRARY_PATH)
"""


def test_products_need_no_scipy_and_both_backends_call_one_blas():
    """gemm calls NumPy's own OpenBLAS, through ctypes as NumPy (importing scipy.linalg would cost
    the first fit ~0.2 s) and as a declared C function compiled: the same bits either way."""
    result = run_python(NO_SCIPY)
    assert result.returncode == 0, result.stderr
    scipy_loaded, same_y, same_dx, path = result.stdout.split()
    assert (scipy_loaded, same_y, same_dx) == ("False", "True", "True")
    assert os.path.dirname(path).startswith(os.path.dirname(np.__file__))     # NumPy's wheel: numpy.libs


def test_a_numpy_without_openblas_takes_the_scipy_openblas64_package(tmp_path, monkeypatch):
    """A NumPy built against another BLAS bundles no scipy-openblas64: the package of that name
    provides the same library (the test extra installs it); without it, the error says so."""
    from minirnn import blas

    path = blas.openblas_path(numpy_dir=str(tmp_path / "numpy"))
    assert "scipy_openblas64" in path and os.path.basename(path).startswith("libscipy_openblas64_")
    monkeypatch.setattr(blas.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"this NumPy has none beside it .*pip install scipy-openblas64"):
        blas.openblas_path(numpy_dir=str(tmp_path / "numpy"))


DELAYED = """
import sys, time
import numpy as np
import minirnn
minirnn.backend.COMPILE_DELAY = float(sys.argv[1])
model = minirnn.Sequential([minirnn.Input((5, 1)), minirnn.LSTM(3), minirnn.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x = np.ones((8, 5, 1), "float32")
model.fit(x, np.ones((8, 1), "float32"), epochs=1, verbose=0)
print("numba" in sys.modules, minirnn.backend.compiling())
if sys.argv[2] == "wait":
    start = time.perf_counter()
    minirnn.backend.wait_for_compiled(120)
    print(minirnn.backend.compiling(), "numba" in sys.modules, time.perf_counter() - start < 60)
"""


@pytest.mark.parametrize("then", ["wait", "exit"])
def test_compilation_waits_its_delay_unless_waited_for(then):
    """Work queued at an idle compiler waits COMPILE_DELAY (the training thread keeps the GIL to
    itself meanwhile); wait_for_compiled() starts it at once, and a process that ends within the
    delay ends without compiling."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", DELAYED, "600", then], env=dict(
        {k: v for k, v in os.environ.items() if k not in ("MINIRNN_BACKEND", "MINIRNN_COMPILE")},
        PYTHONPATH=str(ROOT)), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "False True"                      # queued, Numba not even imported yet
    if then == "wait":
        assert lines[1] == "False True True"
    assert time.perf_counter() - start < 300              # nobody waited the 600 s
