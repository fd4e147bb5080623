"""GroupNormalization, RMSNormalization, UnitNormalization and SpectralNormalization against Keras 3.

Forward values, dL/dx and dL/dweights of L = sum(output * cotangent) from copied weights (Keras's
from tf.GradientTape), weights after a training call (SpectralNormalization's normalized kernel and
vector_u), masks through a model, one SGD step of a whole model, float64 central differences
(minirnn.gradcheck), .keras files both ways, and errors.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from test_functional import footer, keras_summary, our_summary, same_rows, table  # noqa: E402
from test_normalization_activation import check_layer, close  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402
from minirnn import layers as L  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")      # Keras: "does not support masking"


def data(shape, seed=1, loc=1.0, scale=2.0):
    return np.random.default_rng(seed).normal(loc, scale, shape).astype("float32")


def gradcheck_from_random_weights(layer, shape, seed):
    """Central differences (float64) of a training call, from random weights and inputs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 1.5, shape)
    layer.ensure_built(x.shape)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.weights])
    mr.gradcheck(layer, x, training=True)


# -- GroupNormalization ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({"groups": 2}, (4, 5, 6)),
    ({"groups": -1}, (3, 4)),
    ({"groups": 1, "epsilon": 0.1}, (3, 2, 6)),
    ({"groups": 2, "axis": 1}, (3, 4, 2, 2)),                 # channels first
    ({"groups": 3, "center": False}, (2, 3, 3, 6)),
    ({"groups": 4, "scale": False, "center": False}, (5, 8)),
])
def test_group_normalization_matches_keras(kwargs, shape):
    check_layer(keras.layers.GroupNormalization(**kwargs), L.GroupNormalization(**kwargs), data(shape))


@pytest.mark.parametrize("kwargs, shape", [({"groups": 2}, (3, 4, 6)), ({"groups": -1, "axis": 1}, (2, 3, 4)),
                                           ({"groups": 1, "center": False}, (4, 6))])
def test_group_normalization_gradcheck(float64, kwargs, shape):
    gradcheck_from_random_weights(L.GroupNormalization(**kwargs), shape, seed=2)


def test_group_normalization_groups_minus_one_is_instance_normalization_and_config_as_keras():
    layer, theirs = L.GroupNormalization(groups=-1), keras.layers.GroupNormalization(groups=-1)
    x = data((2, 3, 4))
    close(layer(x), theirs(x).numpy(), what="instance normalization")
    assert layer.groups == theirs.groups == 4                   # as Keras, the config says 4 once built
    mine, keras_config = layer.get_config(), theirs.get_config()
    for key in ("groups", "axis", "epsilon", "center", "scale"):
        assert mine[key] == keras_config[key], key


# -- RMSNormalization ------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, shape", [
    ({}, (4, 5, 6)),
    ({"epsilon": 0.5}, (3, 4)),
    ({"axis": [-2, -1]}, (2, 3, 4)),
    ({"axis": [-1, -2]}, (2, 3, 4)),
])
def test_rms_normalization_matches_keras(kwargs, shape):
    check_layer(keras.layers.RMSNormalization(**kwargs), L.RMSNormalization(**kwargs), data(shape, loc=0.5))


def test_rms_normalization_scale_is_the_weight_and_a_built_layer_takes_other_ranks():
    layer = L.RMSNormalization()
    assert layer.scale is None
    x = data((2, 3, 4))
    y = layer(x)
    assert len(layer.weights) == 1 and layer.weights[0] is layer.scale and layer.scale.shape == (4,)
    close(layer(x[0]), y[0], what="rank 2 after rank 3")
    with pytest.raises(ValueError, match=r"'rms_normalization.*expects sizes \(4,\) on axis -1"):
        layer(data((2, 3, 5, 1)))
    with pytest.raises(ValueError, match=r"'rms_normalization.*expects 4 features on axis 1"):
        layer(data((2, 5)))


@pytest.mark.parametrize("kwargs, shape", [({}, (3, 4, 5)), ({"axis": [1, 2]}, (2, 3, 4)), ({"axis": 1}, (2, 3, 4))])
def test_rms_normalization_gradcheck(float64, kwargs, shape):
    gradcheck_from_random_weights(L.RMSNormalization(**kwargs), shape, seed=3)


