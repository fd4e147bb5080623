import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from minirnn import losses, metrics  # noqa: E402

CASES = [
    ("mse", lambda dtype: keras.losses.MeanSquaredError(dtype=dtype)),
    ("mae", lambda dtype: keras.losses.MeanAbsoluteError(dtype=dtype)),
    ("huber", lambda dtype: keras.losses.Huber(dtype=dtype)),
    (losses.Huber(delta=2.5), lambda dtype: keras.losses.Huber(delta=2.5, dtype=dtype)),
]
SHAPES = [  # (y_true shape, y_pred shape)
    ((16, 1), (16, 1)),
    ((16,), (16, 1)),
    ((16, 1), (16,)),
    ((16,), (16,)),
    ((4, 7, 3), (4, 7, 3)),
    ((4, 7, 1), (4, 7)),
    ((4, 7), (4, 7, 1)),
]


def make_data(true_shape, pred_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(0, 3, true_shape).astype(dtype)
    y_pred = rng.normal(0, 3, pred_shape).astype(dtype)
    # Exact ties (e = 0) and errors on the Huber kink exercise the subgradient choices.
    flat_true, flat_pred = y_true.reshape(-1), y_pred.reshape(-1)
    flat_pred[:1] = flat_true[:1]
    flat_pred[1:2] = flat_true[1:2] + dtype(1.0)
    return y_true, y_pred


def keras_value_and_grad(keras_loss, y_true, y_pred):
    variable = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = keras_loss(tf.constant(y_true), variable)
    return float(value), tape.gradient(value, variable).numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("true_shape,pred_shape", SHAPES)
@pytest.mark.parametrize("identifier,make_keras", CASES)
def test_value_and_gradient_match_keras(identifier, make_keras, true_shape, pred_shape, dtype):
    y_true, y_pred = make_data(true_shape, pred_shape, dtype)
    loss = losses.get(identifier)
    expected_value, expected_grad = keras_value_and_grad(
        make_keras(np.dtype(dtype).name), y_true, y_pred)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss(y_true, y_pred) == pytest.approx(expected_value, rel=rtol)
    grad = loss.gradient(y_true, y_pred)
    assert grad.shape == y_pred.shape
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=1e-7 if dtype == np.float32 else 0)


@pytest.mark.parametrize("name,keras_fn", [
    ("mse", keras.losses.mean_squared_error),
    ("mae", keras.losses.mean_absolute_error),
    ("huber", keras.losses.huber),
])
@pytest.mark.parametrize("true_shape,pred_shape", [((16,), (16, 1)), ((4, 7, 3), (4, 7, 3))])
def test_per_sample_matches_keras_functions(name, keras_fn, true_shape, pred_shape):
    y_true, y_pred = make_data(true_shape, pred_shape, np.float64)
    expected = keras.ops.convert_to_numpy(keras_fn(y_true, y_pred))
    np.testing.assert_allclose(losses.get(name).per_sample(y_true, y_pred), expected, rtol=1e-6)
    np.testing.assert_allclose(metrics.get(name)(y_true, y_pred), expected, rtol=1e-6)


def test_gradient_matches_finite_differences():
    y_true, y_pred = make_data((5, 3), (5, 3), np.float64, seed=3)
    y_pred[0, 0] += 0.3  # move off the ties, where the derivative is one-sided
    y_pred[0, 1] += 0.3
    for loss in (losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Huber(0.7)):
        grad = loss.gradient(y_true, y_pred)
        step = 1e-6
        for index in np.ndindex(y_pred.shape):
            shifted_up, shifted_down = y_pred.copy(), y_pred.copy()
            shifted_up[index] += step
            shifted_down[index] -= step
            numeric = (loss(y_true, shifted_up) - loss(y_true, shifted_down)) / (2 * step)
            assert grad[index] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_value_and_gradient_agrees_with_separate_calls():
    y_true, y_pred = make_data((8,), (8, 1), np.float32)
    loss = losses.Huber(0.5)
    value, grad = loss.value_and_gradient(y_true, y_pred)
    assert value == loss(y_true, y_pred)
    np.testing.assert_array_equal(grad, loss.gradient(y_true, y_pred))


