"""BatchNormalization, LayerNormalization and the activation layers against Keras 3.

Forward values, dL/dx and dL/dweights of L = sum(output * cotangent) from copied weights
(Keras's from tf.GradientTape), the moving statistics after a training call, masks, one SGD
step of a whole model, float64 central differences (minirnn.gradcheck), and errors.
"""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402
from minirnn import layers as L  # noqa: E402

from keras_compare import close  # noqa: E402


def keras_grads(klayer, x, training, rng, mask=None):
    """Keras's output and gradients (x, then every trainable weight) of sum(y * cot)."""
    xt = tf.constant(x)
    kwargs = {} if mask is None else {"mask": tf.constant(mask)}
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = klayer(xt, training=training, **kwargs)
    cot = rng.normal(size=y.shape).astype(x.dtype)
    grads = tape.gradient(y, [xt] + list(klayer.trainable_weights), output_gradients=tf.constant(cot),
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return y.numpy(), cot, [g.numpy() for g in grads]


def copy_weights(klayer, mlayer, x_shape, rng, positive=()):
    """Random Keras weights (entries in `positive` kept > 0), copied into the minirnn layer."""
    klayer.build(x_shape)
    weights = [rng.normal(0, 1, w.shape).astype(w.dtype) for w in klayer.get_weights()]
    for k in positive:
        weights[k] = np.abs(weights[k]) + 0.5
    klayer.set_weights(weights)
    mlayer.ensure_built(x_shape)
    mlayer.set_weights(weights)
    return weights


def check_layer(klayer, mlayer, x, training=True, mask=None, positive=(), seed=0, tol=2e-5):
    rng = np.random.default_rng(seed)
    if klayer.weights or not klayer.built:
        copy_weights(klayer, mlayer, x.shape, rng, positive)
    y, cot, grads = keras_grads(klayer, x, training, rng, mask)
    out = mlayer(x, training=True, **({} if mask is None else {"mask": mask})) if training else None
    if not training:                   # inference values; backward needs a training-mode cache
        out = mlayer(x, training=False, **({} if mask is None else {"mask": mask}))
        close(out, y, tol, "inference output")
        return
    assert out.dtype == np.float32
    close(out, y, tol, "output")
    dx = mlayer.backward(cot)
    assert dx.dtype == np.float32
    close(dx, grads[0], tol, "dL/dx")
    trainable = [id(w) for w in mlayer.trainable_weights]
    mine = [g for w, g in zip(mlayer.weights, mlayer.grads or []) if id(w) in trainable]
    assert len(mine) == len(grads) - 1
    for k, (a, b) in enumerate(zip(mine, grads[1:])):
        close(a, b, tol, f"dL/dweight {k}")
    for k, (a, b) in enumerate(zip(mlayer.get_weights(), klayer.get_weights())):
        close(a, b, tol, f"weight {k} after the call")            # the moving statistics


# -- BatchNormalization ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({}, (6, 5, 3)),
    ({"momentum": 0.8, "epsilon": 0.01}, (8, 4)),
    ({"axis": 1}, (5, 3, 4)),
    ({"center": False}, (6, 5, 3)),
    ({"scale": False, "center": False}, (6, 5, 3)),
    ({"axis": -1}, (3, 2, 4, 3)),
])
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_matches_keras(kwargs, shape, training):
    x = np.random.default_rng(1).normal(1.5, 2.0, shape).astype("float32")
    n_params = int(kwargs.get("scale", True)) + int(kwargs.get("center", True))
    check_layer(keras.layers.BatchNormalization(**kwargs), L.BatchNormalization(**kwargs), x, training,
                positive=(n_params + 1,))


def test_batch_normalization_mask_matches_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 1.5, (4, 6, 3)).astype("float32")
    mask = rng.random((4, 6)) > 0.4
    mask[:, 0] = True
    check_layer(keras.layers.BatchNormalization(momentum=0.5), L.BatchNormalization(momentum=0.5), x,
                mask=mask, positive=(3,))


