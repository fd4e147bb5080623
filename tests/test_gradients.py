"""Central-difference checks (float64) of every hand-written backward pass, by minirnn.gradcheck.

One checker, :func:`minirnn.gradcheck.check_arrays` (behind :func:`minirnn.gradcheck`), is
shared by every test; its error formula is in minirnn/gradcheck.py.  For single layers the
loss is L = sum(output * cotangent) over every returned array (random cotangents, none for
some state outputs); whole models use their loss.  ``test_checker_catches_broken_backward``
makes sure the checker really fails on a deliberately wrong backward pass.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minirnn as mr
from minirnn import losses, registry
from minirnn.cells import Cell, GRUCell, LSTMCell, SimpleRNNCell
from minirnn.cells import gru as gru_module
from minirnn.cells import simple_rnn as simple_rnn_module
from minirnn.gradcheck import GradcheckError, check_arrays, gradcheck
from minirnn.layers import GRU, LSTM, RNN, Bidirectional, Dense, Input, Lambda, SimpleRNN

from example_loader import load_example

F64 = "float64"
BROKEN = 1e-2       # a broken backward must be at least this wrong

SMOOTH = ("tanh", "sigmoid", "linear")      # no kinks, so finite differences apply everywhere
# Every cell minirnn registers, and GRU's other reset form: {kind: (cell class, its options)}
# (ConvLSTM cells read frames, not vectors: tests/test_conv_lstm.py checks them.)
KINDS = {name.partition(">")[2]: (obj, {})
         for name, obj in ((n, registry.get_registered_object(n)) for n in registry.registered_names("minirnn"))
         if isinstance(obj, type) and issubclass(obj, Cell)          # ops are registered functions
         and not getattr(obj, "reads_frames", False)}
KINDS["GRUCell_reset_before"] = (GRUCell, dict(reset_after=False))
RNN_KINDS = sorted(KINDS)


def layer_gradient_errors(layer, x, rng, initial_state=None, none_outputs=(), mask=None, loss_training=False):
    """gradcheck's report (not raised) for dL/dx, every dL/dweight and dL/d(initial states);
    the cotangents are drawn from a seed taken from `rng`."""
    return gradcheck(layer, x, initial_state=initial_state, mask=mask, training=loss_training,
                     skip_outputs=none_outputs, seed=int(rng.integers(2 ** 32)), raise_exception=False)


def assert_gradients_ok(report):
    report.raise_if_failed()


def perturb_weights(weights, rng, scale=0.5):
    """Add noise to the initialised weights (keeps e.g. unit_forget_bias visible)."""
    for w in weights:
        w += rng.normal(0.0, scale, w.shape)


# -- recurrent layers -------------------------------------------------------------
LAYER_FOR = {layer.cell_class: layer for layer in RNN.__subclasses__() if hasattr(layer, "cell_class")}


def make_rnn(kind, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **flags):
    """The layer users call for this kind (SimpleRNN, LSTM, GRU), or RNN(cell) for a cell without one."""
    cell_class, options = KINDS[kind]
    options = dict(options, activation=activation, use_bias=flags.pop("use_bias", True))
    if cell_class is LSTMCell:
        options["unit_forget_bias"] = unit_forget_bias
    if cell_class is not SimpleRNNCell:
        options["recurrent_activation"] = recurrent_activation
    if cell_class in LAYER_FOR:
        return LAYER_FOR[cell_class](units, dtype=F64, **options, **flags)
    return RNN(cell_class(units, **options), dtype=F64, **flags)


N_STATES = {kind: len(cell_class.state_names) for kind, (cell_class, _) in KINDS.items()}


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
    gradcheck(layer, x, seed=7)


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
    gradcheck(layer, x, seed=7)
    assert layer.grads == []


def test_lambda_explicit_backward():
    """A function that cannot be derived automatically, with its backward given."""
    def reverse_cumsum(x, dy):
        return np.cumsum(dy[:, ::-1], axis=1)[:, ::-1]

    rng = np.random.default_rng(3)
    layer = Lambda(lambda x: np.cumsum(x, axis=1), backward=reverse_cumsum, dtype=F64)
    gradcheck(layer, rng.normal(size=(2, 4, 3)), seed=3)


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
    report = gradcheck(model, x, y, loss="huber", raise_exception=False)
    assert len(report) == 1 + 3 + 3 + 2
    report.raise_if_failed()


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
    gradcheck(model, x, rng.normal(size=(3, 1)), loss=losses.get("mse"))


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
    model.compile(optimizer="sgd", loss="mse")                  # gradcheck uses the compiled loss
    gradcheck(model, x, rng.normal(size=(2, 3, 2)))


# -- the checker must catch a broken backward ---------------------------------------
def _no_recurrent_grad(dM, U, R, out):
    """dh_next without its dM U^T term (B3): truncated backpropagation through time."""
    out[...] = 0


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


def _edit_cell_grads(cls, name, edit):
    """cls.backward_phases with ``edit`` applied to the gradient of weight `name`."""
    original = cls.backward_phases

    def backward_phases(self, *args):
        dX, dstates0, weight_grads = original(self, *args)

        def edited():
            grads = weight_grads()
            return dict(grads, **{name: edit(grads[name])})
        return dX, dstates0, edited
    return backward_phases


def _flip(k):
    return lambda grads: grads[:k] + [-grads[k]] + grads[k + 1:]


def _negate(g):
    return -g


def _swap_halves(original):
    def split(self, d_out, f, b):
        df, db = original(self, d_out, f, b)
        return db, df
    return split


BREAKAGES = {   # name: (layer factory, patch)
    "simple_rnn_no_dh_next": (
        lambda: make_rnn("SimpleRNNCell", 3, return_sequences=True),
        lambda mp: (mr.set_backend("numpy"),                    # the compiled kernel cannot be patched
                    mp.setattr(simple_rnn_module, "recurrent_grad_into", _no_recurrent_grad))),
    "lstm_flipped_dU": (
        lambda: make_rnn("LSTMCell", 3, return_sequences=True),
        lambda mp: mp.setattr(LSTMCell, "backward_phases", _edit_cell_grads(LSTMCell, "recurrent_kernel", _negate))),
    "gru_no_recurrent_bias_grad": (
        lambda: make_rnn("GRUCell", 3, return_sequences=True),
        lambda mp: mp.setattr(GRUCell, "backward_phases", _edit_cell_grads(
            GRUCell, "bias", lambda g: g * np.array([[1.0], [0.0]])))),       # b' lost
    "gru_wrong_gate_derivative": (
        lambda: make_rnn("GRUCell_reset_before", 3, return_sequences=True),
        lambda mp: (mr.set_backend("numpy"), mp.setattr(gru_module, "derivative", _tanh_derivative_everywhere))),
    "dense_flipped_bias_grad": (
        lambda: Dense(3, activation="tanh", dtype=F64),
        lambda mp: mp.setattr(Dense, "backward", _edit_grads(Dense, _flip(1)))),
    "bidirectional_halves_swapped": (
        lambda: Bidirectional(make_rnn("SimpleRNNCell", 3, return_sequences=True), merge_mode="concat"),
        lambda mp: mp.setattr(Bidirectional, "split", _swap_halves(Bidirectional.split))),
}


@pytest.mark.parametrize("how", sorted(BREAKAGES))
def test_checker_catches_broken_backward(how, monkeypatch, restore_numerics):
    make_layer, patch = BREAKAGES[how]

    def report():
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

    assert report().ok
    patch(monkeypatch)
    broken = report()
    assert max(broken.values()) > BROKEN, broken
    with pytest.raises(GradcheckError, match="gradients differ"):
        broken.raise_if_failed()


def test_checker_catches_missing_and_misshapen_gradients():
    w = np.ones(3)
    assert check_arrays(lambda: float(np.sum(w ** 2)), [w], [2 * w]) == {"array 0": pytest.approx(0, abs=1e-9)}
    assert check_arrays(lambda: float(np.sum(w ** 2)), [w], [np.ones(2)])["array 0"] == np.inf
    assert check_arrays(lambda: float(np.sum(w ** 2)), [w], [])["gradient count"] == np.inf


def test_gradcheck_of_a_function_with_its_backward():
    """Any function with a backward: right (x * y, its product rule) passes, a wrong one raises
    an error that names the wrong array."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    report = gradcheck(lambda a, b: a * np.tanh(b), [a, b],
                       backward=lambda dy, a, b: (dy * np.tanh(b), dy * a * (1 - np.tanh(b) ** 2)))
    assert report.ok and len(report) == 2
    with pytest.raises(GradcheckError, match=r"dL/d\(input 1\) .* WRONG"):
        gradcheck(lambda a, b: a * np.tanh(b), [a, b], backward=lambda dy, a, b: (dy * np.tanh(b), dy * a))


