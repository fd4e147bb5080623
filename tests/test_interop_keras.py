"""Keras files: models trained in Keras load into minirnn (.keras and legacy .h5) and predict
the same; minirnn's .keras files load in Keras and predict the same; training resumes from the
saved optimizer state on either side; hostile files are refused before anything is read."""
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import h5py
import keras
import numpy as np
import pytest

import minirnn as mr
from minirnn import ModelFileError
from minirnn.keras.models import model_from_json
from minirnn.saving import keras_files

L = keras.layers
ATOL = 2e-5     # float32 round-off through a few stacked layers


def sequences(n=8, t=6, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, t, d)).astype("float32"), rng.standard_normal((n, 1)).astype("float32")


def token_ids(n=8, t=7, vocab=12, seed=1):
    """Integer sequences padded with zeros at the end (at least one real token each)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, t))
    for row, length in zip(x, rng.integers(1, t + 1, n)):
        row[length:] = 0
    return x.astype("float32"), rng.standard_normal((n, 1)).astype("float32")


def features(n=8, d=6, seed=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype("float32"), rng.standard_normal((n, 1)).astype("float32")


# Keras models covering every layer and flag once; each is trained one epoch before saving.
KERAS_MODELS = {
    "simple_rnn_flags": (lambda: [keras.Input((None, 3)),
                                  L.SimpleRNN(4, return_sequences=True, go_backwards=True, activation="relu"),
                                  L.LSTM(5, return_sequences=True), L.TimeDistributed(L.Dense(2)),
                                  L.SimpleRNN(3), L.Dense(1)], sequences),
    "gru_both_resets": (lambda: [keras.Input((6, 3)), L.GRU(4, return_sequences=True, reset_after=True),
                                 L.Dropout(0.3), L.GRU(3, reset_after=False, go_backwards=True),
                                 L.Dense(2, activation="tanh"), L.Dense(1)], sequences),
    "bidirectional_concat_ave": (lambda: [keras.Input((None, 3)),
                                          L.Bidirectional(L.LSTM(3, return_sequences=True)),
                                          L.Bidirectional(L.GRU(2), merge_mode="ave"), L.Dense(1)], sequences),
    "bidirectional_sum_mul": (lambda: [keras.Input((None, 3)),
                                       L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="sum"),
                                       L.Bidirectional(L.GRU(2, reset_after=False), merge_mode="mul"),
                                       L.Dense(1)], sequences),
    "embedding_mask_zero": (lambda: [keras.Input((7,)), L.Embedding(12, 4, mask_zero=True),
                                     L.LSTM(5, return_sequences=True), L.GRU(3), L.Dense(1)], token_ids),
    "conv1d_pooling": (lambda: [keras.Input((6, 3)), L.Conv1D(4, 3, padding="causal", activation="relu"),
                                L.Conv1D(3, 2, strides=1, padding="same"), L.MaxPooling1D(2),
                                L.LSTM(3), L.Dense(1)], sequences),
    "reshaping_layers": (lambda: [keras.Input((6,)), L.Rescaling(0.5, offset=0.1), L.RepeatVector(4),
                                  L.Permute((2, 1)), L.Masking(0.0), L.LSTM(3, return_sequences=True),
                                  L.Reshape((3, 6)), L.GlobalAveragePooling1D(), L.Flatten(),
                                  L.Dense(1)], features),
}


def trained_keras(layers, data, optimizer="adam"):
    model = keras.Sequential(layers)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    return model, x, y


@pytest.fixture(scope="module")
def keras_saved(tmp_path_factory):
    """{case: (keras model, x, .keras path, .h5 path)}, each trained and saved once."""
    out = {}
    for case, (layers, data) in KERAS_MODELS.items():
        model, x, _ = trained_keras(layers(), data)
        folder = tmp_path_factory.mktemp(case)
        model.save(folder / "model.keras")
        model.save(folder / "model.h5")
        out[case] = (model, x, folder / "model.keras", folder / "model.h5")
    return out


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("case", sorted(KERAS_MODELS))
def test_keras_model_predicts_the_same_in_minirnn(keras_saved, case, suffix):
    keras_model, x, keras_path, h5_path = keras_saved[case]
    model = mr.models.load_model(keras_path if suffix == ".keras" else h5_path)
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers]
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=ATOL)
    assert model.compiled and type(model.optimizer).__name__ == "Adam"
    assert [m.name for m in model.metrics] == ["mae"]


def test_functional_model_with_two_inputs_and_merges(tmp_path):
    seq, aux = keras.Input((None, 3), name="seq"), keras.Input((2,), name="aux")
    joined = L.Concatenate()([L.LSTM(4)(seq), L.Bidirectional(L.GRU(2))(seq), aux])
    out = L.Dense(1)(L.Add()([L.Dense(3, activation="tanh")(joined), L.Dense(3)(joined)]))
    keras_model = keras.Model([seq, aux], out)
    keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(4)
    x = [rng.standard_normal((8, 5, 3)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")]
    y = rng.standard_normal((8, 1)).astype("float32")
    keras_model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    keras_model.save(tmp_path / "model.keras")
    keras_model.save(tmp_path / "model.h5")
    for path in (tmp_path / "model.keras", tmp_path / "model.h5"):
        model = mr.load_model(path)
        assert isinstance(model, mr.Model) and model.input_names == ["seq", "aux"]
        np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=ATOL)
    model = mr.load_model(tmp_path / "model.keras")                 # with its Adam state
    ours = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    theirs = keras_model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_stateful_layer_carries_state_like_keras(tmp_path):
    keras_model, _, _ = trained_keras([keras.Input((4, 2), batch_size=3), L.SimpleRNN(3, stateful=True),
                                       L.Dense(1)], lambda: sequences(3, 4, 2))
    keras_model.layers[0].reset_states()
    keras_model.save(tmp_path / "stateful.keras")
    model = mr.models.load_model(tmp_path / "stateful.keras")
    assert model.layers[0].stateful
    for seed in (5, 6):                   # the second call starts from the first call's final state
        x = sequences(3, 4, 2, seed)[0]
        np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=ATOL)


@pytest.mark.parametrize("optimizer", [keras.optimizers.Adam(0.01), keras.optimizers.SGD(0.05, momentum=0.9),
                                       keras.optimizers.RMSprop(0.005, momentum=0.5, centered=True)],
                         ids=["adam", "sgd_momentum", "rmsprop_centered"])
def test_fit_resumes_from_keras_optimizer_state(tmp_path, optimizer):
    keras_model, x, y = trained_keras([keras.Input((6, 3)), L.GRU(4), L.Dense(1)], sequences, optimizer)
    keras_model.save(tmp_path / "model.keras")
    model = mr.models.load_model(tmp_path / "model.keras")
    assert model.optimizer.iterations == int(keras_model.optimizer.iterations) == 2
    ours = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    theirs = keras_model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for w, v in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(w, v, atol=1e-5)


def minirnn_trained(optimizer, seed=3):
    mr.set_random_seed(seed)
    model = mr.Sequential([mr.Input((None, 3)), mr.layers.Conv1D(4, 2, padding="causal", name="conv"),
                           mr.Bidirectional(mr.LSTM(3, return_sequences=True), merge_mode="concat", name="bi"),
                           mr.GRU(3, reset_after=False, name="gru"), mr.Dense(1, name="out")])
    model.compile(optimizer=optimizer, loss="huber", metrics=["mae"])
    x, y = sequences()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    return model, x, y


def test_keras_opens_minirnn_keras_file_and_resumes_fit(tmp_path):
    model, x, y = minirnn_trained(mr.optimizers.Adam(0.01))
    model.save(tmp_path / "model.keras")
    keras_model = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), model.predict(x, verbose=0), atol=ATOL)
    assert int(keras_model.optimizer.iterations) == model.optimizer.iterations
    theirs = keras_model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    ours = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_model_checkpoint_writes_keras_files(tmp_path):
    model, x, y = minirnn_trained(mr.optimizers.SGD(0.01, momentum=0.9))
    path = tmp_path / "best.keras"
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y),
              callbacks=[mr.callbacks.ModelCheckpoint(str(path), save_best_only=True)])
    keras_model = keras.models.load_model(path)
    best = keras_model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert best == pytest.approx(min(model.history.history["val_loss"]), rel=1e-5)


def jena_conv_lstm():
    """The book's Jena chapter shape: Input -> Conv1D -> MaxPooling1D -> LSTM -> Dense."""
    inputs = mr.Input(shape=(12, 3))
    x = mr.layers.Conv1D(4, 3, activation="relu")(inputs)
    x = mr.layers.MaxPooling1D(2)(x)
    x = mr.LSTM(5)(x)
    model = mr.Model(inputs, mr.Dense(1)(x))
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(5)
    return model, rng.standard_normal((8, 12, 3)).astype("float32"), rng.standard_normal((8, 1)).astype("float32")


