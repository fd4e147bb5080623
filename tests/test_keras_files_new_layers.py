""".keras files with the normalization, activation, convolution, pooling and ConvLSTM layers, both
ways: a file minirnn writes opens in Keras 3 and predicts the same (moving statistics and
optimizer state included); a file Keras writes loads in minirnn and predicts the same."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")     # Keras: deprecated


def video(lib):
    return lib.Sequential([lib.Input(shape=(3, 6, 6, 1)),
                           lib.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True, dropout=0.1),
                           lib.layers.BatchNormalization(momentum=0.9), lib.layers.ReLU(max_value=3.0),
                           lib.layers.Conv3D(2, 3, padding="same"), lib.layers.LayerNormalization(),
                           lib.layers.MaxPooling3D((1, 2, 2)), lib.layers.AveragePooling3D(1),
                           lib.layers.GlobalAveragePooling3D(), lib.layers.Dense(3), lib.layers.Softmax()])


def series(lib):
    inputs = lib.Input(shape=(12, 2))
    x = lib.layers.Conv1D(4, 3, padding="same")(inputs)
    x = lib.layers.BatchNormalization()(x)
    x = lib.layers.Activation("gelu")(x)
    x = lib.layers.LeakyReLU()(x)
    x = lib.layers.ELU(alpha=0.5)(x)
    x = lib.layers.AveragePooling1D(2)(x)
    x = lib.layers.Reshape((6, 4, 1))(x)
    x = lib.layers.ConvLSTM1D(2, 2, return_sequences=False)(x)
    x = lib.layers.GlobalMaxPooling1D()(x)
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(x))


def images(lib):
    inputs = lib.Input(shape=(8, 8, 1))
    x = lib.layers.Conv2D(3, 3, activation="relu")(inputs)
    x = lib.layers.MaxPooling2D()(x)
    x = lib.layers.AveragePooling2D(2, padding="same")(x)
    both = lib.layers.Concatenate()([lib.layers.GlobalAveragePooling2D()(x), lib.layers.GlobalMaxPooling2D()(x)])
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(both))


def volumes(lib):
    return lib.Sequential([lib.Input(shape=(2, 4, 4, 3, 1)), lib.layers.ConvLSTM3D(2, 2, padding="same"),
                           lib.layers.GlobalMaxPooling3D(), lib.layers.Dense(3, activation="softmax")])


def renormalized(lib):
    """Batch renormalization (five statistics) and LayerNormalization's rms_scaling (gamma only)."""
    return lib.Sequential([lib.Input(shape=(6, 3)),
                           lib.layers.BatchNormalization(renorm=True, renorm_clipping={"rmax": 3.0, "dmax": 2.0},
                                                         renorm_momentum=0.9, momentum=0.8),
                           lib.layers.LayerNormalization(rms_scaling=True), lib.layers.GlobalAveragePooling1D(),
                           lib.layers.Dense(3, activation="softmax")])


MODELS = {"video": (video, (4, 3, 6, 6, 1)), "series": (series, (4, 12, 2)), "images": (images, (4, 8, 8, 1)),
          "volumes": (volumes, (4, 2, 4, 4, 3, 1)), "renormalized": (renormalized, (8, 6, 3))}


def data(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape).astype("float32"), rng.integers(0, 3, shape[0])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_minirnn_file_opens_in_keras(name, tmp_path):
    build, shape = MODELS[name]
    x, y = data(shape)
    mr.set_random_seed(1)
    model = build(mk)
    model.compile(optimizer=mk.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    for a, b in zip(theirs.get_weights(), model.get_weights()):       # moving statistics included
        np.testing.assert_array_equal(a, b)
    assert len(theirs.optimizer.variables) == 2 + 2 * len(model.trainable_weights)     # Adam's m and v
    if name != "video":          # (dropout draws differ) one more step from the same state: same loss
        loss_k = float(theirs.train_on_batch(x, y))
        loss_m = float(model.train_on_batch(x, y))
        np.testing.assert_allclose(loss_m, loss_k, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_loads_in_minirnn(name, tmp_path):
    build, shape = MODELS[name]
    x, y = data(shape, seed=1)
    keras.utils.set_random_seed(2)
    theirs = build(keras)
    theirs.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    theirs.fit(x, y, epochs=2, verbose=0)
    theirs.save(tmp_path / "k.keras")
    model = mr.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)
    for a, b in zip(model.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    if name != "video":
        np.testing.assert_allclose(float(model.train_on_batch(x, y)), float(theirs.train_on_batch(x, y)),
                                   rtol=1e-4)


def test_keras_weights_file_of_batch_normalization(tmp_path):
    """save_weights / load_weights in Keras's .weights.h5 both ways."""
    x, _ = data((4, 12, 2))
    keras.utils.set_random_seed(3)
    theirs = series(keras)
    theirs(x, training=True)                 # moving statistics away from their start
    theirs.save_weights(tmp_path / "k.weights.h5")
    model = series(mk)
    model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)
    model.layers[2](np.random.default_rng(0).random((4, 12, 4)).astype("float32"), training=True)
    model.save_weights(tmp_path / "m.weights.h5")
    theirs.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
