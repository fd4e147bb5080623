"""ConvLSTM1D / ConvLSTM2D (and the 3-D one) against Keras 3, and by central differences.

Outputs, returned states and every gradient of L = sum(output * cotangent) from copied
weights (Keras's from tf.GradientTape), for each flag; masks, initial states, stateful
calls; dropout masks fixed per sequence; float64 gradient checks of the cell and the layer.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402
from minirnn import layers as L  # noqa: E402
from minirnn.cells import ConvLSTM2DCell  # noqa: E402
from minirnn.cells.base import empty_masks  # noqa: E402

from keras_compare import close  # noqa: E402


def twins(klass, args, kwargs, x_shape, seed=0):
    """The Keras and minirnn layers, built, with the same random weights."""
    k = getattr(keras.layers, klass)(*args, **kwargs)
    m = getattr(L, klass)(*args, **kwargs)
    k.build(x_shape)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in k.get_weights()]
    k.set_weights(weights)
    m.ensure_built(x_shape)
    m.set_weights(weights)
    return k, m


def compare(klass, args, kwargs, x_shape, mask=None, initial_state=None, seed=0):
    k, m = twins(klass, args, kwargs, x_shape, seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=x_shape).astype("float32")
    xt = tf.constant(x)
    call = {} if mask is None else {"mask": tf.constant(mask)}
    states = None if initial_state is None else [tf.constant(s) for s in initial_state]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        if states:
            tape.watch(states)
            call["initial_state"] = states
        y = k(xt, **call)
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    cots = [rng.normal(size=o.shape).astype("float32") for o in ys]
    grads = tape.gradient(ys, [xt] + list(k.weights) + (states or []),
                          output_gradients=[tf.constant(c) for c in cots],
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    mine_call = {} if mask is None else {"mask": mask}
    if initial_state is not None:
        mine_call["initial_state"] = initial_state
    out = m(x, training=True, **mine_call)
    outs = out if isinstance(out, list) else [out]
    assert len(outs) == len(ys)
    for n, (a, b) in enumerate(zip(outs, ys)):
        assert a.dtype == np.float32
        close(a, b.numpy(), what=f"output {n}")
    dx = m.backward(cots if isinstance(out, list) else cots[0])
    close(dx, grads[0].numpy(), what="dL/dx")
    for n, (a, b) in enumerate(zip(m.grads, grads[1:1 + len(m.weights)])):
        close(a, b.numpy(), what=f"dL/d{['kernel', 'recurrent_kernel', 'bias'][n]}")
    if initial_state is not None:
        for n, (a, b) in enumerate(zip(m.initial_state_grads, grads[1 + len(m.weights):])):
            close(a, b.numpy(), what=f"dL/dinitial_state[{n}]")
    return k, m


CASES_2D = [
    {},
    {"padding": "same"},
    {"strides": 2},
    {"strides": (2, 1), "padding": "same"},
    {"dilation_rate": 2},
    {"dilation_rate": (1, 2), "padding": "same"},
    {"return_sequences": True},
    {"go_backwards": True, "return_sequences": True},
    {"return_state": True},
    {"return_state": True, "return_sequences": True, "padding": "same"},
    {"use_bias": False},
    {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
]


@pytest.mark.parametrize("kwargs", CASES_2D)
def test_conv_lstm2d_matches_keras(kwargs):
    compare("ConvLSTM2D", (3, (3, 2)), kwargs, (2, 3, 6, 5, 4))


def test_conv_lstm2d_channels_first_matches_keras_channels_last():
    """TensorFlow's CPU convolutions are channels_last only: Keras runs the moved axes."""
    k, m_last = twins("ConvLSTM2D", (3, 2), {"return_sequences": True}, (2, 3, 6, 5, 4))
    m = L.ConvLSTM2D(3, 2, return_sequences=True, data_format="channels_first")
    m.ensure_built((2, 3, 4, 6, 5))
    m.set_weights(k.get_weights())
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 6, 5, 4)).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = k(xt)
    cot = rng.normal(size=y.shape).astype("float32")
    dx = tape.gradient(y, xt, output_gradients=tf.constant(cot)).numpy()
    first = m(np.moveaxis(x, -1, 2), training=True)
    close(first, np.moveaxis(y.numpy(), -1, 2), what="output")
    close(m.backward(np.moveaxis(cot, -1, 2)), np.moveaxis(dx, -1, 2), what="dL/dx")


@pytest.mark.parametrize("kwargs", [{}, {"padding": "same", "return_sequences": True}, {"strides": 2},
                                    {"go_backwards": True, "return_state": True}, {"kernel_size": 2}])
def test_conv_lstm1d_matches_keras(kwargs):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    compare("ConvLSTM1D", (4, kernel), kwargs, (3, 4, 9, 2))


def test_conv_lstm3d_matches_keras():
    compare("ConvLSTM3D", (2, 2), {"padding": "same", "return_sequences": True}, (2, 2, 3, 4, 3, 2))