@pytest.mark.parametrize("kind", RNN_KINDS)
def test_gradcheck_of_a_cell(kind):
    """A cell on its own, time-major, through the contract of cells/base.py."""
    cell_class, options = KINDS[kind]
    cell = cell_class(3, dtype=F64, **options)
    X = np.random.default_rng(4).normal(size=(4, 2, 3))
    cell.build(3)
    perturb_weights(cell.weights, np.random.default_rng(5))
    report = gradcheck(cell, X)
    assert set(report) == {"dL/dX", "dL/dkernel", "dL/drecurrent_kernel", "dL/dbias"} | \
        {f"dL/d{s}0" for s in cell.state_names}


def test_gradcheck_refuses_float32_with_a_clear_error():
    layer = SimpleRNN(2)
    with pytest.raises(TypeError, match=r"layer 'simple_rnn.*' \(SimpleRNN\) computes in float32; create it with "
                                        r"dtype='float64'"):
        gradcheck(layer, np.ones((1, 3, 1), "float32"))


def test_lstm_by_hand_example_matches_gradcheck_and_lstm():
    """examples/lstm_by_hand.py: its hand-written backward passes gradcheck and equals LSTM's."""
    result = load_example("lstm_by_hand").main()
    assert result["report"].ok and set(result["report"]) == {"dL/dx", "dL/dW", "dL/dU", "dL/db"}
    assert max(result["differences"].values()) < 1e-12


