"""Embedding, Conv1D, pooling, Flatten, Masking, Dropout, TimeDistributed, Dense activations,
the cross-entropy losses and "accuracy".

Two independent references for every backward pass:

* float64 central differences of L = sum(output * cotangent) (or of the loss), perturbing
  every element of the input and of every weight;
* Keras 3 / TensorFlow with the same weights: outputs, and the gradients of the same L
  from ``tf.GradientTape``, at float32 round-off (1e-5 relative to the largest value).
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn import activations, losses, metrics  # noqa: E402
from minirnn.layers import (Conv1D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,  # noqa: E402
                            GlobalMaxPooling1D, Masking, MaxPooling1D, TimeDistributed)

F64 = "float64"
HYP = settings(max_examples=20, deadline=None)


# -- helpers -----------------------------------------------------------------------------------------
def assert_close(mine, ref, tol=1e-5, what=""):
    """|mine - ref| <= tol * max(1, max|ref|) elementwise; shapes must match."""
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != reference {ref.shape}"
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    np.testing.assert_allclose(mine, ref, rtol=0, atol=tol * scale, err_msg=what)


def numeric_gradient(loss, arr, eps=1e-6):
    """Central differences of the scalar ``loss()`` with respect to ``arr`` (perturbed in place)."""
    grad = np.empty(arr.shape)
    for i in range(arr.size):
        old = arr.flat[i]
        arr.flat[i] = old + eps
        up = loss()
        arr.flat[i] = old - eps
        down = loss()
        arr.flat[i] = old
        grad.flat[i] = (up - down) / (2 * eps)
    return grad


def assert_gradient(analytic, numeric, what, tol=1e-6):
    analytic = np.asarray(analytic, np.float64)
    assert analytic.shape == numeric.shape, f"{what}: gradient shape {analytic.shape} != {numeric.shape}"
    denominator = max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-8)
    error = np.linalg.norm(analytic - numeric) / denominator
    assert error < tol, f"{what}: analytic and numerical gradients differ (relative error {error:.2e})"


def check_layer_gradients(layer, x, rng, call_kwargs=None, check_input=True):
    """float64 central differences of L = sum(layer(x) * cot) for x and every weight."""
    call_kwargs = call_kwargs or {}
    y = layer(x, training=True, **call_kwargs)
    assert y.dtype == np.float64
    cot = rng.standard_normal(y.shape)
    dx = layer.backward(cot)
    grads = [g.copy() for g in layer.grads]
    assert len(grads) == len(layer.weights)

    def loss():
        return float(np.sum(layer(x, **call_kwargs) * cot))

    if check_input:
        assert dx.dtype == np.float64
        assert_gradient(dx, numeric_gradient(loss, x), "dL/dx")
    for k, (w, g) in enumerate(zip(layer.weights, grads)):
        assert g.dtype == np.float64
        assert_gradient(g, numeric_gradient(loss, w), f"dL/dweight[{k}]")
    return dx


def keras_gradients(klayer, x, cot, call=None, watch_x=True):
    """Keras output and the gradients of sum(output * cot) for x and klayer.weights."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        if watch_x:
            tape.watch(xt)
        y = call(xt) if call is not None else klayer(xt)
        loss = tf.reduce_sum(y * tf.constant(cot, dtype=y.dtype))
    sources = ([xt] if watch_x else []) + list(klayer.weights)
    grads = tape.gradient(loss, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grads = [tf.convert_to_tensor(g).numpy() for g in grads]
    return y.numpy(), (grads[0] if watch_x else None), grads[int(watch_x):]


def compare_with_keras(mlayer, klayer, x, rng, tol=1e-5, call=None, mcall_kwargs=None, watch_x=True,
                       randomize=True):
    """Same weights in both; outputs, dL/dx and dL/dweights must agree."""
    if not klayer.built:
        klayer.build(x.shape)
    if randomize and klayer.weights:
        klayer.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in klayer.get_weights()])
    mlayer.ensure_built(x.shape)
    if klayer.weights:
        mlayer.set_weights(klayer.get_weights())
    y = mlayer(x, training=True, **(mcall_kwargs or {}))
    cot = rng.standard_normal(y.shape).astype(y.dtype)
    ky, kdx, kdw = keras_gradients(klayer, x, cot, call=call, watch_x=watch_x)
    assert y.dtype == np.dtype(mlayer.dtype)
    assert_close(y, ky, tol, "output")
    dx = mlayer.backward(cot)
    if watch_x:
        assert dx.dtype == y.dtype
        assert_close(dx, kdx, tol, "dL/dx")
    assert len(mlayer.grads) == len(kdw)
    for k, (g, r) in enumerate(zip(mlayer.grads, kdw)):
        assert_close(g, r, tol, f"dL/d{klayer.weights[k].path}")
    return y, dx


