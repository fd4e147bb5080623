"""Layer parity with Keras 3 (TensorFlow backend): forward values and every gradient.

Each test builds the Keras layer, gives it random weights (biases included), copies
them into the minirnn layer with ``set_weights`` and compares the outputs, then the
gradients of L = sum(output * cotangent) (plus the states' cotangents): Keras's
from ``tf.GradientTape``, minirnn's from its manual ``backward``.
"""
import os
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402

B, T, D, UNITS = 4, 7, 3, 5
N_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}


# -- helpers ---------------------------------------------------------------------
def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def assert_close(mine, ref, tol=1e-5, what=""):
    """|mine - ref| <= tol * max(1, max|ref|), elementwise; shapes must match."""
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != Keras's {ref.shape}"
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    np.testing.assert_allclose(mine, ref, rtol=0, atol=tol * scale, err_msg=what)


def randomize(klayer, rng, scale=0.5):
    """Random weights (biases too) for a built Keras layer; returns them."""
    weights = [rng.normal(0, scale, w.shape).astype(w.dtype) for w in klayer.get_weights()]
    klayer.set_weights(weights)
    return weights


def keras_run(klayer, x, initial_state=None, rng=None, dtype="float32", mask=None):
    """Keras outputs, cotangents, and gradients of sum(outputs * cotangents) with respect to
    x, every weight (layer.weights order) and the initial states."""
    rng = rng or np.random.default_rng(1)
    xt = tf.constant(x)
    states = None if initial_state is None else [tf.constant(s) for s in initial_state]
    kwargs = {} if mask is None else {"mask": tf.constant(mask)}
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        if states is not None:
            tape.watch(states)
            kwargs["initial_state"] = states
        out = klayer(xt, **kwargs)
    outs = as_list(out)
    cots = [rng.normal(size=o.shape).astype(dtype) for o in outs]
    sources = [xt] + list(klayer.weights) + (states or [])
    grads = tape.gradient(outs, sources, output_gradients=[tf.constant(c) for c in cots],
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grads = [g.numpy() for g in grads]
    n_w = len(klayer.weights)
    return dict(outs=[o.numpy() for o in outs], cots=cots, dx=grads[0],
                dw=grads[1:1 + n_w], dstates=grads[1 + n_w:])


def compare(mlayer, klayer, x, initial_state=None, tol=1e-5, dtype="float32", rng=None, mask=None):
    """Forward and all gradients of minirnn's layer against Keras's (same weights)."""
    ref = keras_run(klayer, x, initial_state, rng=rng, dtype=dtype, mask=mask)
    kwargs = {} if initial_state is None else {"initial_state": initial_state}
    if mask is not None:
        kwargs["mask"] = mask
    out = mlayer(x, training=True, **kwargs)
    outs = as_list(out)
    assert len(outs) == len(ref["outs"])
    for k, (o, r) in enumerate(zip(outs, ref["outs"])):
        assert o.dtype == np.dtype(dtype), f"output {k} dtype {o.dtype}"
        assert_close(o, r, tol, f"output {k}")
    dy = ref["cots"] if isinstance(out, list) else ref["cots"][0]
    dx = mlayer.backward(dy)
    assert dx.dtype == np.dtype(dtype)
    assert_close(dx, ref["dx"], tol, "dL/dx")
    assert len(mlayer.grads) == len(ref["dw"])
    for k, (g, r) in enumerate(zip(mlayer.grads, ref["dw"])):
        assert_close(g, r, tol, f"dL/d{klayer.weights[k].path}")
    if initial_state is not None:
        assert len(mlayer.initial_state_grads) == len(ref["dstates"])
        for k, (g, r) in enumerate(zip(mlayer.initial_state_grads, ref["dstates"])):
            assert_close(g, r, tol, f"dL/d(initial_state[{k}])")
    return ref


def pair(cls, units=UNITS, dtype=None, **kw):
    """The same recurrent/dense layer in Keras and minirnn."""
    if dtype is not None:
        kw["dtype"] = dtype
    return getattr(keras.layers, cls)(units, **kw), getattr(mr.layers, cls)(units, **kw)


def setup_pair(klayer, mlayer, x, rng):
    klayer.build(x.shape)
    weights = randomize(klayer, rng)
    mlayer.build(x.shape)
    mlayer.set_weights(weights)


# -- recurrent layers --------------------------------------------------------------
CELLS = [
    ("SimpleRNN", {}),
    ("LSTM", {}),
    ("GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}),
]
FLAGS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True},
    {"go_backwards": True},
    {"go_backwards": True, "return_sequences": True},
    {"use_bias": False},
    {"use_bias": False, "return_sequences": True, "return_state": True},
    {"activation": "relu", "return_sequences": True},
    {"initial_state": True},
    {"initial_state": True, "return_sequences": True, "return_state": True, "go_backwards": True},
]
EXTRA = {
    "LSTM": [{"unit_forget_bias": False, "return_sequences": True},
             {"recurrent_activation": "hard_sigmoid", "return_sequences": True},
             {"recurrent_activation": "hard_sigmoid", "activation": "relu", "return_state": True}],
    "GRU": [{"recurrent_activation": "hard_sigmoid", "return_sequences": True},
            {"recurrent_activation": "hard_sigmoid", "activation": "relu", "return_state": True}],
}
RNN_CASES = [(cls, {**cell_kw, **flags}) for cls, cell_kw in CELLS
             for flags in FLAGS + EXTRA.get(cls, [])]