def test_batch_normalization_frozen_runs_in_inference_mode_like_keras():
    """trainable=False: moving statistics even with training=True, and they do not move."""
    x = np.random.default_rng(3).normal(1.0, 2.0, (6, 4)).astype("float32")
    k, m = keras.layers.BatchNormalization(), L.BatchNormalization()
    weights = copy_weights(k, m, x.shape, np.random.default_rng(4), positive=(3,))
    k.trainable = m.trainable = False
    close(m(x, training=True), k(x, training=True).numpy(), what="frozen output")
    for a, b in zip(m.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    assert m.trainable_weights == [] and len(m.non_trainable_weights) == 4


def test_batch_normalization_weights_and_mask_pass_through():
    layer = L.BatchNormalization()
    layer.ensure_built((None, 5, 3))
    assert [w.shape for w in layer.weights] == [(3,)] * 4
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    np.testing.assert_array_equal(layer.moving_variance, np.ones(3))
    mask = np.ones((2, 5), bool)
    assert layer.compute_mask(None, mask) is mask


@pytest.mark.parametrize("kwargs", [{}, {"axis": 1}, {"center": False}])
@pytest.mark.parametrize("trainable", [True, False])
def test_batch_normalization_gradcheck(float64, kwargs, trainable):
    rng = np.random.default_rng(5)
    layer = L.BatchNormalization(**kwargs)
    x = rng.normal(0.3, 1.2, (5, 3, 4))
    layer.ensure_built(x.shape)
    layer.set_weights([rng.normal(size=w.shape) + (2.0 if k == len(layer.weights) - 1 else 0.0)
                       for k, w in enumerate(layer.weights)])
    layer.trainable = trainable
    mr.gradcheck(layer, x, training=True)


@pytest.mark.parametrize("mask_shape", [(4, 1), (1, 6), (1, 1)])
def test_batch_normalization_broadcast_mask_matches_keras(mask_shape):
    """A mask with sizes of 1 is broadcast over the input's leading axes, as Keras does."""
    rng = np.random.default_rng(12)
    x = rng.normal(0.5, 1.5, (4, 6, 3)).astype("float32")
    mask = np.ones(mask_shape, bool)
    if mask.size > 1:
        mask.reshape(-1)[-1] = False                         # some entries masked
    check_layer(keras.layers.BatchNormalization(momentum=0.5), L.BatchNormalization(momentum=0.5), x,
                mask=mask, positive=(3,))


def test_batch_normalization_broadcast_mask_gradcheck(float64):
    rng = np.random.default_rng(13)
    x = rng.normal(0.3, 1.2, (3, 5, 2))
    mr.gradcheck(L.BatchNormalization(), x, mask=np.array([[True, False, True, True, False]]), training=True)


@pytest.mark.parametrize("kwargs, shape, mask", [
    ({"renorm": True}, (6, 5, 3), False),
    ({"renorm": True, "renorm_momentum": 0.8, "momentum": 0.7}, (8, 4), False),
    ({"renorm": True, "renorm_clipping": {"rmax": 1.2, "rmin": 0.9, "dmax": 0.3}}, (6, 5, 3), False),
    ({"renorm": True, "center": False}, (6, 5, 3), True),
    ({"renorm": True, "scale": False, "center": False}, (6, 5, 3), False),
])
def test_batch_renormalization_matches_keras(kwargs, shape, mask):
    """Output, dL/dx (r and d held constant, as Keras's stop_gradient), dL/dgamma, dL/dbeta and all
    five statistics after the call, from random statistics (stddevs and variance kept > 0)."""
    x = np.random.default_rng(16).normal(1.5, 2.0, shape).astype("float32")
    n = int(kwargs.get("scale", True)) + int(kwargs.get("center", True))
    m = np.random.default_rng(17).random(shape[:-1]) > 0.3 if mask else None
    check_layer(keras.layers.BatchNormalization(**kwargs), L.BatchNormalization(**kwargs), x, mask=m,
                positive=(n + 1, n + 2, n + 4))


def test_batch_renormalization_inference_and_config_are_keras():
    rng = np.random.default_rng(18)
    kwargs = {"renorm": True, "renorm_clipping": {"rmax": 3.0, "rmin": 0.3, "dmax": 5.0}, "renorm_momentum": 0.95}
    k, m = keras.layers.BatchNormalization(**kwargs), L.BatchNormalization(**kwargs)
    copy_weights(k, m, (4, 5), rng, positive=(3, 4, 6))
    x = rng.normal(size=(4, 5)).astype("float32")
    close(m(x, training=False), k(x, training=False).numpy(), what="inference output")
    k_config = k.get_config()
    for key in ("renorm", "renorm_clipping", "renorm_momentum"):
        assert m.get_config()[key] == k_config[key]
    with pytest.raises(ValueError, match="invalid keys"):
        L.BatchNormalization(renorm=True, renorm_clipping={"rmaxx": 1.0})
    with pytest.raises(ValueError, match="rmax should be greater than rmin"):
        L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 0.5, "rmin": 1.0})