def roundtrip_config(layer):
    config = layer.get_config()
    json.dumps(config)                               # JSON-friendly
    clone = type(layer)(**{**config, "name": config["name"] + "_clone"})
    clone_config = clone.get_config()
    assert {k: v for k, v in clone_config.items() if k != "name"} == \
        {k: v for k, v in config.items() if k != "name"}
    return clone


# -- Embedding ---------------------------------------------------------------------------------------
def test_embedding_matches_keras_and_scatter_adds_repeated_ids():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (4, 6))
    ids[0, :3] = 2                                     # repeated ids accumulate
    mlayer, klayer = Embedding(7, 5), keras.layers.Embedding(7, 5)
    y, dx = compare_with_keras(mlayer, klayer, ids, rng, watch_x=False)
    assert y.shape == (4, 6, 5) and np.array_equal(dx, np.zeros(ids.shape, np.float32))
    # floats holding integers (what Sequential's Input passes on) give the same result
    assert np.array_equal(mlayer(ids.astype("float32")), y)


def test_embedding_gradient_float64_and_default_initializer():
    rng = np.random.default_rng(1)
    layer = Embedding(6, 3, dtype=F64)
    ids = rng.integers(0, 6, (3, 5))
    layer(ids)
    assert layer.embeddings.dtype == np.float64 and np.abs(layer.embeddings).max() <= 0.05
    y = layer(ids, training=True)
    cot = rng.standard_normal(y.shape)
    layer.backward(cot)
    grad = layer.grads[0].copy()
    assert_gradient(grad, numeric_gradient(lambda: float(np.sum(layer(ids) * cot)), layer.embeddings),
                    "dL/dembeddings")
    assert isinstance(layer.embeddings_initializer, mr.initializers.RandomUniform)
    assert (layer.embeddings_initializer.minval, layer.embeddings_initializer.maxval) == (-0.05, 0.05)


@pytest.mark.parametrize("bad,message", [
    (np.array([[0, 7]]), r"ids in \[0, 7\).*max 7"),
    (np.array([[-1, 2]]), r"ids in \[0, 7\).*min -1"),
    (np.array([["a"]]), "integer ids"),
])
def test_embedding_rejects_bad_ids_with_clear_errors(bad, message):
    # (float ids are cast, as Keras casts them: test_embedding_casts_float_ids_like_keras)
    with pytest.raises(ValueError, match="'emb' \\(Embedding\\).*" + message):
        Embedding(7, 2, name="emb")(bad)


def test_embedding_casts_float_ids_like_keras():
    keras = pytest.importorskip("keras")
    ids = np.array([[0.5, 2.7], [6.9, 1.0]], "float32")
    theirs = keras.layers.Embedding(7, 2)
    want = np.asarray(theirs(ids))
    ours = Embedding(7, 2)
    ours(np.zeros((1, 2), "int32"))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_array_equal(ours(ids), want)


def test_embedding_mask_zero_feeds_masked_global_average_pooling_like_keras():
    rng = np.random.default_rng(2)
    ids = rng.integers(1, 9, (5, 7))
    for row, length in enumerate([7, 3, 5, 1, 6]):
        ids[row, length:] = 0                          # right padding
    ids[2, 0] = 0                                      # a zero inside a sequence is masked too
    km = keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(9, 4, mask_zero=True),
                           keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)])
    km.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in km.get_weights()])
    mm = mr.Sequential([mr.Input((7,)), Embedding(9, 4, mask_zero=True), GlobalAveragePooling1D(), Dense(3)])
    mm.set_weights(km.get_weights())
    emb = mm.layers[0]
    assert np.array_equal(emb.compute_mask(ids), ids != 0)
    y = mm(ids, training=True)
    cot = rng.standard_normal(y.shape).astype("float32")
    with tf.GradientTape() as tape:
        ky = km(tf.constant(ids))
        loss = tf.reduce_sum(ky * cot)
    kgrads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, km.trainable_weights)]
    assert_close(y, ky.numpy(), what="masked mean output")
    mm.backward(cot)
    mgrads = [g for layer in mm.layers for g in layer.grads]
    for k, (g, r) in enumerate(zip(mgrads, kgrads)):
        assert_close(g, r, what=f"gradient {k}")
    # masked rows get no gradient from padded positions: row 0 of the table is untouched
    assert np.all(mgrads[0][0] == 0)


