"""Functional models against Keras 3, gradient checks of the merge layers and of whole graphs,
the summary layouts, and the model-boundary checks (bad targets, NaN in training, threads).

Each graph is built alike in both libraries from one function of the library module; Keras's
initial weights are copied into minirnn with ``model.set_weights`` (so the layer order must
match Keras's too), then outputs, one SGD step (weights after ``train_on_batch``: lr * every
weight gradient) and a few epochs of ``fit(shuffle=False)`` must agree.
"""
import io
import os
import re
import threading
from contextlib import redirect_stdout

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402, F401  (the Keras backend)

import minirnn as mr  # noqa: E402
from minirnn import callbacks, layers as L  # noqa: E402
from minirnn.gradcheck import check_arrays  # noqa: E402

T = 5


# -- graphs, built alike in both libraries ------------------------------------------------
def two_in_two_out(lib):
    seq = lib.Input(shape=(T, 3), name="seq")
    aux = lib.Input(shape=(4,), name="aux")
    h = lib.layers.GRU(4, name="gru")(seq)
    a = lib.layers.Dense(4, activation="tanh", name="aux_dense")(aux)
    joined = lib.layers.Concatenate(name="joined")([h, a])
    out1 = lib.layers.Dense(1, name="out1")(joined)
    out2 = lib.layers.Dense(2, name="out2")(lib.layers.Multiply(name="gate")([h, a]))
    return lib.Model([seq, aux], [out1, out2])


def shared_lstm(lib):
    left, right = lib.Input(shape=(T, 2), name="left"), lib.Input(shape=(T, 2), name="right")
    lstm = lib.layers.LSTM(4, name="shared")
    diff = lib.layers.Subtract(name="diff")([lstm(left), lstm(right)])
    return lib.Model([left, right], lib.layers.Dense(1, name="out")(diff))


def residual_add(lib):
    x = lib.Input(shape=(T, 3), name="x")
    h = lib.layers.Dense(3, activation="tanh", name="proj")(x)
    r = lib.layers.Add(name="residual")([x, h])
    h2 = lib.layers.SimpleRNN(4, name="rnn")(r)
    return lib.Model(x, lib.layers.Dense(1, name="out")(h2))


def nested_sequential(lib):
    x = lib.Input(shape=(T, 2), name="x")
    inner = lib.Sequential([lib.layers.LSTM(3, return_sequences=True, name="inner_lstm"),
                            lib.layers.Dense(2, activation="tanh", name="inner_dense")], name="inner")
    h = lib.layers.Average(name="avg")([inner(x), lib.layers.Dense(2, name="skip")(x)])
    return lib.Model(x, lib.layers.Dense(1, name="out")(lib.layers.GlobalAveragePooling1D(name="pool")(h)))


def masked_bidirectional(lib):
    tokens = lib.Input(shape=(T,), dtype="int32", name="tokens")
    e = lib.layers.Embedding(9, 3, mask_zero=True, name="embed")(tokens)
    b = lib.layers.Bidirectional(lib.layers.LSTM(2, return_sequences=True, name="bi"), name="bidir")(e)
    c = lib.layers.Concatenate(name="cat")([b, lib.layers.Dense(2, name="side")(e)])
    h = lib.layers.GRU(3, name="reader")(c)
    return lib.Model(tokens, lib.layers.Dense(1, name="out")(h))


def encoder_decoder(lib):
    source, target = lib.Input(shape=(T, 2), name="source"), lib.Input(shape=(3, 2), name="target")
    _, h, c = lib.layers.LSTM(4, return_state=True, name="encoder")(source)
    decoded = lib.layers.LSTM(4, return_sequences=True, name="decoder")(target, initial_state=[h, c])
    return lib.Model([source, target], lib.layers.Dense(1, name="out")(decoded))