# -- UnitNormalization -----------------------------------------------------------------------
@pytest.mark.parametrize("axis, shape", [(-1, (4, 5)), ((1, 2), (2, 3, 3)), (1, (2, 3, 2))])
def test_unit_normalization_matches_keras(axis, shape):
    check_layer(keras.layers.UnitNormalization(axis=axis), L.UnitNormalization(axis=axis), data(shape, loc=0.0))


def test_unit_normalization_of_a_zero_sample_matches_keras():
    """|x| = 0: 1/|x| is bounded by 1e12, a constant there, so y = 0 and dx = dy 1e12 (as TensorFlow's)."""
    x = data((3, 4), loc=0.0)
    x[1] = 0.0
    xt, cot = tf.constant(x), data((3, 4), seed=5)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = keras.layers.UnitNormalization()(xt)
    dx_keras = tape.gradient(y, xt, output_gradients=tf.constant(cot)).numpy()
    layer = L.UnitNormalization()
    out = layer(x, training=True)
    dx = layer.backward(cot)
    close(out, y.numpy(), what="output")
    np.testing.assert_allclose(dx[1], dx_keras[1], rtol=1e-6)
    close(dx[[0, 2]], dx_keras[[0, 2]], what="dL/dx of the other samples")


@pytest.mark.parametrize("axis, shape", [(-1, (3, 4)), ([1, 2], (2, 3, 2)), (1, (2, 3, 4))])
def test_unit_normalization_gradcheck(float64, axis, shape):
    mr.gradcheck(L.UnitNormalization(axis=axis), np.random.default_rng(4).normal(size=shape), training=True)


# -- SpectralNormalization -------------------------------------------------------------------
def wrapped(lib, kind, **kwargs):
    inner = {"dense": lambda: lib.layers.Dense(3), "conv1d": lambda: lib.layers.Conv1D(3, 2, padding="same"),
             "conv2d": lambda: lib.layers.Conv2D(2, 2), "no_bias": lambda: lib.layers.Dense(4, use_bias=False)}[kind]
    return lib.layers.SpectralNormalization(inner(), **kwargs)


@pytest.mark.parametrize("kind, shape, iterations", [("dense", (4, 5), 1), ("dense", (3, 2, 5), 3),
                                                     ("conv1d", (3, 6, 4), 2), ("conv2d", (2, 4, 4, 3), 1),
                                                     ("no_bias", (4, 6), 5)])
@pytest.mark.parametrize("training", [True, False])
def test_spectral_normalization_matches_keras(kind, shape, iterations, training):
    """A training call normalizes the kernel in place and moves vector_u (compared after the call,
    from random weights, vector_u included); dL/dweights are the wrapped layer's at that kernel."""
    check_layer(wrapped(keras, kind, power_iterations=iterations), wrapped(mk, kind, power_iterations=iterations),
                data(shape), training=training, tol=5e-5)


def test_spectral_normalization_weights_are_keras_order_and_embeddings_work():
    theirs, mine = keras.layers.SpectralNormalization(keras.layers.Embedding(10, 4)), L.SpectralNormalization(
        L.Embedding(10, 4))
    ids = np.array([[1, 2, 9], [0, 3, 3]])
    theirs.build(ids.shape)
    mine.ensure_built(ids.shape)
    assert [w.shape for w in mine.weights] == [tuple(w.shape) for w in theirs.weights] == [(10, 4), (1, 4)]
    assert len(mine.trainable_weights) == 1 and mine.non_trainable_weights[0] is mine.vector_u
    weights = [w * 3 for w in theirs.get_weights()]
    theirs.set_weights(weights)
    mine.set_weights(weights)
    floats = ids.astype("float32")             # Keras casts the output to the ids' dtype: floats, as its own test
    out = mine(floats, training=True)
    close(out, theirs(floats, training=True).numpy(), what="embeddings output")
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        close(a, b, what="weights after the call")
    np.testing.assert_array_equal(mine(ids), mine(floats))   # integer ids keep float outputs (Keras: integers)
    dense = L.SpectralNormalization(L.Dense(2))
    dense.ensure_built((None, 3))
    assert [w.shape for w in dense.weights] == [(3, 2), (1, 2), (2,)]             # kernel, vector_u, bias
    assert dense.weights[0] is dense.layer.kernel


