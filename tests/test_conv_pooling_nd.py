"""Conv2D, Conv3D and the 1/2/3-D pooling layers against Keras 3 and by central differences."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn import layers as L  # noqa: E402

from keras_compare import close  # noqa: E402


def compare(klass, args, kwargs, shape, seed=0, distinct=False):
    """Outputs, dL/dx and dL/dweights of sum(y * cot), Keras's against minirnn's."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype("float32")
    if distinct:                    # max pooling: no ties, so both pick the same maximum
        x = rng.permutation(np.arange(x.size, dtype="float32")).reshape(shape) / x.size
    k = getattr(keras.layers, klass)(*args, **kwargs)
    m = getattr(L, klass)(*args, **kwargs)
    k.build(shape)
    if k.weights:
        weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k.get_weights()]
        k.set_weights(weights)
        m.ensure_built(shape)
        m.set_weights(weights)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = k(xt)
    cot = rng.normal(size=y.shape).astype("float32")
    grads = tape.gradient(y, [xt] + list(k.weights), output_gradients=tf.constant(cot))
    out = m(x, training=True)
    assert out.dtype == np.float32
    close(out, y.numpy(), what="output")
    assert tuple(m.compute_output_shape((None,) + shape[1:]))[1:] == tuple(y.shape)[1:]
    close(m.backward(cot), grads[0].numpy(), what="dL/dx")
    for n, (a, b) in enumerate(zip(m.grads, grads[1:])):
        close(a, b.numpy(), what=f"dL/dweight {n}")


@pytest.mark.parametrize("kwargs", [{}, {"padding": "same"}, {"strides": 2}, {"strides": (2, 1), "padding": "same"},
                                    {"dilation_rate": (2, 1)}, {"activation": "relu", "use_bias": False},
                                    {"activation": "softmax"}, {"kernel_size": (2, 3), "padding": "same",
                                                                "strides": 3}])
def test_conv2d_matches_keras(kwargs):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    compare("Conv2D", (4, kernel), kwargs, (2, 7, 6, 3))


@pytest.mark.parametrize("kwargs", [{}, {"padding": "same", "strides": 2}, {"dilation_rate": 2}])
def test_conv3d_matches_keras(kwargs):
    compare("Conv3D", (3, 2), kwargs, (2, 5, 4, 5, 2))


def test_conv2d_channels_first_matches_keras_channels_last():
    """TensorFlow's CPU convolutions are channels_last only: Keras runs the moved axes."""
    rng = np.random.default_rng(1)
    k, m = keras.layers.Conv2D(3, 2, padding="same"), L.Conv2D(3, 2, padding="same", data_format="channels_first")
    k.build((2, 5, 4, 2))
    m.ensure_built((2, 2, 5, 4))
    m.set_weights(k.get_weights())
    x = rng.normal(size=(2, 5, 4, 2)).astype("float32")
    close(m(np.moveaxis(x, -1, 1)), np.moveaxis(k(x).numpy(), -1, 1), what="output")


POOLS = [
    ("MaxPooling2D", {}, (2, 6, 5, 3)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 2)),
    ("MaxPooling2D", {"pool_size": (2, 3), "strides": 1}, (2, 6, 5, 3)),
    ("AveragePooling2D", {"pool_size": 2}, (2, 6, 5, 3)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 5, 2)),
    ("AveragePooling2D", {"pool_size": 2, "padding": "same"}, (2, 5, 5, 1)),
    ("MaxPooling3D", {}, (2, 4, 5, 4, 2)),
    ("MaxPooling3D", {"padding": "same", "strides": 1}, (1, 3, 3, 3, 2)),
    ("AveragePooling3D", {"pool_size": 2, "padding": "same"}, (2, 3, 5, 4, 2)),
    ("AveragePooling1D", {"pool_size": 3, "padding": "same", "strides": 2}, (2, 9, 3)),
    ("GlobalAveragePooling2D", {}, (2, 4, 5, 3)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (2, 4, 5, 3)),
    ("GlobalMaxPooling2D", {}, (2, 4, 5, 3)),
    ("GlobalAveragePooling3D", {}, (2, 3, 4, 2, 3)),
    ("GlobalMaxPooling3D", {"keepdims": True}, (2, 3, 4, 2, 3)),
]


@pytest.mark.parametrize("klass, kwargs, shape", POOLS)
def test_pooling_matches_keras(klass, kwargs, shape):
    compare(klass, (), kwargs, shape, distinct="Max" in klass)


@pytest.mark.parametrize("klass, kwargs, shape", POOLS[:1] + POOLS[3:6] + POOLS[8:10] + POOLS[10:12] + POOLS[13:14])
def test_pooling_channels_first(klass, kwargs, shape):
    """channels_first is channels_last on the moved axes (Keras's CPU pooling is channels_last only)."""
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    last = getattr(L, klass)(**kwargs)(x)
    first = getattr(L, klass)(data_format="channels_first", **kwargs)(np.moveaxis(x, -1, 1))
    expected = np.moveaxis(last, -1, 1) if last.ndim == x.ndim else last
    np.testing.assert_allclose(first, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer, shape", [
    (L.Conv2D(2, 2, strides=(2, 1), padding="same", activation="tanh", dtype="float64"), (2, 5, 4, 2)),
    (L.Conv2D(2, (2, 3), dilation_rate=2, data_format="channels_first", dtype="float64"), (2, 2, 5, 6)),
    (L.Conv3D(2, 2, padding="same", dtype="float64"), (1, 3, 3, 3, 2)),
    (L.MaxPooling2D(3, 2, padding="same", dtype="float64"), (2, 5, 4, 2)),
    (L.AveragePooling2D(3, 2, padding="same", dtype="float64"), (2, 5, 4, 2)),
    (L.AveragePooling3D(2, dtype="float64"), (1, 4, 3, 4, 2)),
    (L.MaxPooling3D(2, padding="same", dtype="float64"), (1, 3, 3, 3, 2)),
    (L.GlobalAveragePooling2D(dtype="float64"), (2, 3, 4, 2)),
    (L.GlobalMaxPooling2D(keepdims=True, dtype="float64"), (2, 3, 4, 2)),
])
def test_nd_layers_gradcheck(layer, shape):
    x = np.random.default_rng(3).permutation(np.prod(shape)).reshape(shape) / np.prod(shape)   # no ties
    mr.gradcheck(layer, x)


@pytest.mark.parametrize("make, message", [
    (lambda: L.Conv2D(2, (3, 3, 3)), r"kernel_size must be an integer or a tuple of 2 integers"),
    (lambda: L.Conv2D(2, 3, strides=2, dilation_rate=2), "strides > 1 not supported in conjunction"),
    (lambda: L.Conv2D(2, 3, padding="causal"), "padding must be one of"),
    (lambda: L.MaxPooling2D(0), "pool_size must be a positive integer"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_name_the_layer():
    conv = L.Conv2D(2, 3, name="c2")
    with pytest.raises(ValueError, match=r"Layer 'c2' \(Conv2D\) expects input of rank 4"):
        conv(np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match=r"spatial size \(2, 5\) is too small for kernel_size=\(3, 3\)"):
        conv(np.zeros((1, 2, 5, 1)))
    conv(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"expects 1 input channels \(channels_last\), received shape"):
        conv(np.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"smaller than pool_size=\(2, 2\)"):
        L.MaxPooling2D()(np.zeros((1, 1, 5, 1)))