# -- Conv1D ------------------------------------------------------------------------------------------
CONV_CASES = [(padding, strides, dilation, k)
              for padding in ("valid", "same", "causal")
              for strides, dilation in ((1, 1), (2, 1), (3, 1), (1, 2), (1, 3))
              for k in (1, 3, 4)]


@pytest.mark.parametrize("padding,strides,dilation,k", CONV_CASES)
def test_conv1d_matches_keras(padding, strides, dilation, k):
    rng = np.random.default_rng(CONV_CASES.index((padding, strides, dilation, k)))
    x = rng.standard_normal((3, 11, 4)).astype("float32")
    kw = dict(strides=strides, padding=padding, dilation_rate=dilation)
    mlayer, klayer = Conv1D(5, k, **kw), keras.layers.Conv1D(5, k, **kw)
    y, _ = compare_with_keras(mlayer, klayer, x, rng)
    assert y.shape == klayer.compute_output_shape(x.shape)
    assert mlayer.compute_output_shape((None, 11, 4)) == klayer.compute_output_shape((None, 11, 4))
    assert mlayer.kernel.shape == (k, 4, 5)


@pytest.mark.parametrize("kw", [dict(activation="relu", use_bias=False), dict(activation="tanh"),
                                dict(activation="softmax", padding="same"),
                                dict(activation="sigmoid", padding="causal", dilation_rate=2)])
def test_conv1d_activations_and_no_bias_match_keras(kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 3)).astype("float32")
    compare_with_keras(Conv1D(4, 3, **kw), keras.layers.Conv1D(4, 3, **kw), x, rng)


@given(length=st.integers(4, 12), k=st.integers(1, 4), step=st.integers(1, 3), dilate=st.booleans(),
       padding=st.sampled_from(["valid", "same", "causal"]), channels=st.integers(1, 3),
       filters=st.integers(1, 3), activation=st.sampled_from([None, "tanh", "softmax"]))
@HYP
def test_conv1d_gradients_float64(length, k, step, dilate, padding, channels, filters, activation):
    strides, dilation = (1, step) if dilate else (step, 1)
    if padding == "valid" and length < (k - 1) * dilation + 1:
        return
    rng = np.random.default_rng(length * 100 + k * 10 + step)
    layer = Conv1D(filters, k, strides=strides, dilation_rate=dilation, padding=padding,
                   activation=activation, bias_initializer="random_normal", dtype=F64)
    check_layer_gradients(layer, rng.standard_normal((2, length, channels)), rng)


def test_conv1d_channels_first_is_a_transpose_of_channels_last():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 3))
    last = Conv1D(4, 3, strides=2, padding="same", dtype=F64)
    first = Conv1D(4, 3, strides=2, padding="same", data_format="channels_first", dtype=F64)
    y_last = last(x, training=True)
    first.build((None, 3, 8))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(0, 2, 1), training=True)
    np.testing.assert_allclose(y_first, y_last.transpose(0, 2, 1), rtol=1e-12)
    cot = rng.standard_normal(y_last.shape)
    dx_last = last.backward(cot)
    dx_first = first.backward(cot.transpose(0, 2, 1))
    np.testing.assert_allclose(dx_first, dx_last.transpose(0, 2, 1), rtol=1e-12)
    for a, b in zip(first.grads, last.grads):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_conv1d_errors_name_the_layer_and_follow_keras():
    with pytest.raises(ValueError, match="strides > 1 not supported in conjunction with dilation_rate > 1"):
        Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="strides > 1`? not supported"):
        keras.layers.Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="'c' \\(Conv1D\\).*padding"):
        Conv1D(2, 3, padding="full", name="c")
    layer = Conv1D(2, 5, name="c2")
    with pytest.raises(ValueError, match="'c2' \\(Conv1D\\).*3 steps is too short"):
        layer(np.zeros((1, 3, 1)))
    layer = Conv1D(2, 2, name="c3")
    layer(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="'c3' \\(Conv1D\\) expects 3 input channels.*\\(1, 4, 2\\)"):
        layer(np.zeros((1, 4, 2)))


