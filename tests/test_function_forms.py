"""keras.losses.* and keras.metrics.* in function form, and keras.ops conversions, against Keras 3."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402

rng = np.random.default_rng(0)
REGRESSION = (rng.normal(size=(4, 3, 5)).astype("float32"), rng.normal(size=(4, 3, 5)).astype("float32"))
POSITIVE = (rng.random((4, 5)).astype("float32") * 3, rng.random((4, 5)).astype("float32") * 3 + 0.1)
PROBS = rng.random((6, 4)).astype("float32")
PROBS /= PROBS.sum(axis=-1, keepdims=True)
ONE_HOT = np.eye(4, dtype="float32")[rng.integers(0, 4, 6)]
BINARY = (rng.integers(0, 2, (5, 3)).astype("float32"), rng.random((5, 3)).astype("float32"))
LOGITS = rng.normal(size=(6, 4)).astype("float32")

CASES = [
    ("losses", "mean_squared_error", REGRESSION, {}),
    ("losses", "mean_absolute_error", REGRESSION, {}),
    ("losses", "mean_absolute_percentage_error", REGRESSION, {}),
    ("losses", "mean_squared_logarithmic_error", POSITIVE, {}),
    ("losses", "huber", REGRESSION, {"delta": 0.5}),
    ("losses", "log_cosh", REGRESSION, {}),
    ("losses", "binary_crossentropy", BINARY, {}),
    ("losses", "binary_crossentropy", BINARY, {"label_smoothing": 0.1}),
    ("losses", "binary_crossentropy", (BINARY[0], LOGITS[:5, :3]), {"from_logits": True}),
    ("losses", "categorical_crossentropy", (ONE_HOT, PROBS), {}),
    ("losses", "categorical_crossentropy", (ONE_HOT, LOGITS), {"from_logits": True}),
    ("losses", "sparse_categorical_crossentropy", (np.argmax(ONE_HOT, -1), PROBS), {}),
    ("losses", "kl_divergence", (PROBS[::-1].copy(), PROBS), {}),
    ("losses", "poisson", POSITIVE, {}),
    ("losses", "hinge", (BINARY[0], LOGITS[:5, :3]), {}),
    ("losses", "squared_hinge", (BINARY[0] * 2 - 1, LOGITS[:5, :3]), {}),
    ("losses", "categorical_hinge", (ONE_HOT, LOGITS), {}),
    ("losses", "cosine_similarity", REGRESSION, {}),
    ("metrics", "binary_accuracy", BINARY, {}),
    ("metrics", "categorical_accuracy", (ONE_HOT, PROBS), {}),
    ("metrics", "sparse_categorical_accuracy", (np.argmax(ONE_HOT, -1), PROBS), {}),
    ("metrics", "top_k_categorical_accuracy", (ONE_HOT, PROBS), {"k": 2}),
    ("metrics", "sparse_top_k_categorical_accuracy", (np.argmax(ONE_HOT, -1), PROBS), {"k": 2}),
    ("metrics", "mean_absolute_percentage_error", REGRESSION, {}),
    ("metrics", "kl_divergence", (PROBS[::-1].copy(), PROBS), {}),
]


@pytest.mark.parametrize("module, name, data, kwargs", CASES)
def test_function_forms_match_keras(module, name, data, kwargs):
    theirs = np.asarray(getattr(getattr(keras, module), name)(*data, **kwargs))
    mine = getattr(getattr(mk, module), name)(*data, **kwargs)
    assert np.shape(mine) == theirs.shape
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_every_function_form_keras_has_for_our_losses_is_there():
    ours = set(mk.losses.__all__)
    for name in ("mean_squared_error", "binary_crossentropy", "categorical_crossentropy", "huber", "hinge"):
        assert name in ours and hasattr(keras.losses, name)


def test_compile_takes_the_function_form_of_a_loss():
    x = rng.normal(size=(16, 5, 2)).astype("float32")
    y = rng.integers(0, 2, (16, 1)).astype("float32")
    weights = None
    losses = []
    for loss in ("binary_crossentropy", mk.losses.binary_crossentropy):
        mr.set_random_seed(1)
        model = mk.Sequential([mk.Input(shape=(5, 2)), mk.layers.GRU(3), mk.layers.Dense(1, activation="sigmoid")])
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer="sgd", loss=loss, metrics=[mk.metrics.binary_accuracy])
        losses.append(model.fit(x, y, epochs=2, verbose=0, shuffle=False).history["loss"])
    assert losses[0] == losses[1]
    with pytest.raises(ValueError, match="plain callable"):
        mk.Sequential([mk.layers.Dense(1)]).compile(optimizer="sgd", loss=mk.losses.poisson)


def test_metric_names_work_as_strings():
    model = mk.Sequential([mk.Input(shape=(3,)), mk.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mape", "msle", "logcosh", "kld"])
    logs = model.evaluate(POSITIVE[0][:, :3], POSITIVE[1][:, :2], return_dict=True, verbose=0)
    assert set(logs) == {"loss", "mape", "msle", "logcosh", "kld"}


def test_ops_conversions_like_keras():
    t = tf.constant([[1.0, 2.0]])
    for value in (t, [[1.0, 2.0]], np.array([[1.0, 2.0]], "float32")):
        mine = mk.ops.convert_to_numpy(value)
        assert isinstance(mine, np.ndarray)
        np.testing.assert_array_equal(mine, keras.ops.convert_to_numpy(value))
    assert mk.ops.convert_to_tensor([1, 2], dtype="float32").dtype == np.float32
    import torch

    np.testing.assert_array_equal(mk.ops.convert_to_numpy(torch.ones(2, requires_grad=True)), np.ones(2))
