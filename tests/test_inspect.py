"""minirnn.inspect.trace against BPTT written out by hand here, in NumPy, for the same weights."""
import os

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minirnn as mr  # noqa: E402
from example_loader import load_example  # noqa: E402
from minirnn import inspect  # noqa: E402


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_simple_rnn_trace_equals_hand_written_bptt():
    rng = np.random.default_rng(0)
    layer = mr.SimpleRNN(3, return_sequences=True, dtype="float64")
    x, y = rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, 3))
    t = inspect.trace(layer, x, y)                               # loss: mse on the outputs
    W, U, b = layer.get_weights()
    h, H = np.zeros((2, 3)), []
    for s in range(5):
        h = np.tanh(x[:, s] @ W + h @ U + b)
        H.append(h)
    H = np.stack(H, 1)
    dY = 2 * (H - y) / y.size
    dh, expected = np.zeros((2, 3)), np.zeros_like(H)
    for s in range(4, -1, -1):
        dh = dY[:, s] + dh                                       # dL/dh_t: output term + later steps
        expected[:, s] = dh
        dh = (dh * (1 - H[:, s] ** 2)) @ U.T
    np.testing.assert_allclose(t.states["h"], H, atol=1e-12)
    np.testing.assert_allclose(t.grads["h"], expected, atol=1e-12)
    np.testing.assert_allclose(t.loss, np.mean((H - y) ** 2))
    np.testing.assert_allclose(t.grad_norm("h"), np.linalg.norm(expected, axis=-1).mean(0))
    assert t.gates == {}


def test_lstm_trace_in_a_model_equals_hand_written_bptt():
    """Gates, states, dL/dh_t and the cell-state gradient dc_next of an LSTM inside a model."""
    rng = np.random.default_rng(1)
    model = mr.Sequential([mr.Input((6, 2), dtype="float64"), mr.LSTM(4, dtype="float64"),
                           mr.Dense(1, dtype="float64")])
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 1))
    t = inspect.trace(model, x, y)
    W, U, b = model.layers[0].get_weights()
    V, v0 = model.layers[1].get_weights()
    n = 4
    h, c = np.zeros((3, n)), np.zeros((3, n))
    gates, Cs, Hs = [], [], []
    for s in range(6):
        a = x[:, s] @ W + h @ U + b
        i, f, g, o = sigmoid(a[:, :n]), sigmoid(a[:, n:2 * n]), np.tanh(a[:, 2 * n:3 * n]), sigmoid(a[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        gates.append((i, f, g, o))
        Cs.append(c)
        Hs.append(h)
    dh = 2 * (h @ V + v0 - y) / y.size @ V.T
    dc_next = np.zeros((3, n))
    for s in range(5, -1, -1):
        i, f, g, o = gates[s]
        c_prev = Cs[s - 1] if s else np.zeros((3, n))
        np.testing.assert_allclose(t.grads["h"][:, s], dh, atol=1e-12, err_msg=f"dL/dh at step {s}")
        np.testing.assert_allclose(t.grads["c"][:, s], dc_next, atol=1e-12, err_msg=f"dc_next at step {s}")
        dc = dc_next + dh * o * (1 - np.tanh(Cs[s]) ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                             dh * np.tanh(Cs[s]) * o * (1 - o)], axis=1)
        dc_next = dc * f
        dh = da @ U.T
    for k, name in enumerate("ifgo"):
        np.testing.assert_allclose(t.gates[name], np.stack([gt[k] for gt in gates], 1), atol=1e-12)
    np.testing.assert_allclose(t.states["c"], np.stack(Cs, 1), atol=1e-12)
    np.testing.assert_allclose(t.distance_from_loss(), [5, 4, 3, 2, 1, 0])


def test_gru_trace_states_are_the_layer_outputs_and_z_the_update_gate():
    rng = np.random.default_rng(2)
    layer = mr.GRU(3, return_sequences=True, dtype="float64")
    x = rng.normal(size=(2, 4, 2))
    t = inspect.trace(layer, x, np.zeros((2, 4, 3)))
    np.testing.assert_allclose(t.states["h"], layer(x), atol=1e-12)
    W, U, b = layer.get_weights()
    h_prev = np.concatenate([np.zeros((2, 1, 3)), t.states["h"][:, :-1]], axis=1)
    z = sigmoid(x @ W[:, :3] + b[0, :3] + h_prev @ U[:, :3] + b[1, :3])
    np.testing.assert_allclose(t.gates["z"], z, atol=1e-12)


def test_trace_names_a_missing_layer_and_plots(tmp_path):
    model = mr.Sequential([mr.Input((3, 1)), mr.Bidirectional(mr.LSTM(2)), mr.Dense(1)])
    x, y = np.ones((2, 3, 1), "float32"), np.ones((2, 1), "float32")
    with pytest.raises(ValueError, match=r"no recurrent layer 'nope'.*forward_lstm"):
        inspect.trace(model, x, y, layer="nope")
    t = inspect.trace(model, x, y)                               # the forward half
    assert t.layer is model.layers[0].forward_layer and t.grads["h"].shape == (2, 3, 2)
    inspect.plot_gates(t, path=tmp_path / "gates.png")
    inspect.plot_gradient_flow({"lstm": t}, path=tmp_path / "flow.png")
    assert (tmp_path / "gates.png").stat().st_size > 0 and (tmp_path / "flow.png").stat().st_size > 0


def test_vanishing_gradients_example_writes_its_plots(tmp_path):
    """The example on a short problem: both PNGs written, and trace's norms measured for each model."""
    module = load_example("vanishing_gradients")
    results = module.main(["--steps", "8", "--epochs", "1", "--samples", "64", "--output-dir", str(tmp_path)])
    assert {"vanishing_gradients.png", "vanishing_gradients_lstm_gates.png"} <= set(os.listdir(tmp_path))
    for kind in module.MODELS:
        assert 0 < results[kind]["reach_before"] < np.inf and 0 < results[kind]["reach_after"] < np.inf
    x, y = module.adding_problem(5, 10, np.random.default_rng(0))
    assert (x[..., 1].sum(axis=1) == 2).all()                   # two marked steps per sequence
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * x[..., 1]).sum(axis=1), rtol=1e-6)