# -- pooling -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pool,strides,padding", [(p, s, pad) for p in (2, 3) for s in (None, 1, 2, 4)
                                                  for pad in ("valid", "same")])
def test_max_pooling1d_matches_keras(pool, strides, padding):
    rng = np.random.default_rng(pool * 10 + (strides or 0))
    x = rng.standard_normal((3, 10, 4)).astype("float32")
    mlayer = MaxPooling1D(pool, strides=strides, padding=padding)
    klayer = keras.layers.MaxPooling1D(pool, strides=strides, padding=padding)
    compare_with_keras(mlayer, klayer, x, rng)
    assert mlayer.compute_output_shape((None, 10, 4)) == klayer.compute_output_shape((None, 10, 4))


def test_max_pooling1d_ties_and_float64_gradient():
    x = np.array([[[1.0], [1.0], [0.0], [2.0], [2.0]]], "float32")
    mlayer, klayer = MaxPooling1D(2, strides=1, padding="same"), keras.layers.MaxPooling1D(2, 1, padding="same")
    compare_with_keras(mlayer, klayer, x, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    for padding in ("valid", "same"):
        check_layer_gradients(MaxPooling1D(3, strides=2, padding=padding, dtype=F64),
                              rng.standard_normal((2, 9, 3)), rng)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling_matches_keras(keepdims, data_format):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 4)).astype("float32")
    x[0, 1] = x[0, 4]                                   # tied maxima share the gradient, as in TF
    kw = dict(keepdims=keepdims, data_format=data_format)
    compare_with_keras(GlobalAveragePooling1D(**kw), keras.layers.GlobalAveragePooling1D(**kw), x, rng)
    compare_with_keras(GlobalMaxPooling1D(**kw), keras.layers.GlobalMaxPooling1D(**kw), x, rng)


def test_global_average_pooling_mask_matches_keras_and_gradients():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    klayer = keras.layers.GlobalAveragePooling1D()
    compare_with_keras(GlobalAveragePooling1D(), klayer, x, rng, call=lambda t: klayer(t, mask=mask),
                       mcall_kwargs={"mask": mask})
    check_layer_gradients(GlobalAveragePooling1D(dtype=F64), x.astype(F64), rng, {"mask": mask})
    check_layer_gradients(GlobalMaxPooling1D(dtype=F64), x.astype(F64), rng)
    # all steps masked: 0 (Keras gives 0/0 = NaN)
    y = GlobalAveragePooling1D()(x, mask=np.zeros((3, 5), bool))
    assert np.array_equal(y, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"mask of shape \(batch, steps\) = \(3, 5\), received \(3, 4\)"):
        GlobalAveragePooling1D()(x, mask=mask[:, :4])


# -- Flatten, Masking, Dropout, TimeDistributed ------------------------------------------------------
@pytest.mark.parametrize("shape,data_format", [((3, 4, 5), "channels_last"), ((2, 3, 4, 2), "channels_last"),
                                               ((2, 3, 4, 2), "channels_first"), ((4, 3), "channels_last")])