@pytest.mark.parametrize("kwargs", [{"return_sequences": True}, {}])
def test_conv_lstm2d_mask_matches_keras(kwargs):
    mask = np.array([[True, True, False, False], [True, True, True, True], [True, False, False, False]])
    compare("ConvLSTM2D", (2, 3), {"padding": "same", **kwargs}, (3, 4, 5, 4, 2), mask=mask)


def test_conv_lstm2d_initial_state_matches_keras():
    rng = np.random.default_rng(3)
    states = [rng.normal(size=(2, 4, 3, 3)).astype("float32") for _ in range(2)]
    compare("ConvLSTM2D", (3, 3), {"return_state": True}, (2, 3, 6, 5, 2), initial_state=states)


def test_conv_lstm2d_stateful_calls_match_keras():
    kwargs = {"stateful": True, "padding": "same", "return_sequences": True}
    k, m = twins("ConvLSTM2D", (2, 3), kwargs, (2, 3, 4, 4, 1))
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.normal(size=(2, 3, 4, 4, 1)).astype("float32")
        close(m(x), k(x).numpy(), what="stateful call")
    m.reset_states()
    k.reset_state()
    x = rng.normal(size=(2, 3, 4, 4, 1)).astype("float32")
    close(m(x), k(x).numpy(), what="after reset")


def test_conv_lstm2d_unit_forget_bias_and_shapes_like_keras():
    k, m = keras.layers.ConvLSTM2D(3, 2), L.ConvLSTM2D(3, 2)
    k.build((None, 5, 7, 6, 2))
    m.ensure_built((None, 5, 7, 6, 2))
    assert [w.shape for w in m.weights] == [tuple(w.shape) for w in k.weights]
    np.testing.assert_array_equal(m.get_weights()[2], k.get_weights()[2])        # 0 1 0 0 by gate
    for kw in ({}, {"return_sequences": True}, {"return_state": True, "strides": 2, "padding": "same"}):
        km, mm = keras.layers.ConvLSTM2D(3, 2, **kw), L.ConvLSTM2D(3, 2, **kw)
        expected = km.compute_output_shape((4, 5, 7, 6, 2))
        got = mm.compute_output_shape((4, 5, 7, 6, 2))
        assert [tuple(s) for s in got] == [tuple(s) for s in expected] if isinstance(got, list) \
            else tuple(got) == tuple(expected)


def fixed_dropout(layer, batch):
    fixed = layer.dropout_masks(batch)
    layer.dropout_masks = lambda b: fixed
    return fixed


@pytest.mark.parametrize("dropout, recurrent_dropout", [(0.4, 0.0), (0.0, 0.5), (0.3, 0.3)])
def test_conv_lstm2d_dropout_gradcheck(dropout, recurrent_dropout):
    rng = np.random.default_rng(5)
    layer = L.ConvLSTM2D(2, 2, padding="same", return_sequences=True, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=1, dtype="float64")
    x = rng.normal(size=(2, 2, 3, 3, 1))
    layer.ensure_built(x.shape)
    inputs, recurrent = fixed_dropout(layer, 2)
    assert (inputs is None) == (dropout == 0) and (recurrent is None) == (recurrent_dropout == 0)
    mr.gradcheck(layer, x, training=True)


def test_conv_lstm2d_dropout_only_in_training():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 4, 4, 4, 2)).astype("float32")
    plain = L.ConvLSTM2D(2, 3, padding="same")
    drop = L.ConvLSTM2D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.5, seed=0)
    plain.ensure_built(x.shape)
    drop.ensure_built(x.shape)
    drop.set_weights(plain.get_weights())
    np.testing.assert_array_equal(drop(x), plain(x))                 # inference: no dropout
    assert not np.allclose(drop(x, training=True), plain(x, training=True))
    inputs, recurrent = drop.dropout_masks(3)
    assert inputs.shape == (4, 3, 4 * 4 * 2) and recurrent.shape == (4, 3, 4 * 4 * 2)
    assert set(np.unique(inputs)) <= {0.0, 2.0}


@pytest.mark.parametrize("kwargs", [{}, {"strides": 2}, {"dilation_rate": 2, "padding": "same"}])
def test_conv_lstm_cell_gradcheck(kwargs):
    rng = np.random.default_rng(7)
    cell = ConvLSTM2DCell(2, 2, dtype="float64", **kwargs)
    cell.set_frame((3, 4), 1)
    cell.build(3 * 4)
    for w in cell.weights:
        w[...] = rng.normal(0, 0.4, w.shape)
    X = rng.normal(size=(3, 2, 3 * 4))
    mask = np.ones((3, 2, 1))
    mask[2, 0] = mask[1, 1] = 0
    mr.gradcheck(cell, X, mask=mask)