def two_inputs_two_outputs():
    """Two inputs merged by Concatenate and Add, a Dense shared by three calls, a nested
    Sequential, two outputs."""
    seq, aux = mr.Input(shape=(None, 3), name="seq"), mr.Input(shape=(4,), name="aux")
    shared = mr.Dense(4, activation="tanh", name="shared")
    h = mr.layers.Concatenate()([mr.GRU(3)(seq), shared(aux)])
    g = mr.layers.Add()([shared(mr.Dense(4)(aux)), shared(aux)])
    head = mr.Sequential([mr.Input((4,)), mr.Dense(3, activation="relu"), mr.Dense(2)], name="head")
    model = mr.Model([seq, aux], [mr.Dense(1, name="value")(h), head(g)])
    model.compile(optimizer=mr.optimizers.Adam(0.01), loss=["mse", "mae"], loss_weights=[1.0, 0.5],
                  metrics=[["mae"], []])
    rng = np.random.default_rng(6)
    x = [rng.standard_normal((8, 5, 3)).astype("float32"), rng.standard_normal((8, 4)).astype("float32")]
    return model, x, [rng.standard_normal((8, 1)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")]


@pytest.mark.parametrize("build", [jena_conv_lstm, two_inputs_two_outputs])
def test_keras_opens_minirnn_functional_keras_file(tmp_path, build):
    mr.set_random_seed(3)
    model, x, y = build()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "model.keras")
    keras_model = keras.models.load_model(tmp_path / "model.keras")
    assert [layer.name for layer in keras_model.layers] == [layer.name for layer in model.layers]
    theirs, ours = keras_model.predict(x, verbose=0), model.predict(x, verbose=0)
    for a, b in zip(*(p if isinstance(p, list) else [p] for p in (theirs, ours)), strict=True):
        np.testing.assert_allclose(a, b, atol=ATOL)
    np.testing.assert_allclose(keras_model.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-5)
    again = mr.load_model(tmp_path / "model.keras")
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.optimizer.iterations == model.optimizer.iterations == int(keras_model.optimizer.iterations)


def test_jena_checkpoint_block_runs_with_the_import_changed(tmp_path, monkeypatch):
    """The book's block, Keras code with only ``import keras`` changed: a functional model,
    ModelCheckpoint(save_best_only=True) to "jena_dense.keras", load_model, evaluate."""
    import minirnn.keras as keras_
    from minirnn.keras import layers

    monkeypatch.chdir(tmp_path)
    keras_.utils.set_random_seed(0)
    raw = np.random.default_rng(7).standard_normal((80, 3)).astype("float32")
    sequence_length = 6
    train_dataset = keras_.utils.timeseries_dataset_from_array(
        raw[:-sequence_length], targets=raw[sequence_length:, 1], sequence_length=sequence_length,
        batch_size=16, end_index=50)
    val_dataset = keras_.utils.timeseries_dataset_from_array(
        raw[:-sequence_length], targets=raw[sequence_length:, 1], sequence_length=sequence_length,
        batch_size=16, start_index=50)

    inputs = keras_.Input(shape=(sequence_length, raw.shape[-1]))
    x = layers.Flatten()(inputs)
    x = layers.Dense(16, activation="relu")(x)
    outputs = layers.Dense(1)(x)
    model = keras_.Model(inputs, outputs)
    callbacks = [keras_.callbacks.ModelCheckpoint("jena_dense.keras", save_best_only=True)]
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    history = model.fit(train_dataset, epochs=2, validation_data=val_dataset, callbacks=callbacks, verbose=0)
    model = keras_.models.load_model("jena_dense.keras")
    ours = model.evaluate(val_dataset, verbose=0)

    best = int(np.argmin(history.history["val_loss"]))
    assert ours == pytest.approx([history.history["val_loss"][best], history.history["val_mae"][best]], rel=1e-5)
    x_val, y_val = (np.concatenate(part) for part in zip(*val_dataset))
    theirs = keras.models.load_model(tmp_path / "jena_dense.keras").evaluate(x_val, y_val, verbose=0)
    assert theirs == pytest.approx(ours, rel=1e-5)


def test_functional_model_keras_cannot_express_is_refused(tmp_path):
    inner_input = mr.Input((4,))
    inner = mr.Model(inner_input, mr.Dense(2)(inner_input), name="inner")
    inputs = mr.Input((4,))
    model = mr.Model(inputs, inner(mr.Dense(4)(inputs)))
    with pytest.raises(ValueError, match=r"Layer 'inner' \(Model\): a functional model nested in a model"):
        model.save(tmp_path / "nested.keras")
    assert not (tmp_path / "nested.keras").exists()


def test_weights_files_both_ways(tmp_path):
    model, x, _ = minirnn_trained(mr.optimizers.RMSprop())
    model.save_weights(tmp_path / "ours.weights.h5")
    keras_model = keras.Sequential([keras.Input((None, 3)), L.Conv1D(4, 2, padding="causal", name="conv"),
                                    L.Bidirectional(L.LSTM(3, return_sequences=True), name="bi"),
                                    L.GRU(3, reset_after=False, name="gru"), L.Dense(1, name="out")])
    keras_model.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), model.predict(x, verbose=0), atol=ATOL)
    keras_model.save(tmp_path / "theirs.h5")          # legacy HDF5 onto a model built in code
    fresh, *_ = minirnn_trained(mr.optimizers.RMSprop(), seed=4)
    fresh.load_weights(tmp_path / "theirs.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=ATOL)


def test_load_path_needs_neither_tensorflow_nor_keras(keras_saved, tmp_path):
    keras_model, x, path, h5_path = keras_saved["bidirectional_concat_ave"]
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "torch"):
                    raise ImportError(f"{{name}} is blocked")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import minirnn
        x = np.load({str(tmp_path / "x.npy")!r})
        for path in ({str(path)!r}, {str(h5_path)!r}):
            np.save(path + ".npy", minirnn.load_model(path).predict(x, verbose=0))
        # a copy: minirnn's background compile thread may import while this reads
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules.copy())
    """)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    run = subprocess.run([sys.executable, "-c", script], env=env, timeout=300, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = keras_model.predict(x, verbose=0)
    for p in (path, h5_path):
        np.testing.assert_allclose(np.load(f"{p}.npy"), expected, atol=ATOL)


# -- refused files -------------------------------------------------------------------------------
def test_unsupported_layers_and_options_listed_in_one_error(tmp_path):
    model = keras.Sequential([keras.Input((5, 3)), L.LSTM(4, kernel_regularizer="l2", return_sequences=True),
                              L.GaussianNoise(0.1), L.GRU(2), L.Dense(1)])
    model.save(tmp_path / "model.keras")
    with pytest.raises(ModelFileError) as error:
        mr.models.load_model(tmp_path / "model.keras")
    message = str(error.value)
    assert re.search(r"'lstm(_\d+)?' \(LSTM\): kernel_regularizer='L2' is not supported", message), message
    assert "(GaussianNoise): no minirnn counterpart" in message
    assert str(tmp_path / "model.keras") in message


def test_lambda_bytecode_is_refused_and_substituted_through_custom_objects(tmp_path):
    model = keras.Sequential([keras.Input((5, 3)), L.Lambda(lambda t: t * 2.0, name="double"), L.LSTM(2)])
    model.compile(loss="mse")
    model.save(tmp_path / "model.keras")
    for safe_mode in (True, False):        # never run, whatever the mode
        with pytest.raises(ModelFileError, match=r"Layer 'double' \(Lambda\): holds Python bytecode.*"
                                                 r"custom_objects=\{'double': fn\}"):
            mr.models.load_model(tmp_path / "model.keras", safe_mode=safe_mode)
    loaded = mr.models.load_model(tmp_path / "model.keras", custom_objects={"double": lambda t: t * 2.0})
    x = sequences(4, 5, 3)[0]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=ATOL)


def rewrite_weights(source, target, edit):
    """Copy a .keras file, applying `edit(h5py.File)` to its weights."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as f:
        edit(f)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.fixture(scope="module")
