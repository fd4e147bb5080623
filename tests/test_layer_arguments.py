"""Reshape, Permute, RepeatVector, Rescaling against Keras (values and TensorFlow gradients);
constructor arguments and masks: bad values give errors that name the layer and the argument,
masks are cast to bool as Keras casts them."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import minirnn as mr
import minirnn.keras  # noqa: F401  (mr.keras)
from minirnn.layers import LSTM, Dense, Dropout, Embedding, GRU, Permute, RepeatVector, Rescaling, Reshape, SimpleRNN

RNG = np.random.default_rng(0)
X3 = RNG.standard_normal((2, 4, 6))

CASES = [
    (lambda: Reshape((2, -1)), lambda: keras.layers.Reshape((2, -1)), X3),
    (lambda: Reshape((3, 8)), lambda: keras.layers.Reshape((3, 8)), X3),
    (lambda: Permute((2, 1)), lambda: keras.layers.Permute((2, 1)), X3),
    (lambda: RepeatVector(3), lambda: keras.layers.RepeatVector(3), X3[:, 0]),
    (lambda: Rescaling(1 / 255, offset=-0.5), lambda: keras.layers.Rescaling(1 / 255, offset=-0.5), X3),
    (lambda: Rescaling([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), lambda: keras.layers.Rescaling([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
     X3),
]


@pytest.mark.parametrize("ours, theirs, x", CASES)
def test_shape_layers_match_keras(ours, theirs, x):
    layer, reference = ours(), theirs()
    layer.dtype = "float64"
    reference = type(reference).from_config({**reference.get_config(), "dtype": "float64"})
    y = layer(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y_ref = reference(v)
        loss = tf.reduce_sum(y_ref * dy)
    np.testing.assert_allclose(y, np.asarray(y_ref), rtol=1e-7)        # Keras rounds a scale to float32
    np.testing.assert_allclose(layer.backward(dy), np.asarray(tape.gradient(loss, v)), rtol=1e-7)
    shape = (None,) + x.shape[1:]
    assert layer.compute_output_shape(shape) == tuple(reference.compute_output_shape(shape))


def test_shape_layers_in_a_functional_model_match_keras():
    def build(k):
        inputs = k.Input(shape=(4, 6))
        x = k.layers.Rescaling(0.5)(inputs)
        x = k.layers.Permute((2, 1))(x)
        x = k.layers.Reshape((-1,))(x)
        x = k.layers.Dense(3)(x)
        x = k.layers.RepeatVector(5)(x)
        return k.Model(inputs, k.layers.SimpleRNN(2)(x))

    theirs, ours = build(keras), build(mr)
    ours.set_weights(theirs.get_weights())
    x = X3.astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: Reshape((2, -1, -1)), r"Layer 'reshape\w*' \(Reshape\): target_shape must hold positive integers"),
    (lambda: Reshape(5), r"target_shape must be a tuple"),
    (lambda: Permute((0, 1)), r"\(Permute\): dims must be a permutation of 1..n"),
    (lambda: RepeatVector(0), r"\(RepeatVector\): n must be a positive integer, received 0"),
    (lambda: Rescaling("half"), r"\(Rescaling\): scale must be a finite number"),
    (lambda: Dense(True), r"Layer 'dense\w*' \(Dense\): units must be a positive integer, received True"),
    (lambda: Dense(0), r"\(Dense\): units must be a positive integer, received 0"),
    (lambda: LSTM(True), r"Layer 'lstm\w*' \(LSTM\): .*units must be a positive integer, received True"),
    (lambda: GRU(2.5), r"\(GRU\): .*units must be a positive integer, received 2.5"),
    (lambda: SimpleRNN(4, dropout="half"), r"\(SimpleRNN\): dropout must be a number in \[0, 1\), "
                                           r"received dropout='half'"),
    (lambda: LSTM(4, recurrent_dropout=1.5), r"\(LSTM\): recurrent_dropout must be a number in \[0, 1\)"),
    (lambda: Dropout("half"), r"\(Dropout\): rate must be a number in \[0, 1\], received rate='half'"),
    (lambda: Dropout(1.5), r"\(Dropout\): rate must be a number in \[0, 1\]"),
    (lambda: Embedding(10, True), r"\(Embedding\): output_dim must be a positive integer"),
])
def test_bad_constructor_arguments_name_the_layer_and_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_weights_too_big_for_memory_name_the_layer():
    layer = LSTM(10 ** 6, name="huge")
    with pytest.raises(MemoryError, match=r"Layer 'huge' \(LSTM\): not enough memory for its weights at input "
                                          r"shape \(1, 2, 1\)"):
        layer(np.zeros((1, 2, 1), "float32"))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_non_boolean_masks_are_cast_to_bool_like_keras(kind):
    x = RNG.standard_normal((3, 5, 2)).astype("float32")
    blend = np.array([[1, 1, 0.5, 0, 0], [2.0, 1, 1, 1, 0], [1, 0, 0, 0, 0]], "float32")
    reference = getattr(keras.layers, kind)(4, return_sequences=True)
    expected = np.asarray(reference(x, mask=tf.constant(blend != 0)))
    layer = getattr(mr.layers, kind)(4, return_sequences=True)
    layer(x)
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(layer(x, mask=blend), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer(x, mask=blend), layer(x, mask=blend != 0))


def test_a_mask_of_strings_is_refused():
    layer = SimpleRNN(2)
    with pytest.raises(ValueError, match=r"\(SimpleRNN\) expects a numeric or boolean mask, received dtype <U1"):
        layer(np.zeros((1, 2, 1), "float32"), mask=np.array([["a", "b"]]))


def test_clear_session_restarts_names_of_layers_and_models():
    mr.keras.backend.clear_session()
    before = [LSTM(2).name, LSTM(2).name, mr.Sequential().name]
    mr.keras.backend.clear_session()
    assert before == ["lstm", "lstm_1", "sequential"]
    assert [LSTM(2).name, mr.Sequential().name] == ["lstm", "sequential"]