@pytest.mark.parametrize("trainable", [True, False])
def test_batch_renormalization_gradcheck(float64, trainable):
    """Central differences see r and d move with x; Keras holds them constant.  With both clipped
    (renorm_stddev small: r = rmax; renorm_mean far: d = dmax) and renorm_momentum=1 (the renorm
    statistics stay put between the differenced calls) they are constant, and the check is exact."""
    rng = np.random.default_rng(19)
    layer = L.BatchNormalization(renorm=True, renorm_momentum=1.0, renorm_clipping={"rmax": 1.5, "dmax": 0.7})
    x = rng.normal(0.3, 1.2, (5, 3, 4))
    layer.ensure_built(x.shape)
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    layer.set_weights([gamma, beta, rng.normal(size=4), rng.random(4) + 0.5, rng.random(4) + 0.5,
                       np.full(4, -100.0), np.full(4, 0.01)])
    layer.trainable = trainable
    mr.gradcheck(layer, x, training=True)


def test_batch_normalization_masked_gradcheck(float64):
    rng = np.random.default_rng(6)
    layer = L.BatchNormalization()
    x = rng.normal(0.3, 1.2, (3, 5, 2))
    mask = rng.random((3, 5)) > 0.3
    mr.gradcheck(layer, x, mask=mask, training=True)


# -- LayerNormalization ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({}, (4, 5, 6)),
    ({"epsilon": 0.1}, (7, 3)),
    ({"axis": [1, 2]}, (3, 4, 5)),
    ({"axis": 1}, (3, 4, 5)),
    ({"center": False}, (4, 5, 6)),
    ({"scale": False}, (4, 5, 6)),
])
def test_layer_normalization_matches_keras(kwargs, shape):
    x = np.random.default_rng(7).normal(-1.0, 3.0, shape).astype("float32")
    check_layer(keras.layers.LayerNormalization(**kwargs), L.LayerNormalization(**kwargs), x)


@pytest.mark.parametrize("kwargs, shape", [
    ({"rms_scaling": True}, (4, 5, 6)),
    ({"rms_scaling": True, "axis": [1, 2]}, (3, 4, 5)),
    ({"rms_scaling": True, "center": False, "scale": False}, (7, 3)),
])
def test_layer_normalization_rms_scaling_matches_keras(kwargs, shape):
    x = np.random.default_rng(14).normal(-1.0, 3.0, shape).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # Keras: rms_scaling is deprecated
        klayer = keras.layers.LayerNormalization(**kwargs)
    mlayer = L.LayerNormalization(**kwargs)
    check_layer(klayer, mlayer, x)
    assert len(mlayer.weights) == 1 == len(klayer.weights)       # gamma only


def test_layer_normalization_built_on_one_rank_takes_another_like_keras():
    rng = np.random.default_rng(15)
    k, m = keras.layers.LayerNormalization(), L.LayerNormalization()
    copy_weights(k, m, (2, 2, 3), rng)
    x = rng.normal(2.0, 3.0, (5, 2, 4, 3)).astype("float32")
    close(m(x), k(x).numpy(), what="rank 4 through a layer built on rank 3")
    with pytest.raises(ValueError, match=r"expects sizes \(3,\) on axis -1, received shape \(5, 4\)"):
        m(np.zeros((5, 4), "float32"))


@pytest.mark.parametrize("kwargs", [{}, {"axis": [1, 2]}, {"scale": False}, {"rms_scaling": True},
                                    {"rms_scaling": True, "axis": [1, 2]}])
def test_layer_normalization_gradcheck(float64, kwargs):
    rng = np.random.default_rng(8)
    layer = L.LayerNormalization(**kwargs)
    x = rng.normal(0.3, 1.2, (3, 4, 5))
    layer.ensure_built(x.shape)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.weights])
    mr.gradcheck(layer, x)


# -- activation layers -------------------------------------------------------------------------
ACTIVATIONS = ["relu", "tanh", "sigmoid", "hard_sigmoid", "linear", "softmax", "log_softmax", "elu", "selu",
               "softplus", "softsign", "silu", "swish", "gelu", "exponential", "relu6", "leaky_relu", "mish",
               "hard_silu"]