@pytest.mark.parametrize("klass, kwargs, shape", [
    ("ConvLSTM2D", {"return_state": True, "go_backwards": True}, (2, 3, 3, 3, 1)),
    ("ConvLSTM1D", {"return_sequences": True, "padding": "same"}, (2, 3, 5, 2)),
    ("ConvLSTM2D", {"data_format": "channels_first", "return_sequences": True}, (2, 2, 2, 3, 3)),
])
def test_conv_lstm_layer_gradcheck_with_initial_state_and_mask(klass, kwargs, shape):
    rng = np.random.default_rng(8)
    layer = getattr(L, klass)(2, 2, dtype="float64", **kwargs)
    x = rng.normal(size=shape)
    out = layer(x)
    state_shape = (out[1] if isinstance(out, list) else out[:, 0] if kwargs.get("return_sequences") else out).shape
    states = [rng.normal(size=state_shape) for _ in range(2)]
    mask = np.ones(shape[:2], bool)
    mask[0, -1] = False
    mr.gradcheck(layer, x, initial_state=states, mask=mask)


def test_conv_lstm_in_a_model_trains_like_keras():
    """Next-frame prediction: ConvLSTM2D + BatchNormalization + Conv3D, one SGD step from the
    same weights gives the same loss and weights."""
    def build(lib):
        return lib.Sequential([lib.Input(shape=(3, 6, 6, 1)),
                               lib.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True),
                               lib.layers.BatchNormalization(),
                               lib.layers.Conv3D(1, 3, padding="same", activation="sigmoid")])
    k, m = build(keras), build(mk)
    rng = np.random.default_rng(9)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in k.get_weights()]
    weights[6] = np.abs(weights[6]) + 0.5
    k.set_weights(weights)
    m.set_weights(weights)
    x = rng.random((4, 3, 6, 6, 1)).astype("float32")
    y = rng.random((4, 3, 6, 6, 1)).astype("float32")
    k.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    m.compile(optimizer=mk.optimizers.SGD(0.5), loss="binary_crossentropy")
    close(m.train_on_batch(x, y), k.train_on_batch(x, y), what="loss")
    for a, b in zip(m.get_weights(), k.get_weights()):
        close(a, b, 1e-5, "weights after one step")


@pytest.mark.parametrize("make, message", [
    (lambda: L.ConvLSTM2D(2, (3, 3, 3)), r"kernel_size must be a positive integer or a tuple of 2"),
    (lambda: L.ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "`strides > 1` is not compatible"),
    (lambda: L.ConvLSTM2D(2, 3, padding="causal"), "padding must be 'valid' or 'same'"),
    (lambda: L.ConvLSTM2D(0, 3), "units must be a positive integer"),
])
def test_conv_lstm_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_conv_lstm_bad_inputs_name_the_layer():
    layer = L.ConvLSTM2D(2, 3, name="clstm")
    with pytest.raises(ValueError, match=r"Layer 'clstm' \(ConvLSTM2D\) expects input of rank 5"):
        layer(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"frames of size \(2, 2\) are too small"):
        L.ConvLSTM2D(2, 3)(np.zeros((1, 2, 2, 2, 1)))
    layer(np.zeros((1, 2, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"expects frames of shape \(5, 5, 1\), received input of shape"):
        layer(np.zeros((1, 2, 6, 5, 1)))
    with pytest.raises(ValueError, match=r"expects initial states of shape \(1, 3, 3, 2\)"):
        layer(np.zeros((1, 2, 5, 5, 1)), initial_state=[np.zeros((1, 3, 3, 1))] * 2)


def test_cell_forward_matches_reference_loop_by_hand():
    """One step by hand with scipy's correlate: the cell's F1-F4 for a 1x1-channel frame."""
    from scipy.signal import correlate

    rng = np.random.default_rng(10)
    cell = ConvLSTM2DCell(1, 3, padding="same", dtype="float64")
    cell.set_frame((5, 4), 1)
    cell.build(20)
    for w in cell.weights:
        w[...] = rng.normal(0, 0.5, w.shape)
    x = rng.normal(size=(5, 4))
    h0, c0 = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    H, (h, c), _ = cell.forward(x.reshape(1, 1, 20), [h0.reshape(1, 20), c0.reshape(1, 20)],
                                empty_masks(np.float64), empty_masks(np.float64))
    a = [correlate(x, cell.kernel[:, :, 0, k], mode="same") + correlate(h0, cell.recurrent_kernel[:, :, 0, k],
                                                                         mode="same") + cell.bias[k]
         for k in range(4)]
    sig = [1 / (1 + np.exp(-v)) for v in a]
    c_ref = sig[1] * c0 + sig[0] * np.tanh(a[2])
    h_ref = sig[3] * np.tanh(c_ref)
    np.testing.assert_allclose(c.reshape(5, 4), c_ref, atol=1e-12)
    np.testing.assert_allclose(h.reshape(5, 4), h_ref, atol=1e-12)
