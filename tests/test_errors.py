"""Misuse gives a clear error: the right exception type, a message that names the
layer (or model) at fault and states what was expected and what was received."""
import re

import numpy as np
import pytest

import minirnn as mr
from minirnn import losses
from minirnn.layers import GRU, LSTM, Bidirectional, Dense, Input, Lambda, SimpleRNN


def raises(exc, *parts):
    """pytest.raises(exc) whose message must contain every one of `parts`, literally, in any order."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(str(p))})" for p in parts))


def snake(cls):
    return {"SimpleRNN": "simple_rnn"}.get(cls.__name__, cls.__name__.lower())


def layer_tag(layer):
    return f"'{layer.name}'"


RNNS = {
    "simple_rnn": lambda **kw: SimpleRNN(3, **kw),
    "lstm": lambda **kw: LSTM(3, **kw),
    "gru": lambda **kw: GRU(3, **kw),
}
X = np.random.default_rng(0).normal(size=(2, 4, 5))


# -- inputs -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(RNNS))
@pytest.mark.parametrize("shape", [(2, 5), (2, 4, 5, 1), (5,)])
def test_rnn_wrong_rank(kind, shape):
    layer = RNNS[kind]()
    with raises(ValueError, layer_tag(layer), "rank 3", "(batch, time, features)", f"received shape {shape}"):
        layer(np.zeros(shape))
    assert not layer.built


def test_lstm_2d_input_names_custom_name():
    layer = LSTM(4, name="encoder")
    with raises(ValueError, "'encoder' (LSTM)", "rank 3", "received shape (8, 3)"):
        layer(np.zeros((8, 3)))


def test_dense_rank_too_low():
    layer = Dense(2)
    with raises(ValueError, layer_tag(layer), "rank >= 2", "received shape (5,)"):
        layer(np.zeros(5))


@pytest.mark.parametrize("make", [*RNNS.values(), lambda: Bidirectional(LSTM(3)), lambda: Dense(3)],
                         ids=[*RNNS, "bidirectional", "dense"])
def test_wrong_feature_count_on_built_layer(make):
    layer = make()
    layer(X)
    bad = np.zeros((2, 4, 7))
    with raises(ValueError, layer_tag(layer), "expects 5 features", "received shape (2, 4, 7)"):
        layer(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("make", [*RNNS.values(), lambda: Bidirectional(GRU(2)), lambda: Dense(3),
                                  lambda: Lambda(np.tanh)],
                         ids=[*RNNS, "bidirectional", "dense", "lambda"])
def test_non_finite_input(make, value):
    layer = make()
    x = X.copy()
    x[1, 2, 3] = value
    with raises(ValueError, layer_tag(layer), "NaN or inf", f"1 of {x.size} elements"):
        layer(x)


def test_non_finite_input_in_model():
    model = mr.Sequential([Input(shape=(4, 5)), LSTM(2), Dense(1)])
    x = X.copy()
    x[0, 0, 0] = np.nan
    with raises(ValueError, f"Model '{model.name}' predict()", "inputs contain NaN or inf", f"1 of {x.size} elements"):
        model.predict(x)
    with raises(ValueError, "(InputLayer) received input with NaN or inf", f"1 of {x.size} elements"):
        model(x)                                     # called directly: its Input layer checks


def test_non_numeric_input():
    layer = LSTM(2)
    with raises(ValueError, layer_tag(layer), "numeric input", "dtype <U1"):
        layer(np.full((2, 4, 5), "a"))


# -- initial states -----------------------------------------------------------------
def test_lstm_initial_state_count():
    layer = LSTM(3)
    with raises(ValueError, layer_tag(layer), "expects 2 initial state(s) ['h', 'c']", "received 1"):
        layer(X, initial_state=np.zeros((2, 3)))
    with raises(ValueError, layer_tag(layer), "expects 2 initial state(s)", "received 3"):
        layer(X, initial_state=[np.zeros((2, 3))] * 3)


@pytest.mark.parametrize("kind", sorted(RNNS))
@pytest.mark.parametrize("shape", [(2, 4), (3, 3), (2,), (1, 2, 3)])
def test_initial_state_shape(kind, shape):
    layer = RNNS[kind]()
    states = [np.zeros((2, 3)) for _ in layer.cell.state_names]
    states[-1] = np.zeros(shape)
    last = layer.cell.state_names[-1]
    with raises(ValueError, layer_tag(layer), f"initial state '{last}' of shape (2, 3)", f"received {shape}"):
        layer(X, initial_state=states)


def test_bidirectional_initial_state_count():
    layer = Bidirectional(LSTM(3))
    with raises(ValueError, layer_tag(layer), "even number of initial states", "received 3"):
        layer(X, initial_state=[np.zeros((2, 3))] * 3)
    with raises(ValueError, "'forward_", "expects 2 initial state(s)", "received 1"):
        layer(X, initial_state=[np.zeros((2, 3))] * 2)


# -- compile, fit, evaluate ----------------------------------------------------------
def small_model():
    return mr.Sequential([Input(shape=(4, 5)), SimpleRNN(2), Dense(1)])


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_training_before_compile(method):
    model = small_model()
    with raises(RuntimeError, f"Model '{model.name}'", f"compiled before {method}()", "model.compile("):
        getattr(model, method)(X, np.zeros((2, 1)))


@pytest.mark.parametrize("name", ["nope", "mean_square_error", "MSE "])
def test_unknown_loss_name(name):
    with raises(ValueError, f"Unknown loss: {name!r}", "mse", "huber", "mae"):
        losses.get(name)
    model = small_model()
    with raises(ValueError, f"Unknown loss: {name!r}", "mean_squared_error"):
        model.compile(optimizer="sgd", loss=name)
    assert not model.compiled


def test_compile_without_loss():
    model = small_model()
    with raises(ValueError, f"Model '{model.name}'", "needs a loss"):
        model.compile(optimizer="sgd")


def test_fit_length_mismatch():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((10, 4, 5))
    with raises(ValueError, f"Model '{model.name}' fit()", "same number of samples", "received 10 and 9"):
        model.fit(x, np.zeros((9, 1)), verbose=0)
    with raises(ValueError, f"Model '{model.name}' evaluate()", "received 10 and 11"):
        model.evaluate(x, np.zeros((11, 1)), verbose=0)


# -- names of activations and initializers --------------------------------------------
@pytest.mark.parametrize("cls, argument", [(LSTM, "activation"), (LSTM, "recurrent_activation"),
                                           (GRU, "recurrent_activation"), (SimpleRNN, "activation"),
                                           (Dense, "activation")])
def test_unknown_activation(cls, argument):
    with raises(ValueError, f"Layer '{snake(cls)}", f"({cls.__name__})", "Unknown activation 'nope'",
                "tanh", "sigmoid", "relu"):
        cls(3, **{argument: "nope"})


def test_unknown_activation_custom_name():
    with raises(ValueError, "Layer 'decoder' (GRU)", "Unknown activation 'swish2'"):
        GRU(3, activation="swish2", name="decoder")


def test_softmax_rejected_in_recurrent_layer():
    with raises(ValueError, "Layer 'recurrent' (LSTM)", "'softmax'", "not element-wise"):
        LSTM(3, recurrent_activation="softmax", name="recurrent")


@pytest.mark.parametrize("argument", ["kernel_initializer", "recurrent_initializer", "bias_initializer"])
def test_unknown_initializer_rnn(argument):
    with raises(ValueError, "Layer 'enc' (LSTM)", "Unknown initializer: 'nope'", "glorot_uniform", "orthogonal"):
        LSTM(3, name="enc", **{argument: "nope"})


@pytest.mark.parametrize("argument", ["kernel_initializer", "bias_initializer"])
def test_unknown_initializer_dense(argument):
    with raises(ValueError, "Layer 'head' (Dense)", "Unknown initializer: 'nope'", "zeros"):
        Dense(3, name="head", **{argument: "nope"})


@pytest.mark.parametrize("units", [0, -2, 2.5, "3"])
def test_bad_units(units):
    with raises(ValueError, "Layer 'bad' (LSTM)", "units must be a positive integer", f"received {units!r}"):
        LSTM(units, name="bad")
    with raises(ValueError, "Layer 'bad_dense' (Dense)", "units must be a positive integer", f"received {units!r}"):
        Dense(units, name="bad_dense")


# -- set_weights ---------------------------------------------------------------------
def test_set_weights_wrong_count():
    layer = LSTM(3)
    layer(X)
    with raises(ValueError, layer_tag(layer), "expects 3 weight arrays", "received 2"):
        layer.set_weights(layer.get_weights()[:2])
    dense = Dense(2, use_bias=False)
    dense(X)
    with raises(ValueError, layer_tag(dense), "expects 1 weight arrays", "received 2"):
        dense.set_weights([np.zeros((5, 2)), np.zeros(2)])


@pytest.mark.parametrize("index, bad", [(0, (4, 12)), (1, (3, 3)), (2, (12, 1))])
def test_set_weights_wrong_shape(index, bad):
    layer = LSTM(3)
    layer(X)
    before = layer.get_weights()
    weights = [w + 1.0 for w in before]
    expected = weights[index].shape
    weights[index] = np.zeros(bad)
    with raises(ValueError, layer_tag(layer), f"weight {index} expects shape {expected}", f"received {bad}"):
        layer.set_weights(weights)
    assert expected == [(5, 12), (3, 12), (12,)][index]
    for w, old in zip(layer.weights, before):         # a refused set_weights changes nothing
        assert np.array_equal(w, old)


def test_set_weights_gru_reset_after_bias_shape():
    layer = GRU(3)
    layer(X)
    weights = layer.get_weights()
    weights[2] = np.zeros(9)                        # the reset_before shape
    with raises(ValueError, layer_tag(layer), "weight 2 expects shape (2, 9)", "received (9,)"):
        layer.set_weights(weights)


def test_set_weights_before_build():
    layer = GRU(3)
    with raises(ValueError, layer_tag(layer), "no weights yet", "build it"):
        layer.set_weights([np.zeros((5, 9)), np.zeros((3, 9)), np.zeros((2, 9))])


def test_model_set_weights_wrong_count():
    model = small_model()
    n = len(model.weights)
    with raises(ValueError, f"Model '{model.name}'", f"expects {n} weight arrays", f"received {n - 1}"):
        model.set_weights(model.get_weights()[:-1])


def test_model_set_weights_refused_changes_nothing():
    model = small_model()
    before = model.get_weights()
    weights = [w + 1.0 for w in before]
    weights[-1] = np.zeros(3)
    with raises(ValueError, "'dense", "weight 1 expects shape (1,)", "received (3,)"):
        model.set_weights(weights)
    for w, old in zip(model.get_weights(), before):
        assert np.array_equal(w, old)


# -- backward ----------------------------------------------------------------------
@pytest.mark.parametrize("make", [*RNNS.values(), lambda: Bidirectional(SimpleRNN(2)), lambda: Dense(3),
                                  lambda: Lambda(np.tanh)],
                         ids=[*RNNS, "bidirectional", "dense", "lambda"])
def test_backward_before_training_call(make):
    layer = make()
    with raises(RuntimeError, layer_tag(layer), "training=True before backward()"):
        layer.backward(np.zeros((2, 3)))
    y = layer(X, training=True)
    layer.backward(np.ones_like(y))                  # fine after a training call ...
    y = layer(X)                                     # ... but an inference call forgets the cache
    with raises(RuntimeError, layer_tag(layer), "training=True before backward()"):
        layer.backward(np.ones_like(y))


def test_backward_wrong_gradient_shape():
    layer = LSTM(3, return_sequences=True)
    layer(X, training=True)
    with raises(ValueError, layer_tag(layer), "gradient of shape (2, 4, 3)", "received (2, 3)"):
        layer.backward(np.zeros((2, 3)))
    dense = Dense(2)
    dense(X, training=True)
    with raises(ValueError, layer_tag(dense), "gradient of shape (2, 4, 2)", "received (2, 4, 3)"):
        dense.backward(np.zeros((2, 4, 3)))


def test_backward_wrong_gradient_count_with_states():
    layer = LSTM(3, return_state=True)
    layer(X, training=True)
    with raises(ValueError, layer_tag(layer), "expects 3 gradients", "received 2"):
        layer.backward([np.zeros((2, 3)), None])


@pytest.mark.parametrize("kind", sorted(RNNS))
@pytest.mark.parametrize("shape, what", [((0, 4, 5), "a batch of 0 sequences"),
                                         ((2, 0, 5), "sequences of 0 time steps")])
def test_rnn_empty_batch_or_sequence(kind, shape, what):
    layer = RNNS[kind]()
    with raises(ValueError, layer_tag(layer), what, f"shape {shape}"):
        layer(np.zeros(shape))


@pytest.mark.parametrize("method", ["predict", "evaluate", "fit"])
def test_list_of_arrays_for_a_single_input_model(method):
    model = mr.Sequential([Input(shape=(4, 5)), LSTM(3), Dense(1)], name="one_input")
    model.compile("sgd", "mse")
    y = np.zeros((2, 1))
    args = ([X, X],) if method == "predict" else ([X, X], y)
    with raises(ValueError, "Model 'one_input'", "has 1 input", "received a list of 2 arrays"):
        getattr(model, method)(*args, verbose=0)
