"""minirnn.ops inside a Lambda: values and gradients against keras.ops on TensorFlow (GradientTape)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from minirnn import ops, registry
from minirnn.layers import Lambda

K = keras.ops
W = np.random.default_rng(7).standard_normal((4, 2))                 # a constant operand
ROW = np.linspace(-1.0, 1.0, 4)

# name, minirnn function, the same function in keras.ops, input shape, input domain
CASES = [
    ("expand_dims", lambda x: ops.expand_dims(x, axis=-1), lambda x: K.expand_dims(x, axis=-1), (3, 4), "any"),
    ("squeeze", lambda x: ops.squeeze(x, axis=1), lambda x: K.squeeze(x, axis=1), (3, 1, 4), "any"),
    ("reshape", lambda x: ops.reshape(x, (3, 2, 2)), lambda x: K.reshape(x, (3, 2, 2)), (3, 4), "any"),
    ("shape", lambda x: ops.reshape(x, (ops.shape(x)[0], -1)), lambda x: K.reshape(x, (K.shape(x)[0], -1)),
     (3, 2, 2), "any"),
    ("concatenate", lambda x: ops.concatenate([x, ops.square(x)], axis=1),
     lambda x: K.concatenate([x, K.square(x)], axis=1), (3, 4), "any"),
    ("stack", lambda x: ops.stack([x, ops.exp(x)], axis=1), lambda x: K.stack([x, K.exp(x)], axis=1), (3, 4), "any"),
    ("transpose", lambda x: ops.transpose(x, (0, 2, 1)), lambda x: K.transpose(x, (0, 2, 1)), (2, 3, 4), "any"),
    ("mean", lambda x: ops.mean(x, axis=1), lambda x: K.mean(x, axis=1), (3, 4), "any"),
    ("mean_keepdims", lambda x: ops.mean(x, axis=(1, 2), keepdims=True),
     lambda x: K.mean(x, axis=(1, 2), keepdims=True), (2, 3, 4), "any"),
    ("mean_axis_list", lambda x: ops.mean(x, axis=[0, 2]), lambda x: K.mean(x, axis=[0, 2]), (2, 3, 4), "any"),
    ("var", lambda x: ops.var(x, axis=1), lambda x: K.var(x, axis=1), (3, 4), "any"),
    ("var_all", ops.var, K.var, (3, 4), "any"),
    ("std_keepdims", lambda x: ops.std(x, axis=[1, 2], keepdims=True),
     lambda x: K.std(x, axis=[1, 2], keepdims=True), (2, 3, 4), "any"),
    ("std_all", ops.std, K.std, (3, 4), "any"),
    ("sum", lambda x: ops.sum(x, axis=-1, keepdims=True), lambda x: K.sum(x, axis=-1, keepdims=True), (3, 4), "any"),
    ("max", lambda x: ops.max(x, axis=1), lambda x: K.max(x, axis=1), (3, 4), "any"),
    ("max_ties", lambda x: ops.max(ops.clip(x, -0.3, 0.3), axis=1),
     lambda x: K.max(K.clip(x, -0.3, 0.3), axis=1), (3, 4), "any"),
    ("min", lambda x: ops.min(x, axis=0), lambda x: K.min(x, axis=0), (3, 4), "any"),
    ("abs", ops.abs, K.abs, (3, 4), "any"),
    ("square", ops.square, K.square, (3, 4), "any"),
    ("sqrt", ops.sqrt, K.sqrt, (3, 4), "positive"),
    ("rsqrt", ops.rsqrt, K.rsqrt, (3, 4), "positive"),
    ("exp", ops.exp, K.exp, (3, 4), "any"),
    ("log", ops.log, K.log, (3, 4), "positive"),
    ("tanh", ops.tanh, K.tanh, (3, 4), "any"),
    ("sigmoid", ops.sigmoid, K.sigmoid, (3, 4), "wide"),
    ("relu", ops.relu, K.relu, (3, 4), "any"),
    ("clip", lambda x: ops.clip(x, -0.5, 0.5), lambda x: K.clip(x, -0.5, 0.5), (3, 4), "any"),
    ("cast", lambda x: ops.multiply(ops.cast(x, "float32"), 3.0),
     lambda x: K.cast(K.cast(x, "float32") * 3.0, "float64"), (3, 4), "any"),
    ("add", lambda x: ops.add(x, ROW), lambda x: K.add(x, ROW), (3, 4), "any"),
    ("subtract", lambda x: ops.subtract(ROW, x), lambda x: K.subtract(ROW, x), (3, 4), "any"),
    ("multiply", lambda x: ops.multiply(x, ops.tanh(x)), lambda x: K.multiply(x, K.tanh(x)), (3, 4), "any"),
    ("divide", lambda x: ops.divide(x, 1 + ops.square(x)), lambda x: K.divide(x, 1 + K.square(x)), (3, 4), "any"),
    ("matmul", lambda x: ops.matmul(x, W), lambda x: K.matmul(x, W), (3, 4), "any"),
    ("matmul_self", lambda x: ops.matmul(x, ops.transpose(x, (0, 2, 1))),
     lambda x: K.matmul(x, K.transpose(x, (0, 2, 1))), (2, 3, 4), "any"),
    ("operators", lambda x: (2.0 - x / 3.0) * x[:, ::-1] + x ** 3, lambda x: (2.0 - x / 3.0) * x[:, ::-1] + x ** 3,
     (3, 4), "any"),
]


def _input(shape, domain, seed=0):
    rng = np.random.default_rng(seed)
    if domain == "positive":
        return rng.uniform(0.2, 2.0, shape)
    if domain == "wide":
        return rng.uniform(-40.0, 40.0, shape)
    return rng.standard_normal(shape)


def _keras_value_and_gradient(function, x, dy):
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = function(v)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * dy)
    return np.asarray(y), np.asarray(tape.gradient(loss, v))


@pytest.mark.parametrize("name, ours, theirs, shape, domain", CASES, ids=[c[0] for c in CASES])
def test_op_in_lambda_matches_tensorflow(name, ours, theirs, shape, domain):
    x = _input(shape, domain)
    layer = Lambda(ours, dtype="float64")
    y = layer(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    y_tf, dx_tf = _keras_value_and_gradient(theirs, x, dy)
    np.testing.assert_allclose(y, y_tf, rtol=1e-6, atol=1e-6 if name == "cast" else 1e-12)
    np.testing.assert_allclose(layer.backward(dy), dx_tf, rtol=1e-6, atol=1e-12)
    assert not layer._untraceable                              # the ops' own rules were used


ELEMENTWISE = ["abs", "square", "sqrt", "rsqrt", "exp", "log", "tanh", "sigmoid", "relu", "clip"]
REARRANGING = ["expand_dims", "squeeze", "reshape", "transpose"]


@pytest.mark.parametrize("name", ELEMENTWISE + REARRANGING)
def test_op_also_passes_the_lambda_fallbacks(name):
    """Without the tape (a function that mixes in NumPy), element-wise ops take complex-step
    probes and re-arranging ops index arrays, so Lambda's own derivations still work."""
    _, ours, theirs, shape, domain = next(c for c in CASES if c[0] == name)
    x = _input(shape, domain)
    layer = Lambda(ours, dtype="float64")
    layer._untraceable = True
    y = layer(x, training=True)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy), _keras_value_and_gradient(theirs, x, dy)[1],
                               rtol=1e-6, atol=1e-12)