def test_spectral_normalization_of_a_known_kernel_and_of_a_zero_kernel():
    """A kernel of ones (2x2 patch, 1 channel): largest singular value 2, so the output halves; an
    all-zero kernel is left as it is (Keras's cond)."""
    layer = L.SpectralNormalization(L.Conv2D(1, 2, kernel_initializer="ones"), power_iterations=8)
    images = np.ones((1, 2, 2, 1), "float32")
    np.testing.assert_allclose(layer(images), [[[[4.0]]]])
    np.testing.assert_allclose(layer(images, training=True), [[[[2.0]]]], rtol=1e-6)
    zero = L.SpectralNormalization(L.Dense(2, kernel_initializer="zeros"))
    zero(np.ones((1, 3), "float32"), training=True)
    assert not zero.layer.kernel.any() and np.isfinite(zero.vector_u).all()


@pytest.mark.parametrize("kind, shape", [("dense", (3, 4)), ("conv1d", (2, 5, 3))])
def test_spectral_normalization_gradcheck(float64, kind, shape):
    """The differenced passes are inference calls: the kernel as the training call stored it, whose
    gradient the wrapper's backward gives (sigma is outside the graph, as in Keras)."""
    layer = wrapped(mk, kind, power_iterations=2)
    x = np.random.default_rng(6).normal(size=shape)
    layer.ensure_built(x.shape)
    layer.layer.set_weights([np.random.default_rng(7).normal(size=w.shape) for w in layer.layer.weights])
    report = mr.gradcheck(layer, x)
    assert len(report) == 1 + len(layer.weights)


# -- masks, training, files --------------------------------------------------------------------
def normalized(lib):
    return lib.Sequential([lib.Input(shape=(6, 4)), lib.layers.Masking(0.0),
                           lib.layers.GroupNormalization(groups=2), lib.layers.UnitNormalization(axis=[1, 2]),
                           lib.layers.SpectralNormalization(lib.layers.Dense(4), power_iterations=2),
                           lib.layers.LSTM(3, return_sequences=True), lib.layers.RMSNormalization(epsilon=1e-3),
                           lib.layers.GlobalAveragePooling1D(), lib.layers.Dense(2)])


def sequences(seed=0):
    x = data((5, 6, 4), seed=seed, loc=0.0)
    x[0, 4:] = 0.0                     # padding: Masking's mask goes through Group/Unit/Spectral to the LSTM
    x[3, 5:] = 0.0
    return x, np.random.default_rng(seed + 1).normal(size=(5, 2)).astype("float32")


def test_one_sgd_step_of_a_model_matches_keras():
    x, y = sequences()
    keras.utils.set_random_seed(0)
    theirs, ours = normalized(keras), normalized(mk)
    ours.set_weights(theirs.get_weights())
    close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), what="masked prediction")
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    ours.compile(optimizer=mk.optimizers.SGD(0.1), loss="mse")
    loss_keras, loss_ours = float(theirs.train_on_batch(x, y)), float(ours.train_on_batch(x, y))
    np.testing.assert_allclose(loss_ours, loss_keras, rtol=1e-5)
    for k, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        close(a, b, what=f"weight {k} after one step")


def test_summary_counts_vector_u_and_moving_statistics_as_non_trainable_like_keras():
    def build(lib):
        lib.backend.clear_session()           # the same layer names in both
        return lib.Sequential([lib.Input(shape=(6, 4)), lib.layers.BatchNormalization(),
                               lib.layers.SpectralNormalization(lib.layers.Dense(3)),
                               lib.layers.GroupNormalization(3), lib.layers.RMSNormalization(), lib.layers.Dense(1)])
    theirs, ours = build(keras), build(mk)
    mine, keras_text = our_summary(ours), keras_summary(theirs)
    same_rows(table(mine), table(keras_text))
    assert footer(mine) == footer(keras_text)