def data_for(name, rng, n=12):
    if name == "masked_bidirectional":
        tokens = rng.integers(1, 9, size=(n, T))
        for i in range(n):
            tokens[i, T - i % 3:] = 0                      # right padding of 0, 1 or 2 steps
        return tokens.astype("int32"), rng.standard_normal((n, 1)).astype("float32")
    if name == "encoder_decoder":
        x = [rng.standard_normal((n, T, 2)), rng.standard_normal((n, 3, 2))]
        return [a.astype("float32") for a in x], rng.standard_normal((n, 3, 1)).astype("float32")
    if name == "two_in_two_out":
        x = [rng.standard_normal((n, T, 3)), rng.standard_normal((n, 4))]
        return [a.astype("float32") for a in x], [rng.standard_normal((n, k)).astype("float32") for k in (1, 2)]
    shape = {"shared_lstm": (T, 2), "residual_add": (T, 3), "nested_sequential": (T, 2)}[name]
    x = rng.standard_normal((n,) + shape).astype("float32")
    if name == "shared_lstm":
        x = [x, rng.standard_normal((n,) + shape).astype("float32")]
    return x, rng.standard_normal((n, 1)).astype("float32")


GRAPHS = {f.__name__: f for f in (two_in_two_out, shared_lstm, residual_add, nested_sequential,
                                   masked_bidirectional, encoder_decoder)}


def pair(name):
    keras.utils.set_random_seed(3)
    kmodel = GRAPHS[name](keras)
    mmodel = GRAPHS[name](mr)
    mmodel.set_weights(kmodel.get_weights())
    return kmodel, mmodel


def close(a, b, tol=2e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.allclose(a, b, rtol=tol, atol=tol), float(np.max(np.abs(a - b), initial=0.0))


@pytest.mark.parametrize("name", list(GRAPHS))
def test_graph_matches_keras_outputs_one_step_and_fit(name):
    kmodel, mmodel = pair(name)
    assert [layer.name for layer in mmodel.layers] == [layer.name for layer in kmodel.layers]
    rng = np.random.default_rng(1)
    x, y = data_for(name, rng)
    for ours, theirs in zip(mmodel.predict(x, verbose=0) if name == "two_in_two_out" else [mmodel.predict(x)],
                            kmodel.predict(x, verbose=0) if name == "two_in_two_out"
                            else [kmodel.predict(x, verbose=0)]):
        ok, err = close(ours, theirs)
        assert ok, f"outputs differ by {err}"

    loss = ["mse", "mae"] if name == "two_in_two_out" else "mse"
    weights = [1.0, 0.5] if name == "two_in_two_out" else None
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, loss_weights=weights)
    mmodel.compile(optimizer=mr.optimizers.SGD(0.1), loss=loss, loss_weights=weights)
    before = mmodel.get_weights()
    k_loss = kmodel.train_on_batch(x, y)
    m_loss = mmodel.train_on_batch(x, y)
    assert np.asarray(m_loss).shape == np.asarray(k_loss).shape            # [total, out1, out2] for two
    assert np.allclose(m_loss, k_loss, rtol=1e-5, atol=0), (m_loss, k_loss)
    for k, (w0, ours, theirs) in enumerate(zip(before, mmodel.get_weights(), kmodel.get_weights())):
        ok, err = close(ours - w0, theirs - w0, tol=1e-5)          # lr * dL/dW, weight by weight
        assert ok, f"weight {k} {w0.shape}: step differs by {err}"

    k_hist = kmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    m_hist = mmodel.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    assert set(m_hist) == set(k_hist)
    for key in k_hist:
        assert np.allclose(m_hist[key], k_hist[key], rtol=1e-4, atol=1e-6), key
    for ours, theirs in zip(mmodel.get_weights(), kmodel.get_weights()):
        assert close(ours, theirs, tol=1e-4)[0]


