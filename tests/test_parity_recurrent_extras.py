"""Masking, dropout and stateful recurrent layers against TensorFlow/Keras.

Dropout masks are random in both libraries, so the test draws minirnn's masks and
hands the same arrays to the Keras cell (through the mask getters its steps call:
Keras keeps a cell's masks for the whole sequence)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402

CASES = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})]
ATOL = 2e-5


def random_weights(layer, rng):
    """Seeded random weights for a built Keras layer, biases too (Keras's own are zeros, with
    the LSTM forget gate at 1, which would leave e.g. GRU's recurrent bias untested)."""
    layer.set_weights([rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in layer.get_weights()])


def pair(name, x, rng, **kwargs):
    """The same layer in Keras and minirnn, with random Keras weights copied over."""
    k = getattr(keras.layers, name)(5, **kwargs)
    k(x)
    random_weights(k, rng)
    m = getattr(mr.layers, name)(5, **kwargs)
    m(x)
    m.set_weights(k.get_weights())
    return k, m


def keras_grads(layer, x, cotangent, **call_kwargs):
    """Keras's output, dL/dx and dL/dweights for L = sum(output * cotangent), then (a stateful
    layer) dL/d(the states carried in from the previous call)."""
    xt = tf.constant(x)
    carried = [s.value for s in layer.states] if layer.stateful else []
    with tf.GradientTape() as tape:
        tape.watch(xt)
        tape.watch(carried)
        out = layer(xt, **call_kwargs)
        loss = tf.reduce_sum(out * cotangent)
    grads = tape.gradient(loss, [xt] + layer.trainable_weights + carried)
    return out.numpy(), grads[0].numpy(), [g.numpy() for g in grads[1:]]


def assert_same(m_out, dx, grads, k_out, k_dx, k_grads):
    np.testing.assert_allclose(m_out, k_out, atol=ATOL)
    np.testing.assert_allclose(dx, k_dx, atol=ATOL)
    assert len(grads) == len(k_grads)
    for g, kg in zip(grads, k_grads):
        np.testing.assert_allclose(g, kg, atol=ATOL * max(1.0, np.abs(kg).max()))


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 7, 3)).astype("float32")
    mask = np.ones((4, 7), bool)
    mask[0, :3] = False        # left padding
    mask[1, 5:] = False        # right padding
    mask[2, 2] = False         # a hole
    mask[3, :] = [True, False, True, False, True, False, True]
    return rng, x, mask


@pytest.mark.parametrize("name,kwargs", CASES)
@pytest.mark.parametrize("flags", [dict(return_sequences=True), dict(return_sequences=False),
                                   dict(return_sequences=True, go_backwards=True),
                                   dict(return_sequences=True, zero_output_for_mask=True),
                                   dict(return_sequences=False, zero_output_for_mask=True)])
def test_masked_sequences_match_keras(data, name, kwargs, flags):
    rng, x, mask = data
    k, m = pair(name, x, rng, **kwargs, **flags)
    out = m(x, training=True, mask=mask)
    cot = rng.standard_normal(out.shape).astype("float32")
    dx = m.backward(cot)
    assert_same(out, dx, m.grads, *keras_grads(k, x, cot, mask=tf.constant(mask)))
    assert np.all(dx[0, :3] == 0)          # masked steps get no gradient from the input path


def give_keras_the_masks(k_layer, input_masks, recurrent_masks):
    """Make the Keras cell's public mask getters (which its steps call) return our masks, as lists
    when Keras keeps one per gate."""
    cell = k_layer.cell
    per_gate = getattr(cell, "dropout_mask_count", None) is not None

    def keras_form(masks):
        if masks is None:
            return None
        return [tf.constant(m) for m in masks] if per_gate else tf.constant(masks[0])
    cell.get_dropout_mask = lambda step_input: keras_form(input_masks)
    cell.get_recurrent_dropout_mask = lambda step_input: keras_form(recurrent_masks)


@pytest.mark.parametrize("name,kwargs", CASES)
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.25, 0.5)])
def test_dropout_matches_keras_with_the_same_masks(data, name, kwargs, rates):
    rng, x, mask = data
    dropout, recurrent_dropout = rates
    k, m = pair(name, x, rng, return_sequences=True, dropout=dropout, recurrent_dropout=recurrent_dropout, **kwargs)
    masks = m.dropout_masks(x.shape[0])
    m.dropout_masks = lambda batch: masks        # the same masks for our call...
    give_keras_the_masks(k, *masks)              # ...and for Keras's
    out = m(x, training=True, mask=mask)
    cot = rng.standard_normal(out.shape).astype("float32")
    dx = m.backward(cot)
    assert_same(out, dx, m.grads, *keras_grads(k, x, cot, mask=tf.constant(mask), training=True))


@pytest.mark.parametrize("name,kwargs", CASES)
def test_dropout_masks_follow_keras_layout_and_rates(name, kwargs):
    m = getattr(mr.layers, name)(64, dropout=0.3, recurrent_dropout=0.5, **kwargs)
    m(np.zeros((2, 3, 50), "float32"))
    inputs, recurrent = m.dropout_masks(400)
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[name]
    assert inputs.shape == (gates, 400, 50) and recurrent.shape == (gates, 400, 64)
    for masks, rate in ((inputs, 0.3), (recurrent, 0.5)):
        assert set(np.unique(masks)) == {0.0, np.float32(1 / (1 - rate))}
        assert abs((masks == 0).mean() - rate) < 0.02
    only_input = getattr(mr.layers, name)(8, dropout=0.3, **kwargs)
    only_input(np.zeros((2, 3, 5), "float32"))
    inputs, recurrent = only_input.dropout_masks(10)
    assert inputs.shape == (1, 10, 5) and recurrent is None    # Keras's single mask without recurrent dropout