def activation_input(seed=9):
    x = np.random.default_rng(seed).normal(0, 2, (4, 5, 6)).astype("float32")
    x[np.abs(x) < 1e-2] = 0.5            # away from the kink at 0
    x[np.abs(np.abs(x) - 3) < 1e-2] = 1.0     # ... and hard_sigmoid's at +-3
    x[np.abs(x - 6) < 1e-2] = 1.0             # ... and relu6's at 6
    return x


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layer_matches_keras(name):
    check_layer(keras.layers.Activation(name), L.Activation(name), activation_input())


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 1.5}, {"negative_slope": 0.1}, {"threshold": 0.5},
                                    {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.3},
                                    {"max_value": 6.0}])
def test_relu_matches_keras(kwargs):
    x = activation_input()
    for bound in (kwargs.get("max_value"), kwargs.get("threshold")):
        if bound is not None:
            x[np.abs(x - bound) < 1e-2] = bound + 0.1
    check_layer(keras.layers.ReLU(**kwargs), L.ReLU(**kwargs), x)


@pytest.mark.parametrize("klass, kwargs", [("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.05}),
                                            ("ELU", {}), ("ELU", {"alpha": 0.5}),
                                            ("Softmax", {}), ("Softmax", {"axis": 1}),
                                            ("Softmax", {"axis": [1, 2]})])
def test_activation_layers_match_keras(klass, kwargs):
    check_layer(getattr(keras.layers, klass)(**kwargs), getattr(L, klass)(**kwargs), activation_input())


def test_leaky_relu_default_slope_is_keras_3s():
    assert L.LeakyReLU().negative_slope == keras.layers.LeakyReLU().negative_slope == 0.3
    assert L.LeakyReLU(alpha=0.1).negative_slope == 0.1


@pytest.mark.parametrize("mask_shape", [(4, 5, 6), (4, 1, 6), (6,)])
def test_softmax_mask_matches_keras(mask_shape):
    rng = np.random.default_rng(10)
    mask = rng.random(mask_shape) > 0.3
    check_layer(keras.layers.Softmax(), L.Softmax(), activation_input(), mask=mask)


@pytest.mark.parametrize("layer", [L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2, dtype="float64"),
                                   L.LeakyReLU(dtype="float64"), L.ELU(alpha=0.7, dtype="float64"),
                                   L.Softmax(axis=1, dtype="float64")]
                         + [L.Activation(name, dtype="float64") for name in ACTIVATIONS])
def test_activation_layers_gradcheck(layer):
    x = activation_input(11).astype("float64")
    x[np.abs(x - 0.2) < 1e-2] = 0.5
    x[np.abs(x - 2.0) < 1e-2] = 1.0
    mr.gradcheck(layer, x[:2, :3])


def test_softmax_masked_gradcheck():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3, 4, 5))
    mr.gradcheck(L.Softmax(dtype="float64"), x, mask=rng.random((3, 1, 5)) > 0.3)


def test_activation_accepts_functions_by_name():
    assert L.Activation(mk.activations.relu).activation == "relu"
    assert L.Activation(None).activation == "linear"


@pytest.mark.parametrize("make, message", [
    (lambda: L.Activation("nope"), "unknown activation 'nope'"),
    (lambda: L.ReLU(max_value=-1), "max_value must be a number >= 0"),
    (lambda: L.LeakyReLU(negative_slope=-0.1), "negative_slope must be a number >= 0"),
    (lambda: L.BatchNormalization(axis="x"), "axis must be an integer"),
    (lambda: L.BatchNormalization(momentum=2), "momentum must be a number in"),
    (lambda: L.Softmax(axis="a"), "axis must be an integer or a list"),
])
def test_bad_arguments_name_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_layer_normalization_axis_of_another_type_is_a_type_error_as_in_keras():
    with pytest.raises(TypeError, match=r"LayerNormalization\): Expected an int or a list/tuple of ints for the "
                                        r"argument 'axis', received 1.5"):
        L.LayerNormalization(axis=1.5)
    with pytest.raises(TypeError):
        keras.layers.LayerNormalization(axis=1.5)