def test_flatten_matches_keras(shape, data_format):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype("float32")
    mlayer, klayer = Flatten(data_format=data_format), keras.layers.Flatten(data_format=data_format)
    compare_with_keras(mlayer, klayer, x, rng)
    assert mlayer.compute_output_shape((None,) + shape[1:]) == klayer.compute_output_shape((None,) + shape[1:])
    check_layer_gradients(Flatten(data_format=data_format, dtype=F64), x.astype(F64), rng)


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_matches_keras(mask_value):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 6, 2)).astype("float32")
    x[0, 4:] = mask_value
    x[2, 1] = mask_value
    x[1, 2, 0] = mask_value                            # one feature only: not masked
    mlayer, klayer = Masking(mask_value), keras.layers.Masking(mask_value)
    compare_with_keras(mlayer, klayer, x, rng)
    keep = mlayer.compute_mask(x)
    assert np.array_equal(keep, klayer.compute_mask(tf.constant(x)).numpy())
    # float64 central differences away from the masked steps (where the layer is discontinuous)
    layer, x64 = Masking(mask_value, dtype=F64), x.astype(F64)
    cot = rng.standard_normal(x.shape)
    layer(x64, training=True)
    dx = layer.backward(cot)
    assert np.all(dx[~keep] == 0)
    unmasked = x64[keep]

    def loss():
        z = x64.copy()
        z[keep] = unmasked
        return float(np.sum(layer(z) * cot))

    numeric = numeric_gradient(loss, unmasked)
    assert_gradient(dx[keep], numeric, "dL/dx")


def test_masking_drives_a_masked_average_in_sequential():
    x = np.zeros((2, 4, 3), "float32")
    x[0, :2] = 1.0
    x[1, :3] = 2.0
    model = mr.Sequential([mr.Input((4, 3)), Masking(), Dropout(0.5), GlobalAveragePooling1D()])
    assert np.allclose(model(x), [[1.0] * 3, [2.0] * 3])   # mask passes through Dropout (inference)


def test_dropout_statistics_inference_and_backward_mask():
    mr.set_random_seed(0)
    x = np.ones((400, 50), "float32")
    layer = Dropout(0.3)
    assert layer(x) is not None and np.array_equal(layer(x), x)          # inference: identity
    y = layer(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    assert np.allclose(y[kept], 1 / 0.7)
    assert abs(y.mean() - 1.0) < 0.015                                   # expectation preserved
    dy = np.random.default_rng(1).standard_normal(x.shape).astype("float32")
    dx = layer.backward(dy)
    assert np.array_equal(dx, dy * y)                                    # the same mask, scaled
    assert layer.grads == [] and dx.dtype == np.float32
    y2 = layer(x, training=True)
    assert not np.array_equal(y2, y)                                     # a new mask each call
    # statistics of the kept fraction match Keras's own dropout
    keras_y = keras.layers.Dropout(0.3, seed=1)(x, training=True).numpy()
    assert abs((keras_y != 0).mean() - kept.mean()) < 0.02
    assert np.allclose(keras_y[keras_y != 0], 1 / 0.7)


def test_dropout_gradient_float64_with_a_fixed_mask():
    """A fresh layer with the same seed draws the same first mask, so L(x) is a fixed function."""
    rng = np.random.default_rng(2)
    x, cot = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))

    def fresh():
        return Dropout(0.4, noise_shape=(None, 1, None), seed=11, dtype=F64)

    layer = fresh()
    layer(x, training=True)
    dx = layer.backward(cot)
    numeric = numeric_gradient(lambda: float(np.sum(fresh()(x, training=True) * cot)), x)
    assert_gradient(dx, numeric, "dL/dx")
    assert 0 < np.count_nonzero(dx) < dx.size


def test_dropout_seed_noise_shape_and_errors():
    x = np.ones((8, 5, 6))
    a, b = Dropout(0.5, seed=3, dtype=F64), Dropout(0.5, seed=3, dtype=F64)
    ya, yb = a(x, training=True), b(x, training=True)
    assert np.array_equal(ya, yb) and ya.dtype == np.float64
    assert not np.array_equal(a(x, training=True), ya)
    layer = Dropout(0.5, noise_shape=(None, 1, None), seed=0)
    y = layer(x, training=True)
    assert np.all(y == y[:, :1, :])                                      # same mask at every step
    assert np.array_equal(Dropout(0.0)(x, training=True), x)
    assert np.array_equal(Dropout(1.0)(x, training=True), np.zeros_like(x))
    with pytest.raises(ValueError, match="'d' \\(Dropout\\): rate must be"):
        Dropout(1.5, name="d")
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 2, None))(x, training=True)


def test_time_distributed_dense_matches_keras():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5, 4)).astype("float32")
    mlayer = TimeDistributed(Dense(6, activation="tanh"))
    klayer = keras.layers.TimeDistributed(keras.layers.Dense(6, activation="tanh"))
    y, _ = compare_with_keras(mlayer, klayer, x, rng)
    assert y.shape == (3, 5, 6) and mlayer.weights[0].shape == (4, 6)
    assert mlayer.compute_output_shape((None, None, 4)) == (None, None, 6)
    check_layer_gradients(TimeDistributed(Dense(3, activation="softmax", dtype=F64)), x.astype(F64), rng)