# -- what a training step leaves out ----------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", RNN_KINDS)
def test_training_step_skips_dx_of_the_model_input(kind, bidirectional, monkeypatch):
    """A training step needs no dL/d(model input): the first recurrent layer computes none
    (Cell.input_grad is asked with needed=False), and its weight gradients are the same bits as
    model.backward's, which computes every dL/dx."""
    asked = []
    original = Cell.input_grad

    def spy(self, dXW, input_masks=None, needed=True):
        asked.append(needed)
        return original(self, dXW, input_masks, needed)
    monkeypatch.setattr(Cell, "input_grad", spy)

    def model():
        mr.set_random_seed(3)
        layers = [make_rnn(kind, 4, return_sequences=True), make_rnn(kind, 3)]
        if bidirectional:
            layers = [Bidirectional(layer) for layer in layers]
        net = mr.Sequential([Input(shape=(5, 2))] + layers + [Dense(1)])
        net.compile(optimizer=mr.optimizers.SGD(0.1), loss="mse")
        return net

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5, 2)).astype("float32"), rng.normal(size=(6, 1)).astype("float32")
    stepped = model()
    stepped.train_on_batch(x, y)
    halves = 2 if bidirectional else 1
    assert asked == [True] * halves + [False] * halves     # second layer, then the first

    manual = model()
    out = manual(x, training=True)
    _, d_out = losses.get("mse").value_and_gradient(y, out)
    dx = manual.backward(d_out)
    assert dx.shape == x.shape and np.any(dx != 0)
    assert len(stepped.grads) == len(manual.grads) == len(manual.weights)
    for a, b in zip(stepped.grads, manual.grads):
        np.testing.assert_array_equal(a, b)