def small_keras_file(tmp_path_factory):
    model = keras.Sequential([keras.Input((5, 3)), L.LSTM(4), L.Dense(1)])
    path = tmp_path_factory.mktemp("small") / "model.keras"
    model.save(path)
    return path


def test_external_and_soft_links_refused(small_keras_file, tmp_path):
    with h5py.File(tmp_path / "outside.h5", "w") as f:
        f["w"] = np.zeros((3, 16), "float32")

    def external(f):
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars/0"] = h5py.ExternalLink(str(tmp_path / "outside.h5"), "/w")

    def soft(f):
        f["elsewhere"] = np.zeros((3, 16), "float32")
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars/0"] = h5py.SoftLink("/elsewhere")
    for name, edit in (("external", external), ("soft", soft)):
        rewrite_weights(small_keras_file, tmp_path / f"{name}.keras", edit)
        with pytest.raises(ModelFileError, match=r"layers/lstm/cell/vars/0.*(ExternalLink|SoftLink).*refused"):
            mr.models.load_model(tmp_path / f"{name}.keras")


def test_shapes_checked_before_anything_is_read(small_keras_file, tmp_path):
    def wrong_shape(f):
        del f["layers/lstm/cell/vars/1"]
        f["layers/lstm/cell/vars/1"] = np.zeros((5, 16), "float32")
    rewrite_weights(small_keras_file, tmp_path / "wrong.keras", wrong_shape)
    with pytest.raises(ModelFileError, match=r"vars/1': shape \(5, 16\) does not match the layer's \(4, 16\)"):
        mr.models.load_model(tmp_path / "wrong.keras")

    # A config claiming a huge layer, with datasets declared (not stored) at that size: refused
    # by the byte budget before any weight is allocated or read.
    units = 200_000

    def huge(f):
        for i, shape in enumerate([(3, 4 * units), (units, 4 * units), (4 * units,)]):
            del f[f"layers/lstm/cell/vars/{i}"]
            f.create_dataset(f"layers/lstm/cell/vars/{i}", shape=shape, dtype="float32", chunks=True)
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(units, 1), dtype="float32")
    rewrite_weights(small_keras_file, tmp_path / "huge.keras", huge)
    with zipfile.ZipFile(tmp_path / "huge.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["units"] = units
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "huge.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="limit of"):
        mr.models.load_model(tmp_path / "huge.keras")


def test_zip_members_are_bounded(small_keras_file, monkeypatch):
    monkeypatch.setattr(keras_files, "MAX_CONFIG_BYTES", 100)     # the limit minirnn.saving.readers sets
    with pytest.raises(ModelFileError, match=r"member 'config.json': it holds [\d,]+ bytes, more than the 100"):
        mr.models.load_model(small_keras_file)


def test_example_serves_a_keras_trained_model_without_tensorflow(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "keras_to_minirnn", os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "keras_to_minirnn.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--epochs", "1", "--model", str(tmp_path / "course.keras")])
    assert result["tensorflow_imported"] is False
    assert result["max_difference"] < 1e-3          # forecasts of order 10-100, float32
    assert result["keras"] > 0 and result["latency"] > 0
    assert "predict, one window (median)" in capsys.readouterr().out