# -- central differences (float64) ---------------------------------------------------------
def graph_gradient_errors(model, x, rng):
    """dL/d(every weight) and dL/d(inputs) of L = sum_k sum(output_k * cotangent_k)."""
    xs = x if isinstance(x, list) else [x]
    out = model(x, training=True)
    outs = out if isinstance(out, list) else [out]
    cotangents = [rng.standard_normal(o.shape) for o in outs]
    dx = model.backward(cotangents if isinstance(out, list) else cotangents[0])
    dxs = dx if isinstance(dx, list) else [dx]
    arrays = [a for a in xs if a.dtype.kind == "f"] + model.weights
    analytic = [g for a, g in zip(xs, dxs) if a.dtype.kind == "f"] + model.grads
    names = [f"input {k}" for k, a in enumerate(xs) if a.dtype.kind == "f"] + \
            [f"{layer.name} weight {k}" for layer in model.layers for k in range(len(layer.weights))]

    def loss():
        again = model(x)
        again = again if isinstance(again, list) else [again]
        return sum(float(np.sum(o * c)) for o, c in zip(again, cotangents))
    return check_arrays(loss, arrays, analytic, names)


MERGES = [(L.Add, {}, 3), (L.Subtract, {}, 2), (L.Multiply, {}, 3), (L.Average, {}, 3), (L.Maximum, {}, 3),
          (L.Minimum, {}, 2), (L.Concatenate, {}, 3), (L.Concatenate, {"axis": 1}, 2),
          (L.Dot, {"axes": 2}, 2), (L.Dot, {"axes": (1, 1)}, 2), (L.Dot, {"axes": -1, "normalize": True}, 2)]


@pytest.mark.parametrize("name, metrics", [("residual_add", None), ("residual_add", ["mae"]),
                                           ("two_in_two_out", None)])
def test_train_and_test_on_batch_return_what_keras_returns(name, metrics):
    """Each call returns that batch's values (loss before the update), in Keras's form: the loss
    alone, [loss, *others] with metrics or several outputs, {name: value} with return_dict; and
    test_on_batch changes no weight."""
    kmodel, mmodel = pair(name)
    x, y = data_for(name, np.random.default_rng(4))
    for model, lib in ((kmodel, keras), (mmodel, mr)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), metrics=metrics,
                      loss=["mse", "mae"] if name == "two_in_two_out" else "mse")
    calls = [("train_on_batch", {}), ("train_on_batch", {}), ("test_on_batch", {}),
             ("test_on_batch", dict(return_dict=True)), ("train_on_batch", dict(return_dict=True))]
    for method, kwargs in calls:
        before = mmodel.get_weights()
        theirs, ours = getattr(kmodel, method)(x, y, **kwargs), getattr(mmodel, method)(x, y, **kwargs)
        assert type(ours) is type(theirs) or np.isscalar(ours) and np.isscalar(theirs), (method, ours, theirs)
        if isinstance(theirs, dict):
            assert list(ours) == list(theirs)
            ours, theirs = list(ours.values()), list(theirs.values())
        ok, err = close(ours, theirs)
        assert ok, f"{method}: {ours} vs {theirs} (differ by {err})"
        if method == "test_on_batch":
            assert all(np.array_equal(a, b) for a, b in zip(before, mmodel.get_weights()))
    ok, err = close(mmodel.get_weights()[0], kmodel.get_weights()[0])
    assert ok, f"weights after three steps differ by {err}"
    mmodel.reset_metrics()
    kmodel.reset_metrics()
    assert all(m.result() == 0.0 for m in mmodel.metrics)
    ok, err = close(mmodel.test_on_batch(x, y), kmodel.test_on_batch(x, y))
    assert ok, f"test_on_batch after reset_metrics differs by {err}"


@pytest.mark.parametrize("name, metrics", [("residual_add", None), ("residual_add", ["mae", "mse"]),
                                           ("two_in_two_out", [["mae"], ["mse"]])])
def test_metrics_names_as_keras_lists_them(name, metrics):
    kmodel, mmodel = pair(name)
    assert mmodel.metrics_names == kmodel.metrics_names == []
    for model, lib in ((kmodel, keras), (mmodel, mr)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), metrics=metrics,
                      loss=["mse", "mae"] if name == "two_in_two_out" else "mse")
    x, y = data_for(name, np.random.default_rng(6))
    kmodel.fit(x, y, verbose=0)
    mmodel.fit(x, y, verbose=0)
    assert mmodel.metrics_names == kmodel.metrics_names


