"""Legacy Keras .h5 files written by minirnn (model.save("x.h5"), save_weights("x.h5"),
ModelCheckpoint("best_model.h5")): Keras 3 loads them and predicts the same; minirnn reads them
back with the optimizer state; Keras's own legacy files with the new layers load in minirnn."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402

rng = np.random.default_rng(0)
X = rng.random((8, 6, 2)).astype("float32")
Y = rng.random((8, 1)).astype("float32")


def stacked(lib):
    return lib.Sequential([lib.Input(shape=(6, 2)), lib.layers.Conv1D(4, 3, padding="same"),
                           lib.layers.BatchNormalization(), lib.layers.ReLU(), lib.layers.LSTM(3, return_sequences=True),
                           lib.layers.Bidirectional(lib.layers.GRU(2)), lib.layers.Dense(1)])


def branched(lib):
    inputs = lib.Input(shape=(6, 2))
    inner = lib.Sequential([lib.layers.Dense(3, activation="tanh")])
    a = lib.layers.SimpleRNN(3)(inner(inputs))
    b = lib.layers.GlobalAveragePooling1D()(lib.layers.LayerNormalization()(inputs))
    return lib.Model(inputs, lib.layers.Dense(1)(lib.layers.Concatenate()([a, b])))


def trained(build, optimizer):
    mr.set_random_seed(0)
    model = build(mk)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    return model


@pytest.mark.parametrize("build, optimizer", [(stacked, "adam"), (branched, "rmsprop"),
                                              (stacked, mk.optimizers.SGD(0.01, momentum=0.9))])
def test_minirnn_h5_opens_in_keras(build, optimizer, tmp_path):
    model = trained(build, optimizer)
    model.save(tmp_path / "model.h5")
    theirs = keras.models.load_model(tmp_path / "model.h5")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    for a, b in zip(theirs.get_weights(), model.get_weights()):          # moving statistics included
        np.testing.assert_array_equal(a, b)
    # Keras 3.15 takes the iteration count from a legacy file's optimizer_weights (from its own
    # files too, whose slots it drops the same way); minirnn restores the slots as well (below).
    assert int(theirs.optimizer.iterations.numpy()) == model.optimizer.iterations == 4
    with h5py.File(tmp_path / "model.h5") as f:
        names = f["optimizer_weights"].attrs["weight_names"]
    assert len(names) == 2 + len(model.optimizer._slot_names) * len(model.trainable_weights)


def test_minirnn_h5_round_trip_keeps_the_optimizer_state(tmp_path):
    model = trained(stacked, "adam")
    model.save(tmp_path / "model.h5")
    loaded = mr.load_model(tmp_path / "model.h5")
    assert loaded.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.train_on_batch(X, Y) == model.train_on_batch(X, Y)       # the same next step


def test_weights_h5_both_ways(tmp_path):
    model = trained(stacked, "adam")
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5") as f:
        assert "model_weights" not in f and "layer_names" in f.attrs
    theirs = stacked(keras)
    theirs.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    again = stacked(mk)
    again.load_weights(tmp_path / "w.h5")
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_model_checkpoint_h5(tmp_path):
    mr.set_random_seed(1)
    model = stacked(mk)
    model.compile(optimizer="adam", loss="mse")
    best, weights = tmp_path / "best_model.h5", tmp_path / "ckpt" / "w.h5"
    callbacks = [mk.callbacks.ModelCheckpoint(str(best), monitor="loss", save_best_only=True),
                 mk.callbacks.ModelCheckpoint(str(weights), save_weights_only=True)]
    model.fit(X, Y, epochs=2, verbose=0, callbacks=callbacks)
    theirs = keras.models.load_model(best)
    np.testing.assert_allclose(theirs.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    assert mr.load_model(best).optimizer.iterations == model.optimizer.iterations
    assert weights.exists()


def test_keras_legacy_h5_with_the_new_layers_loads(tmp_path):
    keras.utils.set_random_seed(2)
    theirs = keras.Sequential([keras.Input(shape=(6, 6, 1)), keras.layers.Conv2D(3, 3, padding="same"),
                               keras.layers.BatchNormalization(), keras.layers.LeakyReLU(),
                               keras.layers.MaxPooling2D(), keras.layers.GlobalAveragePooling2D(),
                               keras.layers.Dense(2), keras.layers.Softmax()])
    images = rng.random((4, 6, 6, 1)).astype("float32")
    theirs(images, training=True)
    theirs.save(tmp_path / "k.h5")
    model = mr.load_model(tmp_path / "k.h5", compile=False)
    np.testing.assert_allclose(model.predict(images, verbose=0), theirs.predict(images, verbose=0), atol=1e-5)


def test_refusals_and_atomic_writes(tmp_path):
    model = mk.Sequential([mk.Input(shape=(6, 2)), mk.layers.Lambda(lambda x: x * 2), mk.layers.Dense(1)])
    path = tmp_path / "m.h5"
    with pytest.raises(ValueError, match=r"Lambda\) has no Keras file form"):
        model.save(path)
    assert not path.exists()
    good = trained(stacked, "adam")
    good.save(path)
    with pytest.raises(FileExistsError):
        good.save(path, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]          # no temporary file left