def test_numpy_inside_the_function_falls_back_to_the_other_methods():
    layer = Lambda(lambda x: np.tanh(ops.square(x)), dtype="float64")
    x = _input((3, 4), "any")
    y = layer(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert layer._untraceable
    np.testing.assert_allclose(dx, (1 - np.tanh(x * x) ** 2) * 2 * x, rtol=1e-10)


def test_gradient_of_a_whole_model_through_ops_by_central_differences():
    """Lambda(mean over time) between two trainable layers: the model's weight gradients
    against central differences (float64)."""
    import minirnn as mr

    mr.set_random_seed(0)
    model = mr.Sequential([mr.Input((5, 3), dtype="float64"), mr.layers.SimpleRNN(4, return_sequences=True,
                                                                                   dtype="float64"),
                           Lambda(lambda h: ops.mean(ops.square(h), axis=1), dtype="float64"),
                           mr.layers.Dense(1, dtype="float64")])
    x = _input((2, 5, 3), "any")
    model(x, training=True)
    model.backward(np.ones((2, 1)))
    kernel = model.layers[0].weights[0]
    analytic = model.layers[0].grads[0].copy()
    numeric = np.zeros_like(kernel)
    eps = 1e-6
    for idx in np.ndindex(kernel.shape):
        old = kernel[idx]
        kernel[idx] = old + eps
        up = model(x).sum()
        kernel[idx] = old - eps
        down = model(x).sum()
        kernel[idx] = old
        numeric[idx] = (up - down) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_every_op_is_registered_by_name():
    for name in ops.__all__:
        assert registry.get_registered_object(f"minirnn>ops.{name}") is getattr(ops, name)


def test_a_lambda_of_an_op_is_saved_by_its_registered_name(tmp_path):
    import minirnn as mr

    model = mr.Sequential([mr.Input((5,)), Lambda(ops.expand_dims, arguments={"axis": -1}), mr.layers.SimpleRNN(3)])
    path = tmp_path / "m.minirnn"
    model.save(path)
    loaded = mr.models.load_model(path)
    assert loaded.layers[0].function is ops.expand_dims
    x = _input((2, 5), "any").astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