@pytest.mark.parametrize("name", ["two_in_two_out", "masked_bidirectional"])
def test_predict_on_batch_matches_keras(name):
    """``predict_on_batch``: the whole input as one batch, Keras's outputs (a list for two)."""
    kmodel, mmodel = pair(name)
    x, _ = data_for(name, np.random.default_rng(2))
    ours, theirs = mmodel.predict_on_batch(x), kmodel.predict_on_batch(x)
    assert type(ours) is type(theirs) or isinstance(theirs, np.ndarray) and isinstance(ours, np.ndarray)
    for a, b in zip(ours if isinstance(ours, list) else [ours], theirs if isinstance(theirs, list) else [theirs]):
        assert a.shape == b.shape
        ok, err = close(a, b)
        assert ok, f"outputs differ by {err}"
    with pytest.raises(ValueError, match="predict_on_batch.*0 samples"):
        mmodel.predict_on_batch([part[:0] for part in x] if isinstance(x, list) else x[:0])


@pytest.mark.parametrize("cls, kwargs, n", MERGES)
def test_merge_layer_gradients(cls, kwargs, n, float64):
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(n)]
    layer = cls(**kwargs)
    y = layer(xs, training=True)
    cot = rng.standard_normal(y.shape)
    dxs = layer.backward(cot)
    assert len(dxs) == n and not layer.weights

    def loss():
        return float(np.sum(layer(xs) * cot))
    check_arrays(loss, xs, dxs, [f"x{k}" for k in range(n)]).raise_if_failed()


def test_merge_layers_broadcast_and_match_keras():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4, 5)).astype("float32"), rng.standard_normal((3, 1, 5)).astype("float32")
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        ok, err = close(getattr(L, name)()([a, b]), getattr(keras.layers, name)()([a, b]))
        assert ok, f"{name}: {err}"
    c = rng.standard_normal((3, 4, 5)).astype("float32")
    for kwargs in ({"axes": 2}, {"axes": (1, 1)}, {"axes": 2, "normalize": True}):
        ok, err = close(L.Dot(**kwargs)([a[:, :, :] * 1.0, c]), keras.layers.Dot(**kwargs)([a, c]))
        assert ok, f"Dot {kwargs}: {err}"
    ok, err = close(L.Concatenate(axis=1)([a, c]), keras.layers.Concatenate(axis=1)([a, c]))
    assert ok
    layer = L.Add()
    y = layer([a, b], training=True)
    da, db = layer.backward(np.ones_like(y))
    assert db.shape == b.shape and np.allclose(db, 4.0)             # summed over the broadcast axis


@pytest.mark.parametrize("name", list(GRAPHS))
def test_whole_graph_gradients(name, float64):
    mr.set_random_seed(5)
    model = GRAPHS[name](mr)
    rng = np.random.default_rng(8)
    x, _ = data_for(name, rng, n=3)
    x = [a.astype("float64") for a in x] if isinstance(x, list) else \
        (x if x.dtype.kind == "i" else x.astype("float64"))
    for w in model.weights:
        w += rng.normal(0.0, 0.3, w.shape)
    graph_gradient_errors(model, x, rng).raise_if_failed()


def test_shared_nested_model_gradients(float64):
    """A Sequential called on two inputs: its layers' caches are kept per call, gradients summed."""
    mr.set_random_seed(6)
    inner = mr.Sequential([L.GRU(3, return_sequences=True), L.Dense(2, activation="tanh")])
    a, b = mr.Input(shape=(T, 2)), mr.Input(shape=(T, 2))
    joined = L.Concatenate()([inner(a), L.Multiply()([inner(b), inner(a)])])
    model = mr.Model([a, b], L.Dense(1)(L.GlobalMaxPooling1D()(joined)))
    rng = np.random.default_rng(4)
    for w in model.weights:
        w += rng.normal(0.0, 0.3, w.shape)
    x = [rng.standard_normal((2, T, 2)), rng.standard_normal((2, T, 2))]
    graph_gradient_errors(model, x, rng).raise_if_failed()