def case_id(case):
    cls, kw = case
    return cls + "-" + ("-".join(f"{k}={v}" for k, v in kw.items()) or "default")


@pytest.mark.parametrize("case", RNN_CASES, ids=[case_id(c) for c in RNN_CASES])
def test_recurrent_layer_matches_keras(case):
    cls, kw = case
    kw = dict(kw)
    use_state = kw.pop("initial_state", False)
    rng = np.random.default_rng(zlib.crc32(case_id(case).encode()))
    x = rng.normal(size=(B, T, D)).astype("float32")
    klayer, mlayer = pair(cls, **kw)
    setup_pair(klayer, mlayer, x, rng)
    init = [rng.normal(size=(B, UNITS)).astype("float32") for _ in range(N_STATES[cls])] if use_state else None
    compare(mlayer, klayer, x, init, rng=rng)


@pytest.mark.parametrize("cls, kw, bias_shape", [
    ("SimpleRNN", {}, (UNITS,)),
    ("LSTM", {}, (4 * UNITS,)),
    ("GRU", {"reset_after": True}, (2, 3 * UNITS)),
    ("GRU", {"reset_after": False}, (3 * UNITS,)),
])
def test_keras_weights_load_unchanged(cls, kw, bias_shape):
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cls]
    x = np.zeros((2, T, D), "float32")
    klayer, mlayer = pair(cls, **kw)
    klayer.build(x.shape)
    mlayer(x)
    expected = [(D, gates * UNITS), (UNITS, gates * UNITS), bias_shape]
    assert [w.shape for w in klayer.get_weights()] == expected
    assert [w.shape for w in mlayer.get_weights()] == expected
    kweights = klayer.get_weights()
    mlayer.set_weights(kweights)
    for mine, theirs in zip(mlayer.get_weights(), kweights):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)
    # No bias at all with use_bias=False.
    klayer, mlayer = pair(cls, use_bias=False, **kw)
    klayer.build(x.shape)
    mlayer(x)
    assert [w.shape for w in mlayer.get_weights()] == [w.shape for w in klayer.get_weights()] == expected[:2]


@pytest.mark.parametrize("kw", [{}, {"unit_forget_bias": False}, {"bias_initializer": "ones"},
                                {"unit_forget_bias": False, "bias_initializer": "ones"}])
def test_lstm_bias_initialisation_like_keras(kw):
    x = np.zeros((2, T, D), "float32")
    klayer, mlayer = pair("LSTM", **kw)
    klayer.build(x.shape)
    mlayer(x)
    kbias, mbias = klayer.get_weights()[2], mlayer.get_weights()[2]
    assert mbias.dtype == np.float32
    np.testing.assert_array_equal(mbias, kbias)
    if not kw:
        forget = np.zeros(4 * UNITS, "float32")
        forget[UNITS:2 * UNITS] = 1.0
        np.testing.assert_array_equal(mbias, forget)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