def test_time_distributed_conv1d_on_4d_input_matches_keras():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 7, 2)).astype("float32")
    mlayer = TimeDistributed(Conv1D(3, 2, strides=2, padding="same"))
    klayer = keras.layers.TimeDistributed(keras.layers.Conv1D(3, 2, strides=2, padding="same"))
    compare_with_keras(mlayer, klayer, x, rng)


def test_time_distributed_passes_masks_and_rebuilds_from_config():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 4, 2))
    mask = rng.random((2, 3, 4)) > 0.3
    mask[..., 0] = True
    layer = TimeDistributed(GlobalAveragePooling1D(dtype=F64))
    y = layer(x, mask=mask)
    expected = np.stack([[x[b, t][mask[b, t]].mean(axis=0) for t in range(3)] for b in range(2)])
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert np.array_equal(layer.compute_mask(x, mask), mask)
    td = TimeDistributed(Dense(2, kernel_initializer="ones"))
    td(np.ones((1, 2, 3)))
    clone = TimeDistributed(**td.get_config())
    assert isinstance(clone.layer, Dense) and clone.layer.units == 2
    with pytest.raises(ValueError, match="rank >= 3"):
        TimeDistributed(Dense(2))(np.ones((2, 3)))


# -- Dense activations -------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["softmax", "relu", "sigmoid", "tanh", "linear", None])
def test_dense_activations_match_keras(activation):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((4, 3, 5)).astype("float32")
    compare_with_keras(Dense(6, activation=activation), keras.layers.Dense(6, activation=activation), x, rng)
    check_layer_gradients(Dense(4, activation=activation, bias_initializer="random_normal", dtype=F64),
                          x.astype(F64) + 0.01, rng)


def test_softmax_is_only_for_layers_that_handle_its_jacobian():
    assert activations.get("softmax", allow_softmax=True) == activations.SOFTMAX
    assert activations.name(activations.SOFTMAX) == "softmax"
    with pytest.raises(ValueError, match="not element-wise"):
        activations.get("softmax")
    for name in ("linear", "tanh", "sigmoid", "relu", "hard_sigmoid"):     # kernel codes unchanged
        assert activations.get(name) == activations.CODES[name]
    assert Dense(2, activation="softmax").get_config()["activation"] == "softmax"


# -- losses ------------------------------------------------------------------------------------------
def keras_loss_value_and_grad(kloss, y_true, y_pred):
    var = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = kloss(tf.constant(y_true), var)
    return float(value), tape.gradient(value, var).numpy()


def compare_loss(mloss, kloss, y_true, y_pred, tol=1e-5):
    value, grad = mloss.value_and_gradient(y_true, y_pred)
    kvalue, kgrad = keras_loss_value_and_grad(kloss, y_true, y_pred)
    assert value == pytest.approx(kvalue, rel=tol, abs=tol)
    assert mloss(y_true, y_pred) == pytest.approx(kvalue, rel=tol, abs=tol)
    assert grad.dtype == y_pred.dtype
    assert_close(grad, kgrad, tol, "dL/dy_pred")


def probabilities(rng, shape, extreme=True):
    p = rng.uniform(0.02, 0.98, shape).astype("float32")
    if extreme:                                        # outside the clip range: no gradient
        p.flat[0], p.flat[-1] = 0.0, 1.0
    return p


@pytest.mark.parametrize("shapes", [((8, 1), (8, 1)), ((8,), (8, 1)), ((4, 5, 3), (4, 5, 3)), ((6, 2), (6, 2))])
@pytest.mark.parametrize("from_logits,label_smoothing", [(False, 0.0), (True, 0.0), (False, 0.2), (True, 0.1)])
def test_binary_crossentropy_matches_keras(shapes, from_logits, label_smoothing):
    rng = np.random.default_rng(15)
    y_true = rng.integers(0, 2, shapes[0]).astype("float32")
    y_pred = (rng.normal(0, 3, shapes[1]).astype("float32") if from_logits
              else probabilities(rng, shapes[1]))
    mloss = losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    kloss = keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    compare_loss(mloss, kloss, y_true, y_pred)


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 4)])
@pytest.mark.parametrize("from_logits,label_smoothing,normalized",
                         [(False, 0.0, True), (False, 0.0, False), (True, 0.0, True), (False, 0.1, True),
                          (True, 0.2, True)])
