"""Central-difference checks (float64) of every hand-written backward pass.

One checker, :func:`check_gradients`, is shared by every test: it perturbs each
element of each array in place, takes central differences of a scalar loss
(the fourth-order stencil, so that the steep polynomials of all-linear gates
still give O(eps^4) truncation error) and compares them with the analytic
gradient over the whole array,

    error = |a - n| / max(|a| + |n|, TINY, FLOOR * scale)      (Euclidean norms)

where scale is the size of L's terms (|L| itself, or sum |output * cotangent|).

For single layers the loss is L = sum(output * cotangent) over every returned
array (random cotangents, ``None`` for some state outputs); whole models use
their compiled loss.  ``test_checker_catches_broken_backward`` makes sure the
checker really fails on a deliberately wrong backward pass.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minirnn as mr
from minirnn import losses
from minirnn.cells import GRUCell, LSTMCell
from minirnn.cells import gru as gru_module
from minirnn.cells import simple_rnn as simple_rnn_module
from minirnn.layers import GRU, LSTM, Bidirectional, Dense, Input, Lambda, SimpleRNN

F64 = "float64"
EPS = 1e-6          # central-difference step
TOL = 1e-6          # largest accepted relative error
TINY = 1e-6        # floor of the denominator: gradients this small are compared absolutely (to TOL * TINY) ...
FLOOR = 1e-2       # ... and so are those below FLOOR * |terms of L|, which round-off in L (~1e-16 |L| / EPS) swamps
BROKEN = 1e-2       # a broken backward must be at least this wrong

SMOOTH = ("tanh", "sigmoid", "linear")      # no kinks, so finite differences apply everywhere
RNN_KINDS = ("simple_rnn", "lstm", "gru", "gru_reset_before")


# -- the checker ------------------------------------------------------------------
def check_gradients(loss, arrays, analytic, names=None, eps=EPS, scale=0.0):
    """{name: relative error} of each analytic gradient against central differences of ``loss()``.

    ``loss`` must read the live ``arrays``, which are perturbed in place one element
    at a time and restored.  ``scale``: the size of the terms of the loss (at least
    |loss()| is used).  A missing or misshapen gradient counts as an infinite error."""
    arrays, analytic = list(arrays), list(analytic)
    names = list(names) if names is not None else [f"array {k}" for k in range(len(arrays))]
    errors = {}
    if len(analytic) != len(arrays):
        errors["gradient count"] = np.inf
    for name, arr, grad in zip(names, arrays, analytic):
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64, f"{name}: checks need float64 arrays"
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
    return errors


def assert_gradients_ok(errors):
    bad = {name: err for name, err in errors.items() if not err < TOL}
    assert not bad, f"analytic and numerical gradients differ (relative error > {TOL}): {bad}"


def layer_gradient_errors(layer, x, rng, initial_state=None, none_outputs=(), mask=None, loss_training=False):
    """Check dL/dx, every dL/dweight and dL/d(initial states) of ``layer`` for
    L = sum_k sum(output_k * cotangent_k); outputs in ``none_outputs`` get ``None``.
    The differenced loss runs with ``training=loss_training`` (dropout with fixed masks)."""
    kwargs = {} if initial_state is None else {"initial_state": initial_state}
    if mask is not None:
        kwargs["mask"] = mask
    out = layer(x, training=True, **kwargs)
    outs = out if isinstance(out, list) else [out]
    cotangents = [None if k in none_outputs else rng.standard_normal(o.shape) for k, o in enumerate(outs)]
    dx = layer.backward(cotangents if isinstance(out, list) else cotangents[0])

    arrays, analytic, names = [x], [dx], ["dL/dx"]
    assert len(layer.grads) == len(layer.weights) == len(layer.get_weights())
    for k, (w, g) in enumerate(zip(layer.weights, layer.grads)):
        arrays.append(w)
        analytic.append(g)
        names.append(f"dL/dweight[{k}] {w.shape}")
    if initial_state is not None:
        states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
        assert len(layer.initial_state_grads) == len(states)
        for k, (s, g) in enumerate(zip(states, layer.initial_state_grads)):
            arrays.append(s)
            analytic.append(g)
            names.append(f"dL/dinitial_state[{k}]")

    def loss():
        again = layer(x, training=loss_training, **kwargs)
        again = again if isinstance(again, list) else [again]
        return sum(float(np.sum(o * c)) for o, c in zip(again, cotangents) if c is not None)

    scale = sum(float(np.sum(np.abs(o * c))) for o, c in zip(outs, cotangents) if c is not None)
    return check_gradients(loss, arrays, analytic, names, scale=scale)


def perturb_weights(weights, rng, scale=0.5):
    """Add noise to the initialised weights (keeps e.g. unit_forget_bias visible)."""
    for w in weights:
        w += rng.normal(0.0, scale, w.shape)


# -- recurrent layers -------------------------------------------------------------
def make_rnn(kind, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **flags):
    if kind == "simple_rnn":
        return SimpleRNN(units, activation=activation, dtype=F64, **flags)
    if kind == "lstm":
        return LSTM(units, activation=activation, recurrent_activation=recurrent_activation,
                    unit_forget_bias=unit_forget_bias, dtype=F64, **flags)
    return GRU(units, activation=activation, recurrent_activation=recurrent_activation,
               reset_after=(kind == "gru"), dtype=F64, **flags)


N_STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1, "gru_reset_before": 1}


@st.composite
def rnn_cases(draw, kind):
    return dict(
        batch=draw(st.integers(1, 3)), time=draw(st.integers(1, 5)), features=draw(st.integers(1, 3)),
        units=draw(st.integers(1, 4)),
        flags=dict(return_sequences=draw(st.booleans()), return_state=draw(st.booleans()),
                   go_backwards=draw(st.booleans()), use_bias=draw(st.booleans())),
        activation=draw(st.sampled_from(SMOOTH)), recurrent_activation=draw(st.sampled_from(SMOOTH)),
        unit_forget_bias=draw(st.booleans()), with_initial_state=draw(st.booleans()),
        none_states=draw(st.sets(st.integers(1, N_STATES[kind]))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@pytest.mark.parametrize("kind", RNN_KINDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_rnn_gradients(kind, data):
    case = data.draw(rnn_cases(kind))
    rng = np.random.default_rng(case["seed"])
    mr.set_random_seed(case["seed"] % 2**31)
    layer = make_rnn(kind, case["units"], case["activation"], case["recurrent_activation"],
                     case["unit_forget_bias"], **case["flags"])
    B, T, D, n = case["batch"], case["time"], case["features"], case["units"]
    x = rng.normal(0.0, 1.0, (B, T, D))
    layer(x)                                                    # build, then randomise the weights
    perturb_weights(layer.weights, rng)
    initial_state = None
    if case["with_initial_state"]:
        initial_state = [rng.normal(0.0, 0.8, (B, n)) for _ in range(N_STATES[kind])]
    none_outputs = case["none_states"] if case["flags"]["return_state"] else ()
    assert_gradients_ok(layer_gradient_errors(layer, x, rng, initial_state, none_outputs))


@pytest.mark.parametrize("kind", RNN_KINDS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_rnn_gradients_with_mask_and_dropout(kind, data):
    """Masked steps (both output conventions) and dropout, its masks held fixed while differencing."""
    case = data.draw(rnn_cases(kind))
    zero_output = data.draw(st.booleans())
    dropout, recurrent_dropout = data.draw(st.sampled_from([(0.0, 0.0), (0.4, 0.0), (0.0, 0.5), (0.3, 0.3)]))
    rng = np.random.default_rng(case["seed"])
    mr.set_random_seed(case["seed"] % 2**31)
    layer = make_rnn(kind, case["units"], case["activation"], case["recurrent_activation"], case["unit_forget_bias"],
                     zero_output_for_mask=zero_output, dropout=dropout, recurrent_dropout=recurrent_dropout,
                     **case["flags"])
    B, T, D, n = case["batch"], case["time"], case["features"], case["units"]
    x = rng.normal(0.0, 1.0, (B, T, D))
    layer(x)
    perturb_weights(layer.weights, rng)
    fixed = layer.dropout_masks(B)
    layer.dropout_masks = lambda batch: fixed                   # the same dropout in every call
    mask = rng.random((B, T)) < 0.7
    initial_state = None
    if case["with_initial_state"]:
        initial_state = [rng.normal(0.0, 0.8, (B, n)) for _ in range(N_STATES[kind])]
    none_outputs = case["none_states"] if case["flags"]["return_state"] else ()
    assert_gradients_ok(layer_gradient_errors(layer, x, rng, initial_state, none_outputs, mask=mask,
                                              loss_training=True))


@st.composite
def bidirectional_cases(draw):
    kind = draw(st.sampled_from(RNN_KINDS))
    return dict(
        kind=kind, merge_mode=draw(st.sampled_from(["concat", "sum", "mul", "ave", None])),
        batch=draw(st.integers(1, 3)), time=draw(st.integers(1, 4)), features=draw(st.integers(1, 3)),
        units=draw(st.integers(1, 3)),
        flags=dict(return_sequences=draw(st.booleans()), return_state=draw(st.booleans()),
                   go_backwards=draw(st.booleans()), use_bias=draw(st.booleans())),
        activation=draw(st.sampled_from(SMOOTH)),
        with_initial_state=draw(st.booleans()),
        none_output=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)),
    )


@settings(max_examples=30, deadline=None)
@given(case=bidirectional_cases())
def test_bidirectional_gradients(case):
    rng = np.random.default_rng(case["seed"])
    mr.set_random_seed(case["seed"] % 2**31)
    kind, B, T, D, n = case["kind"], case["batch"], case["time"], case["features"], case["units"]
    layer = Bidirectional(make_rnn(kind, n, case["activation"], **case["flags"]), merge_mode=case["merge_mode"])
    x = rng.normal(0.0, 1.0, (B, T, D))
    layer(x)
    perturb_weights(layer.weights, rng)
    initial_state = None
    if case["with_initial_state"]:                              # forward half, then backward half
        initial_state = [rng.normal(0.0, 0.8, (B, n)) for _ in range(2 * N_STATES[kind])]
    none_outputs = (0,) if case["none_output"] and case["flags"]["return_state"] else ()
    assert_gradients_ok(layer_gradient_errors(layer, x, rng, initial_state, none_outputs))


@pytest.mark.parametrize("kind", RNN_KINDS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_masked_bidirectional_gradients(kind, merge_mode, return_sequences, return_state):
    """Both directions over left-padded, right-padded and gapped rows: dL/dx, dL/dweights and
    dL/d(initial states) of both halves."""
    rng = np.random.default_rng(RNN_KINDS.index(kind) * 10 + len(str(merge_mode)))
    mask = np.array([[0, 0, 1, 1, 1],           # left-padded
                     [1, 1, 1, 0, 0],           # right-padded
                     [1, 0, 0, 1, 1]], bool)    # a gap
    layer = Bidirectional(make_rnn(kind, 2, return_sequences=return_sequences, return_state=return_state),
                          merge_mode=merge_mode)
    x = rng.normal(0.0, 1.0, (3, 5, 2))
    layer(x)
    perturb_weights(layer.weights, rng)
    initial_state = [rng.normal(0.0, 0.8, (3, 2)) for _ in range(2 * N_STATES[kind])]
    assert_gradients_ok(layer_gradient_errors(layer, x, rng, initial_state, mask=mask))


def test_bidirectional_initial_state_split():
    """The first half of initial_state starts the forward layer, the second half the backward one."""
    rng = np.random.default_rng(0)
    layer = Bidirectional(LSTM(2, return_state=True, dtype=F64), merge_mode=None)
    x = rng.normal(size=(3, 4, 2))
    states = [rng.normal(size=(3, 2)) for _ in range(4)]
    out_f, out_b, *_ = layer(x, initial_state=states)
    assert np.array_equal(out_f, layer.forward_layer(x, initial_state=states[:2])[0])
    assert np.array_equal(out_b, layer.backward_layer(x, initial_state=states[2:])[0])
    assert not np.allclose(out_f, layer.forward_layer(x)[0])


# -- Dense ------------------------------------------------------------------------
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "softmax"])
@pytest.mark.parametrize("shape", [(4, 3), (1, 1), (2, 5, 3), (3, 1, 2)])
def test_dense_gradients(shape, activation, use_bias):
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    layer = Dense(3, activation=activation, use_bias=use_bias, dtype=F64)
    x = rng.normal(size=shape)
    layer(x)
    perturb_weights(layer.weights, rng)
    assert_gradients_ok(layer_gradient_errors(layer, x, rng))


# -- Lambda -----------------------------------------------------------------------
LAMBDAS = {
    "index_new_axis": (lambda x: x[..., None], (3, 4)),
    "expand_dims": (lambda x: np.expand_dims(x, -1), (2, 5)),
    "scale": (lambda x: x * 100.0, (2, 3, 2)),
    "tanh": (np.tanh, (2, 3, 2)),
    "transpose": (lambda x: np.transpose(x, (0, 2, 1)), (2, 3, 4)),
    "reverse_and_repeat": (lambda x: np.concatenate([x, x[:, ::-1]], axis=-1), (2, 3, 2)),
    "slice": (lambda x: x[:, 1:, :1], (2, 4, 3)),
    "analytic": (lambda x: np.sin(x) * x ** 2 + np.exp(x / 3), (3, 2)),
}


@pytest.mark.parametrize("name", sorted(LAMBDAS))
def test_lambda_gradients(name):
    function, shape = LAMBDAS[name]
    rng = np.random.default_rng(7)
    layer = Lambda(function, dtype=F64)
    x = rng.normal(size=shape)
    assert_gradients_ok(layer_gradient_errors(layer, x, rng))
    assert layer.grads == []


def test_lambda_explicit_backward():
    """A function that cannot be derived automatically, with its backward given."""
    def reverse_cumsum(x, dy):
        return np.cumsum(dy[:, ::-1], axis=1)[:, ::-1]

    rng = np.random.default_rng(3)
    layer = Lambda(lambda x: np.cumsum(x, axis=1), backward=reverse_cumsum, dtype=F64)
    assert_gradients_ok(layer_gradient_errors(layer, rng.normal(size=(2, 4, 3)), rng))


@pytest.mark.parametrize("function", [lambda x: np.cumsum(x, axis=1), np.abs, lambda x: np.sort(x, axis=1),
                                      lambda x: x.sum(axis=-1)],
                         ids=["cumsum", "abs", "sort", "sum"])
def test_lambda_not_derivable_raises(function):
    layer = Lambda(function, dtype=F64)
    x = np.random.default_rng(5).normal(size=(2, 4, 3))
    y = layer(x, training=True)
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' \(Lambda\) cannot derive"):
        layer.backward(np.ones_like(y))


# -- whole models ------------------------------------------------------------------
def model_gradient_errors(model, loss, x, y):
    """Check model.backward(loss.gradient(...)) against differences of loss(y, model(x))."""
    y_pred = model(x, training=True)
    dx = model.backward(loss.gradient(y, y_pred))
    arrays, analytic, names = [x], [dx], ["dL/dx"]
    for layer in model.layers:
        grads = [None] * len(layer.weights) if layer.grads is None else list(layer.grads)
        assert len(grads) == len(layer.weights), layer.name
        for k, (w, g) in enumerate(zip(layer.weights, grads)):
            arrays.append(w)
            analytic.append(g)
            names.append(f"{layer.name} weight[{k}]")
    return check_gradients(lambda: loss(y, model(x)), arrays, analytic, names)


def test_sequential_simple_rnn_stack_huber():
    rng = np.random.default_rng(11)
    mr.set_random_seed(11)
    model = mr.Sequential([
        Lambda(lambda x: x[..., None], dtype=F64),
        SimpleRNN(4, return_sequences=True, dtype=F64),
        SimpleRNN(3, go_backwards=True, dtype=F64),
        Dense(2, activation="tanh", dtype=F64),
        Lambda(lambda x: x * 100.0, dtype=F64),
    ])
    x = rng.normal(size=(3, 5))
    y_pred = model(x)
    perturb_weights(model.weights, rng, 0.3)
    y_pred = model(x)
    # Errors on both sides of Huber's kink (|e| = 1), well away from it.
    y = y_pred + np.array([[0.3, -5.0], [-0.4, 20.0], [3.0, 0.1]])
    errors = model_gradient_errors(model, losses.get("huber"), x, y)
    assert len(errors) == 1 + 3 + 3 + 2
    assert_gradients_ok(errors)


def test_sequential_bidirectional_gru_stack_mse():
    rng = np.random.default_rng(12)
    mr.set_random_seed(12)
    model = mr.Sequential([
        Input(shape=(4, 2), dtype=F64),
        Bidirectional(LSTM(3, return_sequences=True, dtype=F64)),
        Bidirectional(GRU(2, reset_after=False, dtype=F64), merge_mode="mul"),
        Dense(3, activation="tanh", dtype=F64),
        Dense(1, dtype=F64),
    ])
    x = rng.normal(size=(3, 4, 2))
    model(x)
    perturb_weights(model.weights, rng, 0.3)
    errors = model_gradient_errors(model, losses.get("mse"), x, rng.normal(size=(3, 1)))
    assert_gradients_ok(errors)


def test_sequential_bidirectional_lstm_sequences_mse():
    rng = np.random.default_rng(13)
    mr.set_random_seed(13)
    model = mr.Sequential([
        Bidirectional(LSTM(3, return_sequences=True, dtype=F64), merge_mode="sum"),
        Bidirectional(LSTM(2, return_sequences=True, go_backwards=True, dtype=F64)),
        Dense(2, activation="sigmoid", dtype=F64),
    ])
    x = rng.normal(size=(2, 3, 2))
    model(x)
    perturb_weights(model.weights, rng, 0.3)
    assert_gradients_ok(model_gradient_errors(model, losses.get("mse"), x, rng.normal(size=(2, 3, 2))))


# -- the checker must catch a broken backward ---------------------------------------
def _no_recurrent_grad(dM, UT, R):
    """dh_next without its dM U^T term (B3): truncated backpropagation through time."""
    return np.zeros((dM.shape[0], UT.shape[1]), dM.dtype)


def _tanh_derivative_everywhere(y, code):
    return 1 - y * y                                            # wrong for the sigmoid gates


def _edit_grads(cls, edit):
    """cls.backward with ``edit(grads)`` applied to the weight gradients it leaves."""
    original = cls.backward

    def backward(self, *args):
        result = original(self, *args)
        self.grads = edit(list(self.grads))
        return result
    return backward


def _edit_cell_grads(cls, edit):
    """cls.backward_phases with ``edit(grads)`` applied to the weight gradients it computes."""
    original = cls.backward_phases

    def backward_phases(self, *args):
        dX, dstates0, weight_grads = original(self, *args)
        return dX, dstates0, lambda: edit(list(weight_grads()))
    return backward_phases


def _flip(k):
    return lambda grads: grads[:k] + [-grads[k]] + grads[k + 1:]


def _swap_halves(original):
    def split(self, d_out, f, b):
        df, db = original(self, d_out, f, b)
        return db, df
    return split


BREAKAGES = {   # name: (layer factory, patch)
    "simple_rnn_no_dh_next": (
        lambda: make_rnn("simple_rnn", 3, return_sequences=True),
        lambda mp: (mr.set_backend("numpy"),                    # the compiled kernel cannot be patched
                    mp.setattr(simple_rnn_module, "recurrent_grad", _no_recurrent_grad))),
    "lstm_flipped_dU": (
        lambda: make_rnn("lstm", 3, return_sequences=True),
        lambda mp: mp.setattr(LSTMCell, "backward_phases", _edit_cell_grads(LSTMCell, _flip(1)))),
    "gru_no_recurrent_bias_grad": (
        lambda: make_rnn("gru", 3, return_sequences=True),
        lambda mp: mp.setattr(GRUCell, "backward_phases", _edit_cell_grads(
            GRUCell, lambda g: g[:2] + [g[2] * np.array([[1.0], [0.0]])]))),       # b' lost
    "gru_wrong_gate_derivative": (
        lambda: make_rnn("gru_reset_before", 3, return_sequences=True),
        lambda mp: (mr.set_backend("numpy"), mp.setattr(gru_module, "derivative", _tanh_derivative_everywhere))),
    "dense_flipped_bias_grad": (
        lambda: Dense(3, activation="tanh", dtype=F64),
        lambda mp: mp.setattr(Dense, "backward", _edit_grads(Dense, _flip(1)))),
    "bidirectional_halves_swapped": (
        lambda: Bidirectional(make_rnn("simple_rnn", 3, return_sequences=True), merge_mode="concat"),
        lambda mp: mp.setattr(Bidirectional, "split", _swap_halves(Bidirectional.split))),
}


@pytest.mark.parametrize("how", sorted(BREAKAGES))
def test_checker_catches_broken_backward(how, monkeypatch, restore_numerics):
    make_layer, patch = BREAKAGES[how]

    def errors():
        rng = np.random.default_rng(21)
        mr.set_random_seed(21)
        layer = make_layer()
        x = rng.normal(size=(2, 4, 2))
        layer(x)
        perturb_weights(layer.weights, rng)
        if isinstance(layer, Dense):
            return layer_gradient_errors(layer, x, rng)
        halves = [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) else [layer]
        states = [rng.normal(size=(2, 3)) for half in halves for _ in half.cell.state_names]
        return layer_gradient_errors(layer, x, rng, states)

    assert_gradients_ok(errors())
    patch(monkeypatch)
    broken = errors()
    assert max(broken.values()) > BROKEN, broken
    with pytest.raises(AssertionError, match="gradients differ"):
        assert_gradients_ok(broken)


def test_checker_catches_missing_and_misshapen_gradients():
    w = np.ones(3)
    assert check_gradients(lambda: float(np.sum(w ** 2)), [w], [2 * w]) == {"array 0": pytest.approx(0, abs=1e-9)}
    assert check_gradients(lambda: float(np.sum(w ** 2)), [w], [np.ones(2)])["array 0"] == np.inf
    assert check_gradients(lambda: float(np.sum(w ** 2)), [w], [])["gradient count"] == np.inf