def test_y_true_is_cast_to_y_pred_dtype():
    y_true = np.arange(4.0)  # float64
    y_pred = np.ones((4, 1), np.float32)
    assert losses.get("mse").gradient(y_true, y_pred).dtype == np.float32
    assert losses.get("mse").gradient(list(y_true), y_pred.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("true_shape,pred_shape", [((16, 3), (16, 2)), ((16,), (16, 3)),
                                                    ((16, 2), (16,)), ((4, 7, 3), (4,))])
def test_incompatible_shapes_raise(true_shape, pred_shape):
    with pytest.raises(ValueError) as error:
        losses.get("mse")(np.zeros(true_shape), np.zeros(pred_shape))
    message = str(error.value)
    assert "mean_squared_error" in message
    assert str(true_shape) in message and str(pred_shape) in message


def test_get():
    mse = losses.MeanSquaredError()
    assert losses.get(mse) is mse
    assert isinstance(losses.get(losses.MeanAbsoluteError), losses.MeanAbsoluteError)
    for name, cls in [("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
                      ("mae", losses.MeanAbsoluteError), ("mean_absolute_error", losses.MeanAbsoluteError),
                      ("huber", losses.Huber), ("huber_loss", losses.Huber), ("Huber", losses.Huber)]:
        assert isinstance(losses.get(name), cls)
    restored = losses.deserialize(losses.serialize(losses.Huber(delta=3.0)))
    assert isinstance(restored, losses.Huber) and restored.delta == 3.0
    with pytest.raises(ValueError, match="msle.*huber.*mae"):
        losses.get("msle")
    with pytest.raises(ValueError, match="Loss"):
        losses.get(lambda y_true, y_pred: 0.0)


def test_huber_rejects_negative_delta():
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=-1.0)


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 9), features=st.integers(1, 4), delta=st.floats(0.1, 5.0),
       seed=st.integers(0, 2**16))
def test_huber_matches_keras_on_random_shapes(batch, features, delta, seed):
    y_true, y_pred = make_data((batch, features), (batch, features), np.float64, seed)
    expected_value, expected_grad = keras_value_and_grad(
        keras.losses.Huber(delta=delta, dtype="float64"), y_true, y_pred)
    value, grad = losses.Huber(delta).value_and_gradient(y_true, y_pred)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


class TestMeanTracker:
    def test_epoch_mean_over_unequal_batches(self):
        rng = np.random.default_rng(1)
        y_true, y_pred = rng.normal(size=(10,)), rng.normal(size=(10, 1))
        tracker = metrics.tracker("mae")
        assert tracker.name == "mae"
        for start in range(0, 10, 4):  # batches of 4, 4, 2
            tracker.update_state(y_true[start:start + 4], y_pred[start:start + 4])
        keras_metric = keras.metrics.MeanAbsoluteError(dtype="float64")
        for start in range(0, 10, 4):
            keras_metric.update_state(y_true[start:start + 4], y_pred[start:start + 4])
        assert tracker.result() == pytest.approx(float(keras_metric.result()), rel=1e-12)

    def test_scalar_with_count_weight(self):
        mean = metrics.Mean()
        assert mean.result() == 0.0
        mean.update_state(2.0, sample_weight=3)
        mean.update_state(np.array([6.0]))
        assert mean.result() == pytest.approx(3.0)
        mean.reset_state()
        mean.update_state([1.0, 2.0], sample_weight=[3.0, 1.0])
        assert mean.result() == pytest.approx(1.25)

    def test_get(self):
        assert metrics.get("mse") is metrics.mean_squared_error
        assert metrics.get("mean_absolute_error") is metrics.mean_absolute_error
        assert isinstance(metrics.get("MeanAbsoluteError"), metrics.MeanAbsoluteError)
        assert metrics.tracker(metrics.MeanSquaredError()).name == "mean_squared_error"
        with pytest.raises(ValueError, match="'rmse'.*mae"):
            metrics.get("rmse")