def test_categorical_crossentropy_matches_keras(shape, from_logits, label_smoothing, normalized):
    rng = np.random.default_rng(16)
    y_true = np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], shape[:-1])]
    if from_logits:
        y_pred = rng.normal(0, 3, shape).astype("float32")
    else:
        y_pred = rng.uniform(0.05, 1.0, shape).astype("float32")
        y_pred.reshape(-1, shape[-1])[0] = [1.0] + [0.0] * (shape[-1] - 1)   # clipped entries
        if normalized:
            y_pred /= y_pred.sum(-1, keepdims=True)
    mloss = losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    kloss = keras.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    compare_loss(mloss, kloss, y_true, y_pred)


@pytest.mark.parametrize("true_shape,pred_shape", [((6,), (6, 4)), ((6, 1), (6, 4)), ((3, 5), (3, 5, 4)),
                                                   ((3, 5, 1), (3, 5, 4))])
@pytest.mark.parametrize("from_logits,ignore_class", [(False, None), (True, None), (True, 2), (False, 0)])
def test_sparse_categorical_crossentropy_matches_keras(true_shape, pred_shape, from_logits, ignore_class):
    rng = np.random.default_rng(17)
    y_true = rng.integers(0, pred_shape[-1], true_shape)
    if from_logits:
        y_pred = rng.normal(0, 3, pred_shape).astype("float32")
    else:
        y_pred = rng.uniform(0.05, 1.0, pred_shape).astype("float32")
        y_pred /= y_pred.sum(-1, keepdims=True)
        y_pred.reshape(-1, pred_shape[-1])[0] = [1.0] + [0.0] * (pred_shape[-1] - 1)
    kw = dict(from_logits=from_logits, ignore_class=ignore_class)
    compare_loss(losses.SparseCategoricalCrossentropy(**kw), keras.losses.SparseCategoricalCrossentropy(**kw),
                 y_true, y_pred)


def test_loss_aliases_configs_and_label_errors():
    for alias, cls in [("binary_crossentropy", losses.BinaryCrossentropy), ("bce", losses.BinaryCrossentropy),
                       ("categorical_crossentropy", losses.CategoricalCrossentropy),
                       ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy)]:
        loss = losses.get(alias)
        assert isinstance(loss, cls)
        assert isinstance(losses.deserialize(losses.serialize(loss)), cls)
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.get(losses.serialize(loss)).get_config() == loss.get_config()
    scce = losses.SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\).*from 0 to 3"):
        scce(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="expected shape \\(2,\\)"):
        scce(np.array([[0, 1], [1, 1]]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="non-integer"):
        scce(np.array([0.5, 1.0]), np.full((2, 3), 1 / 3))


@given(batch=st.integers(1, 4), steps=st.integers(0, 3), classes=st.integers(2, 5), from_logits=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.15]), seed=st.integers(0, 2**16))
@HYP
def test_crossentropy_gradients_float64(batch, steps, classes, from_logits, smoothing, seed):
    rng = np.random.default_rng(seed)
    shape = (batch,) + ((steps,) if steps else ()) + (classes,)
    if from_logits:
        y_pred = rng.normal(0, 2, shape)
    else:
        y_pred = rng.uniform(0.05, 1.0, shape)
    labels = rng.integers(0, classes, shape[:-1])
    onehot = np.eye(classes)[labels]
    cases = [
        (losses.CategoricalCrossentropy(from_logits, smoothing), onehot, y_pred),
        (losses.SparseCategoricalCrossentropy(from_logits), labels, y_pred),
        (losses.SparseCategoricalCrossentropy(from_logits, ignore_class=0), labels, y_pred),
        (losses.BinaryCrossentropy(from_logits, smoothing), rng.integers(0, 2, shape).astype(F64),
         y_pred if from_logits else np.clip(y_pred, 0.05, 0.95)),
    ]
    for loss, y_true, pred in cases:
        pred = pred.copy()
        value, grad = loss.value_and_gradient(y_true, pred)
        assert grad.dtype == np.float64 and value == pytest.approx(loss(y_true, pred), rel=1e-12)
        assert_gradient(grad, numeric_gradient(lambda: loss(y_true, pred), pred), repr(loss))