def test_bad_inputs_name_the_layer_and_shapes():
    bn = L.BatchNormalization(name="bn")
    bn(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"Layer 'bn' \(BatchNormalization\) expects 3 features on axis 1, "
                                         r"received shape \(2, 4\)"):
        bn(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"expects a mask of shape \(2, 5\)"):
        L.BatchNormalization()(np.zeros((2, 5, 3)), training=True, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"axis=3 is out of bounds for input of rank 3"):
        L.LayerNormalization(axis=3)(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"mask broadcastable to the input \(2, 5\)"):
        L.Softmax()(np.zeros((2, 5)), mask=np.ones((2, 4), bool))


# -- whole models ------------------------------------------------------------------------------
def conv_bn_models(seed=13):
    """The same Conv1D + BatchNormalization + ReLU classifier in Keras and minirnn, same weights."""
    def build(lib):
        return lib.Sequential([lib.Input(shape=(12, 2)), lib.layers.Conv1D(4, 3, padding="same"),
                               lib.layers.BatchNormalization(), lib.layers.ReLU(),
                               lib.layers.Conv1D(4, 3), lib.layers.LayerNormalization(),
                               lib.layers.LeakyReLU(), lib.layers.GlobalAveragePooling1D(),
                               lib.layers.Dense(3), lib.layers.Softmax()])
    k, m = build(keras), build(mk)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k.get_weights()]
    weights[5] = np.abs(weights[5]) + 0.5               # moving variance
    k.set_weights(weights)
    m.set_weights(weights)
    return k, m


def test_one_sgd_step_of_a_model_matches_keras():
    k, m = conv_bn_models()
    rng = np.random.default_rng(14)
    x = rng.normal(size=(8, 12, 2)).astype("float32")
    y = rng.integers(0, 3, 8)
    for model in (k, m):
        model.compile(optimizer=(keras if model is k else mk).optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy")
    close(m.predict(x, verbose=0), k.predict(x, verbose=0), what="predictions before")
    loss_k = k.train_on_batch(x, y)
    loss_m = m.train_on_batch(x, y)
    close(loss_m, loss_k, what="loss")
    assert len(m.trainable_weights) == len(k.trainable_weights) == 10
    for a, b in zip(m.get_weights(), k.get_weights()):   # moving statistics included
        close(a, b, 1e-5, "weights after one step")
    close(m.predict(x, verbose=0), k.predict(x, verbose=0), what="predictions after")


def test_frozen_batch_normalization_is_not_updated_by_fit():
    _, m = conv_bn_models()
    bn = m.layers[1]
    bn.trainable = False
    before = [w.copy() for w in bn.weights]
    m.compile(optimizer=mk.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(15)
    m.fit(rng.normal(size=(8, 12, 2)), rng.integers(0, 3, 8), epochs=2, verbose=0)
    for a, b in zip(bn.weights, before):
        np.testing.assert_array_equal(a, b)


def test_model_gradcheck_through_normalization(float64):
    """A whole model by central differences; its loss runs in inference mode, so the
    BatchNormalization is frozen (inference mode in training too, as in Keras 3)."""
    rng = np.random.default_rng(16)
    model = mr.Sequential([mr.Input(shape=(6, 2)), L.Conv1D(3, 2), L.BatchNormalization(),
                           L.ELU(), L.LayerNormalization(), L.Activation("gelu"), L.Dense(2)])
    model.layers[1].set_weights([rng.normal(size=3), rng.normal(size=3), rng.normal(size=3),
                                 rng.random(3) + 0.5])
    model.layers[1].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    mr.gradcheck(model, rng.normal(size=(4, 6, 2)), rng.normal(size=(4, 5, 2)))


def test_batch_normalization_masked_in_a_model_matches_keras():
    """A mask from Embedding(mask_zero=True) reaches BatchNormalization in both libraries."""
    def build(lib):
        return lib.Sequential([lib.Input(shape=(5,)), lib.layers.Embedding(7, 3, mask_zero=True),
                               lib.layers.BatchNormalization(momentum=0.5), lib.layers.LSTM(2)])
    k, m = build(keras), build(mk)
    rng = np.random.default_rng(17)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k.get_weights()]
    k.set_weights(weights)
    m.set_weights(weights)
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [6, 1, 2, 3, 4]])
    close(m(ids, training=True), k(ids, training=True).numpy(), what="training output")
    for a, b in zip(m.get_weights(), k.get_weights()):
        close(a, b, what="moving statistics from the unmasked steps")