def test_training_step_skips_what_no_weight_needs(float64):
    """A training step does not back-propagate the weightless layers between the inputs and
    the first weights (the course's Lambda that adds the channel axis), and asks the first
    recurrent layer for no dL/dx; the weights' gradients are those of the full backward pass
    (input gradients requested), and the weightless layers above the weights still run."""
    mr.set_random_seed(2)
    x = mr.Input(shape=(T,))
    channel = L.Lambda(lambda v: v[:, :, None])
    scale = L.Lambda(lambda v: 100.0 * v)
    rnn = L.SimpleRNN(3)
    model = mr.Model(x, scale(L.Dense(1)(rnn(channel(x)))))
    calls = []
    for layer in (channel, rnn, scale):
        def spy(dy, input_grad=True, _backward=layer.backward, _name=layer.name):
            calls.append((_name, input_grad))
            return _backward(dy) if input_grad else _backward(dy, input_grad=False)
        layer.backward = spy
    rng = np.random.default_rng(1)
    data = rng.standard_normal((4, T))
    d_out = [rng.standard_normal((4, 1))]

    model._forward([data], True)
    model._backward(d_out, input_grads=True)
    assert calls == [(scale.name, True), (rnn.name, True), (channel.name, True)]
    full = [g.copy() for g in model.grads]
    calls.clear()
    model._forward([data], True)
    model._backward(d_out, input_grads=False)
    assert calls == [(scale.name, True), (rnn.name, False)]
    for got, expected in zip(model.grads, full):
        np.testing.assert_array_equal(got, expected)


def test_shared_layer_gradient_is_the_sum_over_its_calls(float64):
    """One Dense applied to x and to 2x: dL/dW must be the sum of both calls' contributions."""
    x = mr.Input(shape=(3,))
    dense = L.Dense(2, use_bias=False)
    model = mr.Model(x, L.Add()([dense(x), dense(L.Lambda(lambda v: 2.0 * v)(x))]))
    data = np.arange(6.0).reshape(2, 3)
    model(data, training=True)
    model.backward(np.ones((2, 2)))
    # y = x W + 2x W  =>  dL/dW = x^T 1 + (2x)^T 1 = 3 x^T 1
    assert np.allclose(model.grads[0], 3 * data.T @ np.ones((2, 2)))


# -- summary ---------------------------------------------------------------------------------
def table(text):
    """[(name (type), shape, params, connections)] rows of a summary table, box characters and
    spacing removed, a cell wrapped over several lines joined."""
    rows, current = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if current is None:
                current = [[] for _ in cells]
            for k, c in enumerate(cells):
                if c:
                    current[k].append(c)
        elif line.startswith(("├", "└")) and current is not None:
            rows.append(tuple(" ".join(parts) for parts in current))
            current = None
    return rows


def same_rows(ours, theirs):
    """Row by row, cell by cell; a cell Keras cut short ("…") must begin like ours."""
    assert len(ours) == len(theirs), (ours, theirs)
    for mine, keras_row in zip(ours, theirs):
        for a, b in zip(mine, keras_row):
            assert a == b or (b.endswith("…") and a.startswith(b[:-1])), (mine, keras_row)


def footer(text):
    return [re.sub(r"\s+", " ", line.strip()) for line in text.splitlines() if "params:" in line]


def keras_summary(model):
    lines = []
    model.summary(print_fn=lambda s, line_break=None: lines.append(s))
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(lines))


def our_summary(model):
    out = io.StringIO()
    model.summary(print_fn=out.write)
    return out.getvalue()


@pytest.mark.parametrize("name", ["two_in_two_out", "shared_lstm", "nested_sequential", "encoder_decoder"])
def test_functional_summary_matches_keras_line_by_line(name):
    kmodel, mmodel = pair(name)
    ours, theirs = our_summary(mmodel), keras_summary(kmodel)
    same_rows(table(ours), table(theirs))
    assert footer(ours) == footer(theirs)