def test_clipped_probabilities_get_no_gradient():
    y_pred = np.array([[0.0, 0.3, 0.7], [1e-9, 0.5, 0.5]], F64)
    _, grad = losses.SparseCategoricalCrossentropy().value_and_gradient(np.array([1, 2]), y_pred)
    assert grad[0, 0] == 0 and grad[1, 0] == 0
    _, grad = losses.BinaryCrossentropy().value_and_gradient(np.array([[1.0], [0.0]]), np.array([[1.0], [0.0]]))
    assert np.all(grad == 0)


# -- accuracy ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("true_shape,pred_shape,kind", [
    ((10, 1), (10, 1), "binary"), ((10,), (10, 1), "binary"), ((10,), (10, 4), "sparse"),
    ((10, 1), (10, 4), "sparse"), ((10, 4), (10, 4), "categorical"), ((3, 6), (3, 6, 4), "sparse"),
    ((3, 6, 4), (3, 6, 4), "categorical")])
def test_accuracy_picks_like_keras_and_agrees(true_shape, pred_shape, kind):
    rng = np.random.default_rng(18)
    y_pred = rng.uniform(0, 1, pred_shape).astype("float32")
    if kind == "binary":
        y_true = rng.integers(0, 2, true_shape).astype("float32")
    elif kind == "sparse":
        y_true = rng.integers(0, pred_shape[-1], true_shape).astype("float32")
    else:
        y_true = np.eye(pred_shape[-1], dtype="float32")[rng.integers(0, pred_shape[-1], true_shape[:-1])]
    # Keras picks its accuracy in compile: a model that passes y_pred through, evaluated in batches
    # of 2 (the loss, which reads only y_pred, is not under test).
    kmodel = keras.Sequential([keras.Input(pred_shape[1:]), keras.layers.Identity()])
    kmodel.compile(loss=lambda t, p: keras.ops.mean(p), metrics=["accuracy", "acc"])
    theirs = kmodel.evaluate(y_pred, y_true, batch_size=2, verbose=0, return_dict=True)
    for name in ("accuracy", "acc"):
        tracker = metrics.tracker(name)
        for part in (slice(0, 2), slice(2, None)):      # two batches, and a reset that keeps the choice
            tracker.update_state(y_true[part], y_pred[part])
        assert tracker.name == name and tracker.kind == kind
        assert tracker.result() == pytest.approx(theirs[name], abs=1e-6)
        tracker.reset_state()
        assert tracker.result() == 0.0 and tracker.kind == kind


def test_sequential_classifier_trains_with_accuracy():
    """Embedding -> Conv1D -> MaxPooling1D -> GlobalMaxPooling1D -> Dense(softmax), sparse labels."""
    rng = np.random.default_rng(19)
    x = rng.integers(1, 10, (64, 12))
    y = (x == 3).any(axis=1).astype("int64") + (x == 5).any(axis=1)      # 3 classes
    mr.set_random_seed(0)
    model = mr.Sequential([mr.Input((12,)), Embedding(10, 8), Conv1D(8, 3, padding="same", activation="relu"),
                           MaxPooling1D(2), GlobalMaxPooling1D(), Dropout(0.1), Dense(3, activation="softmax")])
    model.compile(optimizer=mr.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(np.mean(model.predict(x).argmax(-1) == y))


# -- configs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: Embedding(5, 3, mask_zero=True, input_length=4),
    lambda: Conv1D(4, 3, strides=2, padding="same", activation="softmax", use_bias=False,
                   kernel_initializer=mr.initializers.HeNormal(seed=1)),
    lambda: MaxPooling1D(3, padding="same"), lambda: GlobalAveragePooling1D(keepdims=True),
    lambda: GlobalMaxPooling1D(data_format="channels_first"), lambda: Flatten(), lambda: Masking(-1.0),
    lambda: Dropout(0.25, noise_shape=(None, 1, 4), seed=7)])
def test_get_config_rebuilds_the_layer(make):
    roundtrip_config(make())
