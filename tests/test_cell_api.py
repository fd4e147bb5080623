"""Keras's cell API: RNN(cell) over minirnn's cells and over a cell written Keras's way,
StackedRNNCells / RNN([cells]); compared with Keras from copied weights (outputs and one SGD
step) and with central differences (float64)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402


def make_cell(k):
    class MinimalRNNCell(k.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal")

        def call(self, inputs, states):
            prev = states[0]
            h = k.ops.tanh(k.ops.matmul(inputs, self.kernel) + k.ops.matmul(prev, self.recurrent_kernel))
            return h, [h]

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return MinimalRNNCell


def one_step(k, model, x, y):
    model.compile(optimizer=k.optimizers.SGD(learning_rate=0.5), loss="mse")
    model.train_on_batch(x, y)
    return [np.asarray(w) for w in model.get_weights()]


def pair(build, x, y, rtol=1e-5):
    """Build the same model in both, copy Keras's weights, compare outputs and one SGD step."""
    km, mm = build(keras), build(mk)
    assert [tuple(w.shape) for w in mm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    np.testing.assert_allclose(mm.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=rtol, atol=1e-5)
    for a, b in zip(one_step(mk, mm, x, y), one_step(keras, km, x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_custom_cell_matches_keras(go_backwards):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    x[0, 3:] = 0.0                               # masked tail
    y = rng.standard_normal((3, 5, 4)).astype("float32")

    def build(k):
        inp = k.Input((5, 2))
        h = k.layers.Masking(0.0)(inp)
        h = k.layers.RNN(make_cell(k)(4), return_sequences=True, go_backwards=go_backwards)(h)
        return k.Model(inp, k.layers.Dense(4)(h))
    pair(build, x, y)


def test_stacked_builtin_cells_match_keras_and_run_minirnn_kernels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    y = rng.standard_normal((4, 2)).astype("float32")

    def build(k):
        inp = k.Input((6, 3))
        h = k.layers.RNN([k.layers.LSTMCell(5), k.layers.GRUCell(4)])(inp)
        return k.Model(inp, k.layers.Dense(2)(h))
    pair(build, x, y)
    layer = mk.layers.RNN([mk.layers.LSTMCell(5), mk.layers.GRUCell(4)])
    layer(x)
    assert isinstance(layer.chain[0], mr.layers.RNN)      # minirnn's own recurrent layers underneath


def test_rnn_of_builtin_cell_equals_lstm():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    a, b = mk.layers.RNN(mk.layers.LSTMCell(3)), mk.layers.LSTM(3)
    a(x)
    b(x)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x), b(x))


def test_custom_cell_return_state_and_stacked_custom_cells():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    y = rng.standard_normal((2, 3)).astype("float32")

    def build(k):
        inp = k.Input((4, 3))
        out, h1, h2 = k.layers.RNN(k.layers.StackedRNNCells([make_cell(k)(3), make_cell(k)(3)]),
                                   return_state=True)(inp)
        return k.Model(inp, k.layers.Add()([out, h1, h2]))
    pair(build, x, y)


def test_custom_cell_bptt_gradients_float64(float64):
    rng = np.random.default_rng(4)
    layer = mk.layers.RNN(make_cell(mk)(3), return_sequences=True)
    x = rng.standard_normal((2, 4, 2))
    layer(x)
    mr.gradcheck(layer, x)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    mr.gradcheck(layer, x, mask=mask)


def test_stateful_custom_cell_carries_state():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 2)).astype("float32")
    layer = mk.layers.RNN(make_cell(mk)(3), stateful=True)
    whole = mk.layers.RNN(make_cell(mk)(3))
    first = layer(x)
    whole(np.concatenate([x, x], axis=1))
    whole.set_weights(layer.get_weights())
    second = layer(x)
    np.testing.assert_allclose(second, whole(np.concatenate([x, x], axis=1)), rtol=1e-5)
    assert not np.allclose(first, second)
    layer.reset_state()
    np.testing.assert_allclose(layer(x), first, rtol=1e-6)


def test_stacked_cells_return_states_grouped_by_cell_as_keras():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    y = rng.standard_normal((2, 2)).astype("float32")

    def cells(k):
        return [k.layers.LSTMCell(3), k.layers.GRUCell(2), k.layers.LSTMCell(2)]

    def shapes(out):
        return [shapes(o) for o in out] if isinstance(out, (list, tuple)) else tuple(out.shape)
    kl, ml = keras.layers.RNN(cells(keras), return_state=True), mk.layers.RNN(cells(mk), return_state=True)
    k_out = kl(x)
    ml(x)
    ml.set_weights([np.asarray(w) for w in kl.get_weights()])
    m_out = ml(x)
    # Keras's symbolic call and compute_output_shape give a one-state cell's state bare (its eager call
    # wraps it in a list of one); minirnn gives it bare in both
    symbolic = keras.layers.RNN(cells(keras), return_state=True)(keras.Input(batch_shape=(2, 4, 3)))
    assert shapes(m_out) == [(2, 2), [(2, 3), (2, 3)], (2, 2), [(2, 2), (2, 2)]] == shapes(symbolic)
    assert mk.layers.StackedRNNCells(cells(mk)).state_size == keras.layers.StackedRNNCells(cells(keras)).state_size
    assert [list(s) if isinstance(s, list) else s for s in ml.compute_output_shape((2, 4, 3))] == \
        [list(s) if isinstance(s, list) else s for s in kl.compute_output_shape((2, 4, 3))]
    flat = [k_out[0], *k_out[1], k_out[2][0], *k_out[3]]
    for a, b in zip([m_out[0], *m_out[1], m_out[2], *m_out[3]], flat):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    # initial states grouped by cell, as Keras takes them
    init = [[np.full((2, 3), 0.5, "float32")] * 2, np.full((2, 2), -0.5, "float32"),
            [np.full((2, 2), 0.25, "float32")] * 2]
    np.testing.assert_allclose(ml(x, initial_state=init)[0], np.asarray(kl(x, initial_state=init)[0]),
                               rtol=1e-5, atol=1e-6)

    def build(k):                   # the grouped states used in a graph, trained one step
        inp = k.Input((4, 3))
        out, (h1, c1), h2, (h3, c3) = k.layers.RNN(cells(k), return_state=True)(inp)
        mixed = k.layers.Dense(2)(k.layers.Concatenate()([h1, c1, h2]))
        return k.Model(inp, k.layers.Concatenate()([k.layers.Multiply()([out, h3]), mixed]))
    pair(build, x, np.concatenate([y, y], axis=1))