def test_sequential_summaries_match_keras_unbuilt_built_and_after_fit():
    def build(lib, with_input):
        stack = [lib.layers.LSTM(4, name="lstm"), lib.layers.Dense(1, name="dense")]
        return lib.Sequential(([lib.Input(shape=(T, 3))] if with_input else []) + stack, name="stack")
    for with_input in (False, True):
        kmodel, mmodel = build(keras, with_input), build(mr, with_input)
        ours, theirs = our_summary(mmodel), keras_summary(kmodel)
        same_rows(table(ours), table(theirs))
        assert footer(ours) == footer(theirs)
    x, y = np.zeros((4, T, 3), "float32"), np.zeros((4, 1), "float32")
    for model, lib in ((kmodel, keras), (mmodel, mr)):
        model.compile(optimizer=lib.optimizers.Adam(), loss="mse")
        model.fit(x, y, epochs=1, verbose=0)
    assert footer(our_summary(mmodel)) == footer(keras_summary(kmodel))
    assert any("Optimizer params" in line for line in footer(our_summary(mmodel)))


# -- saving ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["two_in_two_out", "encoder_decoder"])
def test_functional_model_saves_and_loads(name, tmp_path):
    mr.set_random_seed(0)
    mmodel = GRAPHS[name](mr)
    x, y = data_for(name, np.random.default_rng(0))
    two = name == "two_in_two_out"
    mmodel.compile(optimizer="adam", loss=["mse", "mae"] if two else "mse", loss_weights=[1.0, 0.5] if two else None,
                   metrics=[["mae"], []] if two else ["mae"])
    mmodel.fit(x, y, epochs=1, verbose=0)
    mmodel.save(tmp_path / "g.minirnn")
    loaded = mr.models.load_model(tmp_path / "g.minirnn")
    assert loaded.get_config() == mmodel.get_config()
    ours, theirs = loaded.predict(x), mmodel.predict(x)
    for a, b in zip(ours if two else [ours], theirs if two else [theirs]):
        assert np.array_equal(a, b)
    assert loaded.evaluate(x, y, return_dict=True, verbose=0) == mmodel.evaluate(x, y, return_dict=True, verbose=0)


def test_dict_inputs_and_outputs_like_keras(tmp_path):
    """Keras's docstring example: inputs and outputs given as dicts, data passed by those keys."""
    def build(lib):
        inputs = {"x1": lib.Input(shape=(10,), name="x1"), "x2": lib.Input(shape=(1,), name="x2")}
        t = lib.layers.Dense(1, activation="relu", name="t")(inputs["x1"])
        return lib.Model(inputs, {"y": lib.layers.Add(name="add")([t, inputs["x2"]])})
    keras.utils.set_random_seed(0)
    kmodel, mmodel = build(keras), build(mr)
    mmodel.set_weights(kmodel.get_weights())
    rng = np.random.default_rng(0)
    x = {"x1": rng.standard_normal((6, 10)).astype("float32"), "x2": rng.standard_normal((6, 1)).astype("float32")}
    ours, theirs = mmodel.predict(x), kmodel.predict(x, verbose=0)
    assert set(ours) == set(theirs) == {"y"} and close(ours["y"], theirs["y"])[0]
    mmodel.save(tmp_path / "d.minirnn")
    assert np.array_equal(mr.models.load_model(tmp_path / "d.minirnn").predict(x)["y"], ours["y"])


# -- the model boundary ------------------------------------------------------------------------
def small_model():
    mr.set_random_seed(0)
    x = mr.Input(shape=(4, 2))
    return mr.Model(x, L.Dense(1)(L.SimpleRNN(3, activation="relu")(x)))


def test_nan_targets_are_refused_naming_the_targets():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros((8, 1), "float32")
    y[3] = np.inf
    x = np.zeros((8, 4, 2), "float32")
    for method, call in (("fit", lambda: model.fit(x, y, verbose=0)), ("train_on_batch", lambda: model.train_on_batch(x, y)),
                         ("test_on_batch", lambda: model.test_on_batch(x, y))):
        with pytest.raises(ValueError, match=rf"Model '{model.name}' {method}\(\): targets contain NaN or inf \(1 of 8"):
            call()