def test_dropout_is_off_at_inference_and_fixed_within_a_sequence():
    x = np.random.default_rng(0).standard_normal((3, 6, 4)).astype("float32")
    plain = mr.layers.LSTM(5, seed=1)
    dropped = mr.layers.LSTM(5, dropout=0.5, recurrent_dropout=0.5, seed=1)
    plain(x), dropped(x)
    dropped.set_weights(plain.get_weights())
    np.testing.assert_array_equal(dropped(x), plain(x))                      # inference: no dropout
    assert not np.allclose(dropped(x, training=True), plain(x, training=True))
    calls = []
    original = dropped.dropout_masks
    dropped.dropout_masks = lambda batch: calls.append(batch) or original(batch)
    dropped(x, training=True)
    assert calls == [3]                                                      # one draw per sequence


# Weights that make every cell h_t = h_{t-1} * r_t (linear activations, W = 0, U = I in the candidate
# block, biases holding the other gates open or shut), r_t the recurrent dropout mask of the candidate.
COPY_THROUGH = {   # name: (gate biases, candidate block)
    "SimpleRNN": ([0.0], 0), "LSTM": ([1.0, 0.0, 0.0, 1.0], 2), "GRU": ([0.0, 1.0, 0.0], 2)}


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@pytest.mark.parametrize("name,kwargs", CASES)
def test_recurrent_dropout_mask_is_one_per_sequence(name, kwargs, kernels, restore_numerics):
    """h_t = h_0 * r_1 * ... * r_t: with one mask per sequence every unit is (1/(1-rate))^t at every
    step or 0 at every step; a mask redrawn at each step would zero kept units later on."""
    mr.set_backend(kernels)
    batch, time, n, rate = 64, 6, 16, 0.5
    activations = {} if name == "SimpleRNN" else {"recurrent_activation": "linear"}
    layer = getattr(mr.layers, name)(n, activation="linear", recurrent_dropout=rate, return_sequences=True,
                                     seed=3, **activations, **kwargs)
    x = np.zeros((batch, time, 2), "float32")
    layer(x)
    biases, candidate = COPY_THROUGH[name]
    W, U, b = layer.get_weights()
    U = np.zeros_like(U)
    U[:, candidate * n:(candidate + 1) * n] = np.eye(n)
    gate_biases = np.repeat(np.array(biases, "float32"), n)
    b = gate_biases if b.ndim == 1 else np.stack([gate_biases, np.zeros_like(gate_biases)])
    layer.set_weights([np.zeros_like(W), U, b])
    states = [np.ones((batch, n), "float32") for _ in layer.cell.state_names]
    h = layer(x, initial_state=states, training=True)
    kept = h[:, 0] != 0
    assert abs(kept.mean() - (1 - rate)) < 0.06
    scale = (1 / (1 - rate)) ** np.arange(1, time + 1, dtype="float32")
    np.testing.assert_allclose(h, kept[:, None, :] * scale[None, :, None], rtol=1e-6)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_stateful_layers_carry_state_like_keras(name, kwargs):
    rng = np.random.default_rng(5)
    chunks = [rng.standard_normal((2, 4, 3)).astype("float32") for _ in range(3)]
    k = getattr(keras.layers, name)(5, stateful=True, **kwargs)
    k(chunks[0])
    random_weights(k, rng)
    m = getattr(mr.layers, name)(5, stateful=True, **kwargs)
    m(chunks[0])
    m.set_weights(k.get_weights())
    k.reset_states()
    m.reset_states()
    for chunk in chunks:
        np.testing.assert_allclose(m(chunk), k(chunk).numpy(), atol=ATOL)
    k.reset_states()
    m.reset_states()
    np.testing.assert_allclose(m(chunks[1]), k(chunks[1]).numpy(), atol=ATOL)
    whole = getattr(mr.layers, name)(5, **kwargs)
    whole(chunks[0])
    whole.set_weights(m.get_weights())
    m.reset_states()
    m(chunks[0]), m(chunks[1])
    np.testing.assert_allclose(m(chunks[2]), whole(np.concatenate(chunks, axis=1)), atol=ATOL)
    with pytest.raises(ValueError, match=r"stateful with batch size 2, received a batch of 3"):
        m(rng.standard_normal((3, 4, 3)))


@pytest.mark.parametrize("name,kwargs", CASES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_stateful_gradients_across_chunks_match_keras(name, kwargs, return_sequences):
    """Training on consecutive chunks: each chunk's dL/dx, dL/dweights and dL/d(carried states)
    as Keras's (each chunk back-propagates to the states carried in, not beyond)."""
    rng = np.random.default_rng(6)
    chunks = [rng.standard_normal((2, 4, 3)).astype("float32") for _ in range(3)]
    k = getattr(keras.layers, name)(5, stateful=True, return_sequences=return_sequences, **kwargs)
    k(chunks[0])
    random_weights(k, rng)
    m = getattr(mr.layers, name)(5, stateful=True, return_sequences=return_sequences, **kwargs)
    m(chunks[0])
    m.set_weights(k.get_weights())
    k.reset_states()
    m.reset_states()
    for chunk in chunks:
        out = m(chunk, training=True)
        cot = rng.standard_normal(out.shape).astype("float32")
        dx = m.backward(cot)
        assert_same(out, dx, m.grads + list(m.initial_state_grads), *keras_grads(k, chunk, cot))
        assert np.abs(m.initial_state_grads[0]).max() > 1e-3      # the carried state matters
