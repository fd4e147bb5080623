"""The numerical settings: the default float type, BLAS's gemm called directly, the BLAS thread cap."""
import itertools
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import minirnn as mr
from minirnn import backend, blas, parallel
from minirnn.blas import gemm
from minirnn.callbacks import Callback
from minirnn.layers import GRU, LSTM, Bidirectional, Conv1D, Dense, Embedding, SimpleRNN


# -- floatx ----------------------------------------------------------------------------
def test_floatx_is_the_dtype_of_layers_that_name_none(float64):
    assert backend.floatx() == "float64"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)).astype("float32")          # float32 data is computed in float64
    for layer in (SimpleRNN(3), LSTM(3, return_state=True), GRU(3, reset_after=False),
                  Bidirectional(LSTM(2)), Conv1D(2, 3), Dense(2)):
        out = layer(x, training=True)
        outs = out if isinstance(out, list) else [out]
        assert layer.dtype == "float64", layer.name
        assert all(w.dtype == np.float64 for w in layer.get_weights()), layer.name
        assert all(o.dtype == np.float64 for o in outs), layer.name
        dx = layer.backward([np.ones_like(o) for o in outs] if isinstance(out, list) else np.ones_like(out))
        assert dx.dtype == np.float64 and all(g.dtype == np.float64 for g in layer.grads), layer.name
    embedding = Embedding(10, 4)
    assert embedding(np.array([[1, 2, 0]])).dtype == np.float64
    model = mr.Sequential([mr.Input(shape=(5, 2)), GRU(3), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.ones(3, "float32"), epochs=2, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float64 and len(history.history["loss"]) == 2


def test_set_floatx_applies_to_layers_made_afterwards(restore_numerics):
    assert backend.floatx() == "float32"                       # Keras's default
    before = LSTM(2)
    backend.set_floatx(np.float64)                             # any spelling numpy understands
    assert backend.floatx() == "float64"
    assert (before.dtype, LSTM(2).dtype, LSTM(2, dtype="float32").dtype) == ("float32", "float64", "float32")
    backend.set_floatx("float32")
    assert Dense(1).dtype == "float32"


@pytest.mark.parametrize("bad", ["float16", "int32", "complex128"])
def test_set_floatx_rejects_other_types(bad, restore_numerics):
    with pytest.raises(ValueError, match=rf"floatx must be 'float32' or 'float64', received '{bad}'"):
        backend.set_floatx(bad)
    assert backend.floatx() == "float32"


# -- gemm: C = A B + beta C in place -----------------------------------------------------
def operand(rng, rows, cols, layout, dtype):
    """A (rows, cols) array laid out as BLAS may meet it: contiguous, transposed (column-major),
    a strided window of rows, or a transposed window."""
    if layout == "contiguous":
        return rng.normal(size=(rows, cols)).astype(dtype)
    if layout == "transposed":
        return rng.normal(size=(cols, rows)).astype(dtype).T
    if layout == "row_window":                                 # every other row, columns 1..cols
        return rng.normal(size=(2 * rows, cols + 3)).astype(dtype)[::2, 1:cols + 1]
    return rng.normal(size=(cols + 2, rows + 3)).astype(dtype)[1:cols + 1, 2:rows + 2].T


LAYOUTS = ("contiguous", "transposed", "row_window", "transposed_window")


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_matches_numpy(kernels, dtype, restore_numerics):
    backend.set_backend(kernels)
    rng = np.random.default_rng(1)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    for m, k, n in [(3, 4, 5), (1, 6, 1), (5, 1, 2), (4, 0, 3), (0, 3, 2)]:
        for a_layout in LAYOUTS:
            for b_layout in LAYOUTS:
                for beta, c_layout in itertools.product((0.0, 1.0, -0.5), ("row-major", "column-major")):
                    A, B = operand(rng, m, k, a_layout, dtype), operand(rng, k, n, b_layout, dtype)
                    # C: a window of a wider array (or, column-major, the transposed window of a
                    # taller one), whose other columns must stay untouched.
                    base = rng.normal(size=(m, n + 4)).astype(dtype)
                    if c_layout == "column-major":
                        base = np.ascontiguousarray(base.T).T
                    untouched = base.copy()
                    C = base[:, 2:n + 2]
                    if beta == 0:
                        C[...] = np.nan                        # beta = 0 must not read C
                    expected = A.astype(np.float64) @ B.astype(np.float64) + (beta * C if beta else 0)
                    gemm(A, B, C, beta)
                    what = f"{m}x{k}x{n} A {a_layout}, B {b_layout}, C {c_layout}, beta {beta}"
                    assert C.dtype == np.dtype(dtype), what
                    np.testing.assert_allclose(C, expected, err_msg=what, **tol)
                    np.testing.assert_array_equal(base[:, :2], untouched[:, :2], err_msg=what)
                    np.testing.assert_array_equal(base[:, n + 2:], untouched[:, n + 2:], err_msg=what)


def test_gemm_reads_each_operands_address_right():
    """The NumPy path reads an array's data pointer from the array object; it must be the
    address NumPy reports, for every layout gemm meets and for arrays that own no data."""
    assert blas._DATA_OFFSET is not None
    rng = np.random.default_rng(4)
    for dtype in ("float32", "float64"):
        for layout in LAYOUTS:
            X = operand(rng, 5, 3, layout, dtype)
            for view in (X, X[1:], X[:, 1:], X.T, X[2:4].T):
                assert blas._address(view) == view.ctypes.data, (dtype, layout)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_gemm_rejects_mismatched_shapes(kernels, restore_numerics):
    backend.set_backend(kernels)
    with pytest.raises(ValueError):
        gemm(np.ones((2, 3)), np.ones((4, 2)), np.zeros((2, 2)), 0.0)


def test_gemm_by_blas_names_an_operand_it_cannot_pass(numba_backend):
    strided = np.ones((6, 6))[::2, ::2]                         # no unit stride along either axis
    with pytest.raises(ValueError, match="gemm: operand needs a unit stride along one axis"):
        gemm(strided, np.ones((3, 2)), np.zeros((3, 2)), 0.0)


# -- the BLAS thread cap -------------------------------------------------------------------
def blas_pool_sizes():
    """The sizes of the BLAS pools minirnn computes with: the library gemm calls, which is NumPy's
    (NumPy's ``@`` too).  Numba may load SciPy's BLAS after minirnn built its thread controls; no
    minirnn product calls it."""
    blas.load_library()
    return {info["num_threads"] for info in threadpool_info()
            if info["user_api"] == "blas" and os.path.realpath(info["filepath"]) == os.path.realpath(blas.LIBRARY_PATH)}


class PoolProbe(Callback):
    """Records the BLAS pools' sizes at every batch of a fit."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def on_train_batch_end(self, batch, logs=None):
        self.seen |= blas_pool_sizes()


@pytest.fixture
def restore_blas_threads():
    previous = parallel.blas_threads()
    yield
    parallel.set_blas_threads(previous)


@pytest.mark.parametrize("threads, during", [(1, {1}), (2, {2}), (None, {3})])
def test_set_blas_threads_caps_the_pools_while_minirnn_runs(threads, during, restore_blas_threads):
    x = np.random.default_rng(2).normal(size=(32, 6, 2)).astype("float32")
    model = mr.Sequential([mr.Input(shape=(6, 2)), LSTM(4), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with threadpool_limits(limits=3, user_api="blas"):         # the caller's setting, not minirnn's
        assert blas_pool_sizes() == {3}
        assert parallel.set_blas_threads(threads) == 1 and parallel.blas_threads() == threads
        probe = PoolProbe()
        model.fit(x, x[:, -1, :1], batch_size=16, epochs=1, verbose=0, callbacks=[probe])
        assert probe.seen == during                            # None: the pools are left alone
        assert blas_pool_sizes() == {3}                        # and restored after


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_set_blas_threads_rejects_non_positive_ints(bad, restore_blas_threads):
    with pytest.raises(ValueError, match=rf"BLAS threads must be a positive int or None, received {bad!r}"):
        parallel.set_blas_threads(bad)
    assert parallel.blas_threads() == 1


# -- layouts between layers ------------------------------------------------------------
def test_recurrent_layers_hand_sequences_on_time_major():
    """A recurrent layer's sequences are (batch, time) views of the loops' time-major arrays
    (row-major, or the LSTM's column layout), so a recurrent layer above that keeps the same
    layout reads them without a copy; the numbers are those of a C-contiguous copy, and a model
    hands out C-contiguous arrays."""
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    y = LSTM(5, return_sequences=True)(x)
    columns = np.swapaxes(y.transpose(1, 0, 2), -1, -2)                 # (time, units, batch)
    assert y.shape == (4, 6, 5) and columns.flags.c_contiguous
    lstm_above = LSTM(2, return_sequences=True)
    lstm_above(y)
    assert np.shares_memory(lstm_above.cell.in_layout(y.transpose(1, 0, 2)), y)
    np.testing.assert_array_equal(lstm_above(y), lstm_above(np.ascontiguousarray(y)))
    z = Bidirectional(SimpleRNN(3, return_sequences=True))(y)
    assert z.shape == (4, 6, 6) and z.transpose(1, 0, 2).flags.c_contiguous
    above = GRU(2, return_sequences=True)
    assert np.shares_memory(above.cell.in_layout(z.transpose(1, 0, 2)), z)
    np.testing.assert_array_equal(above(z), above(np.ascontiguousarray(z)))
    model = mr.Sequential([mr.Input((6, 3)), LSTM(5, return_sequences=True)])
    for out in (model.predict(x, verbose=0), model(x)):
        assert out.flags.c_contiguous


@pytest.mark.parametrize("go_backwards", [False, True])
def test_backward_leaves_the_incoming_gradient_as_it_was(go_backwards):
    """With a mask the output's gradient is weighted per step: into an array of the layer's own,
    never into the caller's (which may be another layer's time-major gradient seen as a view)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = np.array([[0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 0]], bool)
    layer = LSTM(4, return_sequences=True, go_backwards=go_backwards)
    dy = rng.normal(size=(3, 5, 4)).astype("float32")
    seen = dy.copy()
    dx = {}
    for name, grad in (("batch-major", dy), ("time-major view", np.ascontiguousarray(dy.transpose(1, 0, 2)).transpose(1, 0, 2))):
        layer(x, training=True, mask=mask)
        dx[name] = layer.backward(grad)
        np.testing.assert_array_equal(grad, seen)
    np.testing.assert_array_equal(dx["batch-major"], dx["time-major view"])