# -- to_json / model_from_json -------------------------------------------------------------
def test_to_json_and_model_from_json_both_ways():
    """A minirnn model's to_json() makes the same model in keras.models.model_from_json, compiled
    as it was (Keras compiles from the JSON too), and Keras's to_json() in minirnn's; with the
    weights copied over, the same predictions."""
    x, _ = sequences(t=5, d=2)
    ours = mr.Sequential([mr.Input((5, 2)), mr.layers.LSTM(4, return_sequences=True), mr.layers.GRU(3),
                          mr.layers.Dense(1)])
    ours.compile(optimizer=mr.optimizers.SGD(0.01, momentum=0.9), loss="huber")
    theirs = keras.models.model_from_json(ours.to_json())
    assert [type(layer).__name__ for layer in theirs.layers] == ["LSTM", "GRU", "Dense"]
    assert isinstance(theirs.optimizer, keras.optimizers.SGD) and theirs.optimizer.momentum == pytest.approx(0.9)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), atol=ATOL)

    inputs = keras.Input((5, 2))
    kmodel = keras.Model(inputs, L.Dense(2)(L.Bidirectional(L.LSTM(3))(inputs)))
    kmodel.compile(optimizer="adam", loss="mse")
    made = model_from_json(kmodel.to_json())
    assert made.compiled and isinstance(made.optimizer, mr.optimizers.Adam)
    assert [w.shape for w in made.get_weights()] == [w.shape for w in kmodel.get_weights()]
    made.set_weights(kmodel.get_weights())
    np.testing.assert_allclose(made.predict(x, verbose=0), kmodel.predict(x, verbose=0), atol=ATOL)
    assert json.loads(made.to_json())["class_name"] == "Functional"


def test_model_from_json_is_read_like_an_untrusted_file(monkeypatch):
    """Not JSON, not a string, a config asking for more than the budget (safe_mode=False lifts it):
    each a clear error before anything is built."""
    from minirnn.saving import readers

    config = mr.Sequential([mr.Input((5, 2)), mr.layers.LSTM(64), mr.layers.Dense(1)]).to_json()
    with pytest.raises(ModelFileError, match=r"<model JSON>.*not valid JSON"):
        model_from_json(config[:-1])
    with pytest.raises(TypeError, match="model_from_json expects the JSON string"):
        model_from_json(json.loads(config))
    monkeypatch.setattr(readers, "MAX_WEIGHT_BYTES", 32 * 1024)          # an LSTM(64) takes 66 KiB
    with pytest.raises(ModelFileError, match=r"LSTM.*more than the .* a model config may make minirnn "
                                             r"allocate; if you trust the config, pass safe_mode=False"):
        model_from_json(config)
    model = model_from_json(config, safe_mode=False)
    assert [w.shape for w in model.get_weights()] == [(2, 256), (64, 256), (256,), (64, 1), (1,)]