def test_keras_file_loads_in_minirnn_and_the_reverse(tmp_path):
    x, y = sequences(seed=2)
    keras.utils.set_random_seed(1)
    theirs = normalized(keras)
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    theirs.fit(x, y, epochs=2, verbose=0)
    theirs.save(tmp_path / "k.keras")
    ours = mr.load_model(tmp_path / "k.keras")
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), what="loaded from Keras")
    np.testing.assert_allclose(float(ours.train_on_batch(x, y)), float(theirs.train_on_batch(x, y)), rtol=1e-5)

    mr.set_random_seed(3)
    mine = normalized(mk)
    mine.compile(optimizer=mk.optimizers.SGD(0.05), loss="mse")
    mine.fit(x, y, epochs=2, verbose=0)
    mine.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    for a, b in zip(back.get_weights(), mine.get_weights()):
        np.testing.assert_array_equal(a, b)
    close(back.predict(x, verbose=0), mine.predict(x, verbose=0), what="opened in Keras")
    assert back.layers[1].get_config()["groups"] == 2 and back.layers[2].get_config()["axis"] == [1, 2]


def test_spectral_normalization_has_no_legacy_h5_form(tmp_path):
    model = mk.Sequential([mk.Input(shape=(3,)), L.SpectralNormalization(L.Dense(2))])
    with pytest.raises(ValueError, match="'spectral_normalization.*no legacy .h5 form"):
        model.save(tmp_path / "m.h5")


# -- errors ------------------------------------------------------------------------------------
def test_bad_arguments_name_the_layer():
    for bad in (0, -2, 1.5, "32", True):
        with pytest.raises(ValueError, match=r"'gn' \(GroupNormalization\).*argument `groups`"):
            L.GroupNormalization(groups=bad, name="gn")
    with pytest.raises(ValueError, match=r"\(GroupNormalization\): Number of groups \(5\) cannot be more than the "
                                         r"number of channels \(4\)"):
        L.GroupNormalization(groups=5)(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"Number of groups \(3\) must be a multiple.*do not split into 3"):
        L.GroupNormalization(groups=3)(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"\(GroupNormalization\): Axis -1 of input tensor should have a defined "
                                         r"dimension.*\(None, 2, None\)"):
        L.GroupNormalization()(mk.Input(shape=(2, None)))
    with pytest.raises(ValueError, match=r"\(GroupNormalization\): axis=0 is the batch axis"):
        L.GroupNormalization(groups=1, axis=0)(np.ones((2, 4), "float32"))
    with pytest.raises(TypeError, match=r"\(GroupNormalization\): axis must be one integer"):
        L.GroupNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match=r"\(GroupNormalization\): epsilon must be a number >= 0"):
        L.GroupNormalization(epsilon=-1.0)
    with pytest.raises(TypeError, match=r"\(RMSNormalization\): Expected an int or a list/tuple of ints"):
        L.RMSNormalization(axis="last")
    with pytest.raises(ValueError, match=r"\(RMSNormalization\): axis=3 is out of bounds for input of rank 2"):
        L.RMSNormalization(axis=3)(np.ones((2, 4), "float32"))
    with pytest.raises(TypeError, match=r"\(UnitNormalization\): Invalid value for `axis` argument: expected an int "
                                        r"or a list/tuple of ints. Received: axis=\{'axis': -1\}"):
        L.UnitNormalization(axis={"axis": -1})
    with pytest.raises(ValueError, match=r"\(UnitNormalization\): Axis 2 is out of bounds for input of rank 2"):
        L.UnitNormalization(axis=2)(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"\(SpectralNormalization\): `power_iterations` should be greater than "
                                         r"zero. Received: `power_iterations=0`"):
        L.SpectralNormalization(L.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match=r"should be an integer greater than zero.*=1.5"):
        L.SpectralNormalization(L.Dense(2), power_iterations=1.5)
    with pytest.raises(ValueError, match=r"'sn' \(SpectralNormalization\): ReLU object has no attribute 'kernel' nor "
                                         r"'embeddings'"):
        L.SpectralNormalization(L.ReLU(), name="sn")(np.ones((4, 2), "float32"))
    with pytest.raises(ValueError, match="SpectralNormalization expects a layer to wrap"):
        L.SpectralNormalization("dense")