def test_nan_arising_inside_training_reaches_the_loss():
    model = small_model()
    model.compile(optimizer=mr.optimizers.SGD(1e30), loss="mse")
    x = np.ones((16, 4, 2), "float32")
    y = np.full((16, 1), 1e3, "float32")
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at epoch 1, batch [2-4]"):
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model = small_model()
    model.compile(optimizer=mr.optimizers.SGD(1e30), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and not np.isfinite(history.history["loss"][0])


def test_empty_sequential_predict_is_a_clear_error():
    with pytest.raises(ValueError, match="has no layers"):
        mr.Sequential().predict(np.zeros((2, 3)))


def test_functional_errors_name_the_layer_and_shapes():
    x = mr.Input(shape=(None, 3))
    with pytest.raises(ValueError, match=r"Concatenate.*shapes match except"):
        L.Concatenate()([mr.Input(shape=(4, 3)), mr.Input(shape=(5, 2))])
    dense = L.Dense(2)
    dense(x)
    with pytest.raises(ValueError, match=r"Layer 'dense.*' \(Dense\) was built for inputs of shape \(None, None, 3\), "
                                         r"received a tensor of shape \(None, 5\)"):
        dense(mr.Input(shape=(5,)))
    with pytest.raises(ValueError, match="Graph disconnected"):
        mr.Model(mr.Input(shape=(3,)), L.Dense(1)(x))
    with pytest.raises(ValueError, match="subclass Model and write call"):
        mr.Model()


def test_predict_while_fit_runs_in_another_thread():
    model = small_model()
    model.compile(optimizer=mr.optimizers.SGD(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 4, 2)).astype("float32"), rng.standard_normal((64, 1)).astype("float32")
    errors, done = [], threading.Event()

    def train():
        try:
            model.fit(x, y, epochs=20, batch_size=4, verbose=0)
        except Exception as e:          # noqa: BLE001  (reported below)
            errors.append(e)
        finally:
            done.set()
    thread = threading.Thread(target=train)
    thread.start()
    predictions = 0
    while not done.is_set():
        assert model.predict(x[:8], verbose=0).shape == (8, 1)
        predictions += 1
    thread.join()
    assert not errors, errors
    assert predictions > 0


def test_evaluate_verbose_prints_a_progress_bar():
    model = small_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    out = io.StringIO()
    with redirect_stdout(out):
        model.evaluate(np.zeros((40, 4, 2), "float32"), np.zeros((40, 1), "float32"), verbose=1)
    assert re.search(r"2/2 ━+ \d+s \S+/step - loss: \S+ - mae: \S+", out.getvalue())


@pytest.mark.parametrize("input_shape, fed_shape", [((1,), (6,)), ((4,), (6, 4, 1)), ((4, 1), (6, 4)), ((4, 1), (6, 4, 1))])
def test_input_rank_adjusted_as_keras_does(input_shape, fed_shape):
    """A trailing axis of size 1 too many or too few is squeezed or added, as Keras's functional
    models do; any other rank mismatch is refused naming the Input."""
    def build(lib):
        inp = lib.Input(input_shape)
        x = lib.layers.Flatten()(inp) if len(input_shape) > 1 else inp
        return lib.Model(inp, lib.layers.Dense(2)(x))

    km, mm = build(keras), build(mr)
    mm.set_weights(km.get_weights())
    x = np.random.default_rng(1).normal(size=fed_shape).astype("float32")
    np.testing.assert_allclose(mm.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    y = np.zeros((fed_shape[0], 2), "float32")
    km.compile(keras.optimizers.SGD(0.1), "mse")
    mm.compile(mr.optimizers.SGD(0.1), "mse")
    np.testing.assert_allclose(mm.train_on_batch(x, y), float(km.train_on_batch(x, y)), rtol=1e-5)
    with pytest.raises(ValueError, match="InputLayer"):
        mm.predict(np.zeros(fed_shape + (3,), "float32"), verbose=0)