def test_default_weight_shapes_and_zero_state_output(cls):
    """Untouched default-initialised layers: Keras's weights, copied, give Keras's outputs."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(B, T, D)).astype("float32")
    klayer, mlayer = pair(cls, return_sequences=True)
    klayer.build(x.shape)
    mlayer(x)
    mlayer.set_weights(klayer.get_weights())
    assert_close(mlayer(x), klayer(x).numpy(), 1e-5)


# -- Bidirectional -------------------------------------------------------------------
MERGE_MODES = ["concat", "sum", "mul", "ave", None]


def bidi_pair(cls, merge_mode, units=UNITS, dtype=None, **kw):
    if dtype is not None:
        kw["dtype"] = dtype
    kl = keras.layers.Bidirectional(getattr(keras.layers, cls)(units, **kw), merge_mode=merge_mode,
                                    **({} if dtype is None else {"dtype": dtype}))
    ml = mr.layers.Bidirectional(getattr(mr.layers, cls)(units, **kw), merge_mode=merge_mode)
    return kl, ml


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_keras(cls, merge_mode, return_sequences):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(B, T, D)).astype("float32")
    klayer, mlayer = bidi_pair(cls, merge_mode, return_sequences=return_sequences)
    setup_pair(klayer, mlayer, x, rng)
    compare(mlayer, klayer, x, rng=rng)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_bidirectional_return_state_and_initial_state(cls, merge_mode, with_initial_state):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(B, T, D)).astype("float32")
    klayer, mlayer = bidi_pair(cls, merge_mode, return_sequences=True, return_state=True)
    setup_pair(klayer, mlayer, x, rng)
    # Keras's order: forward states first, then backward states.
    init = ([rng.normal(size=(B, UNITS)).astype("float32") for _ in range(2 * N_STATES[cls])]
            if with_initial_state else None)
    ref = compare(mlayer, klayer, x, init, rng=rng)
    n_out = 2 if merge_mode is None else 1
    assert len(ref["outs"]) == n_out + 2 * N_STATES[cls]


# Every row of one batch pads differently, so each test sees all three kinds of mask.
PADDED_MASK = np.array([[0, 0, 0, 1, 1, 1, 1],        # left-padded
                        [1, 1, 1, 1, 1, 0, 0],        # right-padded
                        [1, 1, 0, 0, 1, 1, 1],        # a gap
                        [0, 1, 1, 0, 1, 1, 0]], bool)  # all three at once
BIDI_MASK_CASES = [(cls, kw, merge_mode, return_sequences, (i + j) % 2 == 0)
                   for i, (cls, kw) in enumerate(CELLS) for j, merge_mode in enumerate(MERGE_MODES)
                   for return_sequences in (False, True)]


@pytest.mark.parametrize("cls, kw, merge_mode, return_sequences, return_state", BIDI_MASK_CASES,
                         ids=[f"{c}{'-reset_before' if kw.get('reset_after') is False else ''}-{m}"
                              f"-{'seq' if rs else 'last'}{'-state' if st else ''}"
                              for c, kw, m, rs, st in BIDI_MASK_CASES])
def test_masked_bidirectional_matches_keras(cls, kw, merge_mode, return_sequences, return_state):
    """Masked steps through both directions: outputs, dL/dx, dL/dweights and, with return_state,
    dL/d(initial states).  Keras zeroes the padded outputs of a returned sequence but carries the
    last real output of a final one (Bidirectional sets zero_output_for_mask = return_sequences)."""
    rng = np.random.default_rng(zlib.crc32(f"{cls}{kw}{merge_mode}{return_sequences}".encode()))
    x = rng.normal(size=(B, T, D)).astype("float32")
    klayer, mlayer = bidi_pair(cls, merge_mode, return_sequences=return_sequences, return_state=return_state,
                               **kw)
    setup_pair(klayer, mlayer, x, rng)
    init = ([rng.normal(size=(B, UNITS)).astype("float32") for _ in range(2 * N_STATES[cls])]
            if return_state else None)
    compare(mlayer, klayer, x, init, rng=rng, mask=PADDED_MASK)


def test_bidirectional_initial_state_without_return_state():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(B, T, D)).astype("float32")
    klayer, mlayer = bidi_pair("LSTM", "concat")
    setup_pair(klayer, mlayer, x, rng)
    init = [rng.normal(size=(B, UNITS)).astype("float32") for _ in range(4)]
    compare(mlayer, klayer, x, init, rng=rng)


def test_bidirectional_weight_order_is_keras_order():
    x = np.zeros((2, T, D), "float32")
    klayer, mlayer = bidi_pair("GRU", "concat")
    klayer.build(x.shape)
    mlayer(x)
    paths = [w.path for w in klayer.weights]
    assert "forward" in paths[0] and "backward" in paths[-1]
    assert [w.shape for w in mlayer.get_weights()] == [tuple(w.shape) for w in klayer.weights]
    # Forward layer first: its weights are the first three.
    weights = randomize(klayer, np.random.default_rng(0))
    mlayer.set_weights(weights)
    np.testing.assert_array_equal(mlayer.forward_layer.cell.kernel, weights[0])
    np.testing.assert_array_equal(mlayer.backward_layer.cell.bias, weights[5])


@pytest.mark.parametrize("return_state", [False, True])
def test_bidirectional_custom_backward_layer(return_state):
    rng = np.random.default_rng(14)
    x = rng.normal(size=(B, T, D)).astype("float32")

    def build(lib):
        fwd = lib.layers.LSTM(4, return_sequences=True, return_state=return_state)
        bwd = lib.layers.LSTM(6, activation="relu", recurrent_activation="hard_sigmoid", go_backwards=True,
                              return_sequences=True, return_state=return_state)
        return lib.layers.Bidirectional(fwd, backward_layer=bwd)

    klayer, mlayer = build(keras), build(mr)
    setup_pair(klayer, mlayer, x, rng)
    ref = compare(mlayer, klayer, x, rng=rng)
    assert ref["outs"][0].shape == (B, T, 10)


def test_bidirectional_layers_given_one_built_backward_layer_share_it():
    """As Keras: the backward_layer given is used itself, weights and all, by every Bidirectional
    given it; one model holding two of them is refused (it would train the half twice)."""
    rng = np.random.default_rng(16)
    x = rng.normal(size=(B, T, D)).astype("float32")
    outs = {}
    for lib in (keras, mr):
        bwd = lib.layers.GRU(3, go_backwards=True)
        bwd(x)                                              # built before the Bidirectional layers
        first = lib.layers.Bidirectional(lib.layers.SimpleRNN(4), backward_layer=bwd, merge_mode=None)
        first(x)
        second = lib.layers.Bidirectional(lib.layers.SimpleRNN(4), backward_layer=bwd, merge_mode=None)
        second(x)
        assert first.backward_layer is bwd and second.backward_layer is bwd
        outs[lib] = (bwd, first, second)
    (kb, kf, ks), (mb, mf, ms) = outs[keras], outs[mr]
    mb.set_weights([np.asarray(w) for w in kb.get_weights()])
    for k_layer, m_layer in ((kf, mf), (ks, ms)):
        m_layer.forward_layer.set_weights([np.asarray(w) for w in k_layer.forward_layer.get_weights()])
        for mine, ref in zip(m_layer(x), k_layer(x)):
            assert_close(mine, np.asarray(ref), what="Bidirectional sharing a built backward_layer")
    np.testing.assert_allclose(mf(x)[1], np.asarray(mb(x)), rtol=1e-6)       # the same half in both
    inp = mr.layers.Input((T, D))
    with pytest.raises(ValueError, match="half of both"):
        mr.Model(inp, mr.layers.Add()([mf(inp)[1], ms(inp)[1]]))


def test_bidirectional_backward_layer_of_another_kind():
    """LSTM forward, GRU backward: three states returned, two for the forward half."""
    rng = np.random.default_rng(15)
    x = rng.normal(size=(B, T, D)).astype("float32")

    def build(lib, return_state):
        fwd = lib.layers.LSTM(4, return_sequences=True, return_state=return_state)
        bwd = lib.layers.GRU(3, go_backwards=True, return_sequences=True, return_state=return_state)
        return lib.layers.Bidirectional(fwd, backward_layer=bwd)

    for return_state in (False, True):
        klayer, mlayer = build(keras, return_state), build(mr, return_state)
        setup_pair(klayer, mlayer, x, rng)
        ref = compare(mlayer, klayer, x, rng=rng)
        assert len(ref["outs"]) == (4 if return_state else 1)


# -- Dense and Lambda -------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(B, D), (B, T, D)])
@pytest.mark.parametrize("kw", [{}, {"activation": "tanh"}, {"activation": "relu"},
                                {"activation": "sigmoid"}, {"activation": "linear", "use_bias": False}])
def test_dense_matches_keras(shape, kw):
    rng = np.random.default_rng(21)
    x = rng.normal(size=shape).astype("float32")
    klayer, mlayer = pair("Dense", units=6, **kw)
    setup_pair(klayer, mlayer, x, rng)
    compare(mlayer, klayer, x, rng=rng)


@pytest.mark.parametrize("function, shape", [
    (lambda x: x[..., None], (B, T)),
    (lambda x: x * 100.0, (B, T, 1)),
    (lambda x: x * 100.0, (B, 1)),
])
def test_lambda_matches_keras(function, shape):
    rng = np.random.default_rng(22)
    x = rng.normal(size=shape).astype("float32")
    klayer, mlayer = keras.layers.Lambda(function), mr.layers.Lambda(function)
    compare(mlayer, klayer, x, rng=rng, tol=1e-6)


# -- models: variable length and float64 ------------------------------------------------
def model_pair(build_layers, input_shape, dtype="float32"):
    kmodel = keras.Sequential([keras.Input(shape=input_shape, dtype=dtype)] + build_layers(keras, dtype))
    mmodel = mr.Sequential([mr.Input(shape=input_shape, dtype=dtype)] + build_layers(mr, dtype))
    mmodel.build()
    return kmodel, mmodel


def compare_models(mmodel, kmodel, x, tol, rng):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = kmodel(xt)
    cot = rng.normal(size=out.shape).astype(x.dtype)
    grads = tape.gradient(out, [xt] + kmodel.trainable_weights, output_gradients=tf.constant(cot))
    y = mmodel(x, training=True)
    assert y.dtype == x.dtype
    assert_close(y, out.numpy(), tol, "output")
    dx = mmodel.backward(cot)
    assert_close(dx, grads[0].numpy(), tol, "dL/dx")
    mine = [g for layer in mmodel.layers for g in (layer.grads if layer.weights else [])]
    assert len(mine) == len(grads) - 1
    for g, r, w in zip(mine, grads[1:], kmodel.trainable_weights):
        assert g.dtype == x.dtype
        assert_close(g, r.numpy(), tol, f"dL/d{w.path}")


def stack(lib, dtype):
    return [lib.layers.LSTM(4, return_sequences=True, dtype=dtype),
            lib.layers.Bidirectional(lib.layers.GRU(3, return_sequences=True, dtype=dtype), dtype=dtype),
            lib.layers.SimpleRNN(5, dtype=dtype),
            lib.layers.Dense(1, dtype=dtype)]


def test_variable_sequence_length():
    rng = np.random.default_rng(31)
    kmodel, mmodel = model_pair(stack, (None, 1))
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in kmodel.get_weights()]
    kmodel.set_weights(weights)
    mmodel.set_weights(weights)
    for steps in (5, 12):
        x = rng.normal(size=(3, steps, 1)).astype("float32")
        compare_models(mmodel, kmodel, x, 1e-5, rng)


def test_float64_model_matches_keras_float64():
    rng = np.random.default_rng(32)

    def layers(lib, dtype):
        return stack(lib, dtype)[:3] + [lib.layers.Dense(2, activation="tanh", dtype=dtype),
                                        lib.layers.Lambda(lambda x: x * 100.0, dtype=dtype)]

    kmodel, mmodel = model_pair(layers, (None, 2), dtype="float64")
    weights = [rng.normal(0, 0.5, w.shape) for w in kmodel.get_weights()]
    assert all(w.dtype == np.float64 for w in kmodel.get_weights())
    kmodel.set_weights(weights)
    mmodel.set_weights(weights)
    assert all(w.dtype == np.float64 for w in mmodel.get_weights())
    x = rng.normal(size=(3, 6, 2))
    compare_models(mmodel, kmodel, x, 1e-10, rng)


def test_floatx_float64_model_matches_keras(float64):
    """set_floatx("float64") in both libraries: a model whose layers name no dtype computes in float64."""
    rng = np.random.default_rng(35)
    previous = keras.config.floatx(), keras.config.dtype_policy()
    # Keras pins its default dtype policy when it makes its first layer: set it along with floatx.
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        kmodel, mmodel = model_pair(lambda lib, dtype: stack(lib, None), (None, 2), dtype=None)
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])
    assert all(w.dtype == np.float64 for w in kmodel.get_weights() + mmodel.get_weights())
    weights = [rng.normal(0, 0.5, w.shape) for w in kmodel.get_weights()]
    kmodel.set_weights(weights)
    mmodel.set_weights(weights)
    compare_models(mmodel, kmodel, rng.normal(size=(3, 6, 2)), 1e-10, rng)


@pytest.mark.parametrize("case", [
    ("LSTM", {"return_sequences": True, "return_state": True}),
    ("GRU", {"reset_after": False, "go_backwards": True, "initial_state": True}),
    ("GRU", {"reset_after": True, "return_state": True, "initial_state": True}),
    ("SimpleRNN", {"return_sequences": True, "initial_state": True}),
], ids=case_id)
def test_float64_layers(case):
    cls, kw = case
    kw = dict(kw)
    use_state = kw.pop("initial_state", False)
    rng = np.random.default_rng(33)
    x = rng.normal(size=(B, T, D))
    klayer, mlayer = pair(cls, dtype="float64", **kw)
    setup_pair(klayer, mlayer, x, rng)
    assert all(w.dtype == np.float64 for w in mlayer.weights)
    init = [rng.normal(size=(B, UNITS)) for _ in range(N_STATES[cls])] if use_state else None
    compare(mlayer, klayer, x, init, tol=1e-10, dtype="float64", rng=rng)


@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_float64_bidirectional(merge_mode):
    rng = np.random.default_rng(34)
    x = rng.normal(size=(B, T, D))
    klayer, mlayer = bidi_pair("LSTM", merge_mode, dtype="float64", return_sequences=True)
    setup_pair(klayer, mlayer, x, rng)
    compare(mlayer, klayer, x, tol=1e-10, dtype="float64", rng=rng)


# -- parameter counts and summary ------------------------------------------------------
SUMMARY_MODELS = [
    ((None, 32), lambda lib: [lib.layers.SimpleRNN(32)], 2080),
    ((None, 1), lambda lib: [lib.layers.SimpleRNN(40, return_sequences=True), lib.layers.SimpleRNN(40),
                             lib.layers.Dense(1)], None),
    ((None, 1), lambda lib: [lib.layers.Bidirectional(lib.layers.LSTM(32, return_sequences=True)),
                             lib.layers.Bidirectional(lib.layers.LSTM(32)), lib.layers.Dense(1)], None),
    ((None, 3), lambda lib: [lib.layers.GRU(7, return_sequences=True), lib.layers.GRU(5, reset_after=False),
                             lib.layers.Dense(4, use_bias=False)], None),
    ((None, 2), lambda lib: [lib.layers.LSTM(6, use_bias=False), lib.layers.Dense(3, activation="relu")], None),
    ((10,), lambda lib: [lib.layers.Lambda(lambda x: x[..., None]), lib.layers.SimpleRNN(8, return_sequences=True),
                         lib.layers.SimpleRNN(8), lib.layers.Dense(1),
                         lib.layers.Lambda(lambda x: x * 100.0)], None),
]


@pytest.mark.parametrize("input_shape, build, expected", SUMMARY_MODELS)
def test_summary_parameter_counts_match_keras(input_shape, build, expected):
    kmodel = keras.Sequential([keras.Input(shape=input_shape)] + build(keras))
    mmodel = mr.Sequential([mr.Input(shape=input_shape)] + build(mr))
    lines = []
    mmodel.summary(print_fn=lines.append)
    text = "\n".join(lines)
    total = kmodel.count_params()
    if expected is not None:
        assert total == expected
    assert mmodel.count_params() == total
    assert [layer.count_params() for layer in mmodel.layers] == [layer.count_params() for layer in kmodel.layers]
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total:,}" in text
    for layer in kmodel.layers:
        assert f"{layer.count_params():,}" in text
        assert mr.layers.base.format_shape(layer.output.shape) in text, f"output shape of {layer.name}"
    if expected == 2080:
        assert "2,080" in text
