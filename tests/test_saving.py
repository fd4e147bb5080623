"""Model persistence: round trips, compile state, weights files, errors, atomic writes, no pickle."""
import errno
import fcntl
import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import minirnn as mr
from minirnn import losses, optimizers, saving
from minirnn.layers import GRU, LSTM, Bidirectional, Dense, Input, InputLayer, Lambda, Layer, SimpleRNN
from minirnn.layers.base import constructor_arguments
from minirnn.models import Sequential, load_model
from minirnn.registry import register_serializable


@register_serializable(package="tests")
def double(x):
    return 2.0 * x


@register_serializable(package="tests")
def take_last_two(x):
    return x[:, -2:]


def data(n=6, t=5, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, t, d)).astype("float32"), rng.standard_normal((n, 1)).astype("float32")


ARCHITECTURES = {
    "simple_rnn": lambda: [Input(shape=(None, 2)), SimpleRNN(4, return_sequences=True, activation="relu"),
                           SimpleRNN(3, go_backwards=True), Dense(1)],
    "lstm": lambda: [Input(shape=(5, 2)), LSTM(4, unit_forget_bias=False, recurrent_activation="hard_sigmoid"),
                     Dense(2, activation="tanh", kernel_initializer="he_normal", bias_initializer="ones"),
                     Dense(1, use_bias=False)],
    "gru_reset_after": lambda: [Input(shape=(None, 2)), GRU(4, reset_after=True), Dense(1)],
    "gru_reset_before": lambda: [Input(shape=(None, 2)), GRU(4, reset_after=False, return_sequences=True),
                                 GRU(3, reset_after=False, use_bias=False), Dense(1)],
    "bidirectional": lambda: [Input(shape=(None, 2)),
                              Bidirectional(LSTM(3, return_sequences=True), merge_mode="sum"),
                              Bidirectional(GRU(2), backward_layer=SimpleRNN(2, go_backwards=True)),
                              Dense(1)],
    "lambda": lambda: [Input(shape=(None, 2)), Lambda(double), Lambda(np.tanh),
                       Lambda(take_last_two, output_shape=(2, 2)), LSTM(3), Dense(1)],
    "rnn_options": lambda: [Input(shape=(None, 2)),
                            LSTM(3, dropout=0.25, recurrent_dropout=0.1, seed=7, return_sequences=True,
                                 kernel_initializer=mr.initializers.RandomNormal(0.0, 0.3, seed=2)),
                            mr.layers.RNN(mr.cells.GRUCell(2, reset_after=False)), Dense(1)],
}


def build(name, seed=0):
    mr.set_random_seed(seed)
    return Sequential(ARCHITECTURES[name](), name=f"model_{name}")


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype and np.array_equal(u, v)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_round_trip_gives_identical_predictions_weights_and_config(name, tmp_path):
    x, _ = data()
    model = build(name)
    path = tmp_path / "model.minirnn"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is Sequential and loaded.name == model.name
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.get_config() == model.get_config()
    assert_same_weights(model, loaded)
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert not loaded.compiled
    for layer in model.layers:                # get_config holds every constructor argument
        assert set(constructor_arguments(type(layer))) <= set(layer.get_config())


def test_bidirectional_keeps_its_halves_and_names(tmp_path):
    model = build("bidirectional")
    model.save(tmp_path / "m.minirnn")
    loaded = load_model(tmp_path / "m.minirnn")
    for a, b in zip(model.layers[:2], loaded.layers[:2]):
        assert (a.forward_layer.name, a.backward_layer.name) == (b.forward_layer.name, b.backward_layer.name)
        assert type(a.backward_layer) is type(b.backward_layer)
        assert b.backward_layer.go_backwards and not b.forward_layer.go_backwards
    assert loaded.layers[0].forward_layer.name == "forward_" + model.layers[0].get_config()["layer"]["config"]["name"]


def test_model_built_by_calling_on_data_round_trips(tmp_path):
    x, _ = data()
    mr.set_random_seed(3)
    model = Sequential([LSTM(3), Dense(1)])
    before = model(x)                               # builds; the Input has unknown shape
    model.save(tmp_path / "m.minirnn")
    loaded = load_model(tmp_path / "m.minirnn")
    assert np.array_equal(loaded(x), before)


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.Adam(0.01, clipnorm=1.0),
    lambda: optimizers.RMSprop(0.005, momentum=0.5, centered=True),
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
])
def test_compile_state_is_restored_and_training_continues_identically(optimizer, tmp_path):
    x, y = data(n=8)
    model = build("lstm")
    model.compile(optimizer=optimizer(), loss=losses.Huber(delta=0.5), metrics=["mae", "mse"])
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "m.minirnn")
    loaded = load_model(tmp_path / "m.minirnn")

    assert loaded.compiled and type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    assert type(loaded.loss) is losses.Huber and loaded.loss.delta == 0.5
    assert [m.name for m in loaded.metrics] == ["mae", "mse"]

    fresh = load_model(tmp_path / "m.minirnn", compile=False)   # same weights, new optimizer state
    fresh.compile(optimizer=optimizer(), loss=losses.Huber(delta=0.5))
    for _ in range(2):
        expected = model.train_on_batch(x, y)
        assert loaded.train_on_batch(x, y) == expected
        fresh.train_on_batch(x, y)
    assert_same_weights(model, loaded)
    # The restored state matters: without it the next steps differ.
    assert not all(np.array_equal(u, v) for u, v in zip(model.get_weights(), fresh.get_weights()))
    history_a = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    history_b = loaded.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    assert history_a == history_b


def test_save_weights_loads_into_a_fresh_model_with_optimizer_state(tmp_path):
    x, y = data(n=8)
    model = build("gru_reset_before", seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    path = tmp_path / "w.weights.npz"
    model.save_weights(path)

    other = build("gru_reset_before", seed=1)       # different initial weights
    assert not np.allclose(other.predict(x), model.predict(x))
    other.compile(optimizer="adam", loss="mse")
    other.load_weights(path)
    assert_same_weights(model, other)
    assert np.array_equal(other.predict(x), model.predict(x))
    assert model.train_on_batch(x, y) == other.train_on_batch(x, y)   # Adam slots came along
    assert_same_weights(model, other)

    unbuilt = Sequential([GRU(4, reset_after=False, return_sequences=True),
                          GRU(3, reset_after=False, use_bias=False), Dense(1)])
    unbuilt.load_weights(tmp_path / "w.weights.npz")  # built from the shapes in the file
    model.save(tmp_path / "m.minirnn")
    unbuilt.load_weights(tmp_path / "m.minirnn")      # a model file also holds the weights
    assert_same_weights(model, unbuilt)


def test_load_weights_checks_counts_and_shapes_and_names_the_layer(tmp_path):
    model = build("lstm")
    model.save_weights(tmp_path / "w.weights.npz")
    mr.set_random_seed(5)
    wrong_units = Sequential([Input(shape=(5, 2)), LSTM(5, name="my_lstm"), Dense(2), Dense(1, use_bias=False)])
    before = wrong_units.get_weights()
    with pytest.raises(ValueError, match=r"Layer 'my_lstm' \(LSTM\) weight 0 has shape \(2, 20\).*\(2, 16\)"):
        wrong_units.load_weights(tmp_path / "w.weights.npz")
    assert all(np.array_equal(u, v) for u, v in zip(before, wrong_units.get_weights()))   # nothing loaded
    short = Sequential([Input(shape=(5, 2)), LSTM(4), Dense(1)])
    with pytest.raises(ValueError, match=r"has 2 layers .* holds 3"):
        short.load_weights(tmp_path / "w.weights.npz")
    swapped = Sequential([Input(shape=(5, 2)), GRU(4), Dense(2), Dense(1, use_bias=False)])
    with pytest.raises(ValueError, match=r"Layer 'gru\w*' \(GRU\) cannot load the weights of the saved LSTM"):
        swapped.load_weights(tmp_path / "w.weights.npz")
    bias = Sequential([Input(shape=(5, 2)), LSTM(4), Dense(2), Dense(1, name="head")])
    with pytest.raises(ValueError, match=r"Layer 'head' \(Dense\) expects 2 weight arrays, but .* holds 1"):
        bias.load_weights(tmp_path / "w.weights.npz")
    with pytest.warns(UserWarning, match="skipped"):
        bias.load_weights(tmp_path / "w.weights.npz", skip_mismatch=True)
    assert np.array_equal(bias.layers[0].get_weights()[0], model.layers[0].get_weights()[0])


def rewritten(path, edit, name="bad.minirnn"):
    """A copy of the model file `path` whose config.json went through ``edit(config)``."""
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    edit(config)
    bad = path.parent / name
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("model.weights.npz", src.read("model.weights.npz"))
    return bad


def test_a_python_function_saves_as_source_and_loads_only_when_trusted(tmp_path):
    x, _ = data()

    def local(x):
        return x + 1

    for function, name in ((lambda x: x * 2, "<lambda>"), (local, "local")):
        model = Sequential([Input(shape=(None, 2)), Lambda(function, name="scaler"), LSTM(2)])
        path = tmp_path / "m.minirnn"
        model.save(path)
        with pytest.raises(mr.ModelFileError, match=rf"m\.minirnn.*layer 'scaler' \(Lambda\) field 'function'.*"
                                                    rf"{re.escape(name)}' was saved as source code.*safe_mode=False"):
            load_model(path)
        trusted = load_model(path, safe_mode=False)            # made again from its source
        assert trusted.layers[0].function is not function
        assert np.array_equal(trusted.predict(x), model.predict(x))
        substituted = load_model(path, custom_objects={name: function})
        assert substituted.layers[0].function is function


def test_functions_are_found_by_registered_name_only(tmp_path):
    model = Sequential([Input(shape=(None, 2)), Lambda(double), LSTM(2)])
    path = tmp_path / "m.minirnn"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert config["model"]["config"]["layers"][1]["config"]["function"] == "tests>double"

    def function(value):
        return rewritten(path, lambda c: c["model"]["config"]["layers"][1]["config"].update(function=value))

    assert load_model(function(f"{__name__}:double")).layers[0].function is double   # older files
    assert load_model(function("numpy:tanh")).layers[0].function is np.tanh
    for reference in ("os:system", "minirnn.backend:os.system", "some_module_never_imported:f",
                      "numpy:ndarray.tofile", "__import__('os').system('true')"):
        with pytest.raises(mr.ModelFileError, match=r"layer 'lambda\w*' \(Lambda\) field 'function'.*"
                                                    r"not a registered function.*register_serializable"):
            load_model(function(reference))
    loaded = load_model(function("some_module_never_imported:f"), custom_objects={"f": double})
    assert loaded.layers[0].function is double


class Scale(Layer):
    """A custom layer defined outside minirnn: registered by subclassing."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x, training=False):
        return x * self.factor

    def backward(self, dy):
        return dy * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def custom_dense_class():
    class Dense(Scale):
        """A custom layer that shares a built-in layer's class name."""
    return Dense


def test_a_custom_layer_named_like_a_built_in_loads_as_itself(tmp_path):
    own = custom_dense_class()
    model = Sequential([Input(shape=(None, 2)), own(2.0), LSTM(2)])
    model.save(tmp_path / "m.minirnn")
    assert type(load_model(tmp_path / "m.minirnn").layers[0]) is own


def test_custom_layers_load_and_unknown_classes_raise_a_clear_error(tmp_path):
    x, _ = data()
    model = Sequential([Input(shape=(None, 2)), Scale(3.0), LSTM(2)])
    path = tmp_path / "m.minirnn"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded.layers[0], Scale) and loaded.layers[0].factor == 3.0
    assert np.array_equal(loaded.predict(x), model.predict(x))

    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    config["model"]["config"]["layers"][1].update(class_name="NoSuchLayer", registered_name="Custom>NoSuchLayer")
    bad = tmp_path / "bad.minirnn"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("model.weights.npz", src.read("model.weights.npz"))
    with pytest.raises(mr.ModelFileError, match=r"layer 'scale\w*' \(NoSuchLayer\): unknown layer class"):
        load_model(bad)
    assert isinstance(load_model(bad, custom_objects={"NoSuchLayer": Scale}).layers[0], Scale)

    config["format_version"] = 99
    with zipfile.ZipFile(bad, "w") as dst:
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("model.weights.npz", b"")
    with pytest.raises(mr.ModelFileError, match="format_version 99"):
        load_model(bad)


def test_writes_are_atomic(tmp_path, monkeypatch):
    x, _ = data()
    model = build("lstm", seed=0)
    path, weights = tmp_path / "m.minirnn", tmp_path / "w.weights.npz"
    model.save(path)
    model.save_weights(weights)
    old_model, old_weights = path.read_bytes(), weights.read_bytes()
    other = build("lstm", seed=1)

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    real_writestr = zipfile.ZipFile.writestr

    def writestr_then_fail(self, name, data, *args, **kwargs):
        real_writestr(self, name, data, *args, **kwargs)
        if name == "config.json":                      # fail after part of the archive is written
            raise OSError("crash midway (simulated)")

    with monkeypatch.context() as m:
        m.setattr(np, "savez", boom)
        with pytest.raises(OSError, match="simulated"):
            other.save(path)
        with pytest.raises(OSError, match="simulated"):
            other.save_weights(weights)
        with pytest.raises(OSError, match="simulated"):
            other.save(tmp_path / "new.minirnn")
    with monkeypatch.context() as m:
        m.setattr(zipfile.ZipFile, "writestr", writestr_then_fail)
        with pytest.raises(OSError, match="midway"):
            other.save(path)
    assert path.read_bytes() == old_model and weights.read_bytes() == old_weights
    assert sorted(os.listdir(tmp_path)) == ["m.minirnn", "w.weights.npz"]   # no temporary files left
    assert np.array_equal(load_model(path).predict(x), model.predict(x))

    other.save(path)                                   # a successful save does replace the file
    assert np.array_equal(load_model(path).predict(x), other.predict(x))
    with pytest.raises(FileExistsError):
        other.save(path, overwrite=False)
    with pytest.raises(ValueError, match=r"ends in '\.minirnn'"):
        other.save(tmp_path / "m.txt")      # .keras is the Keras format
    with pytest.raises(ValueError, match=r"ends in '\.weights\.npz'"):
        other.save_weights(tmp_path / "w.npz")


def test_files_hold_no_pickle_and_load_without_it(tmp_path, monkeypatch):
    model = build("bidirectional")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.minirnn"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "model.weights.npz"]
        json.loads(archive.read("config.json"))
        inner = zipfile.ZipFile(io.BytesIO(archive.read("model.weights.npz")))
        keys = inner.namelist()
        assert "__manifest__.npy" in keys and "layers/0/0.npy" in keys and "optimizer/0/m.npy" in keys
        for key in keys:                                 # every entry is a plain numeric .npy
            with inner.open(key) as f:
                version = np.lib.format.read_magic(f)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, fortran, dtype = read_header(f)
                assert dtype.kind in "biuf" and not dtype.hasobject, key
        npz = np.load(io.BytesIO(archive.read("model.weights.npz")), allow_pickle=False)
        assert all(npz[k].dtype != object for k in npz.files)

    def refuse(*args, **kwargs):
        raise AssertionError("a loader that can unpickle was called")

    for module, name in ((np, "load"), (np.lib.format, "read_array"), (pickle, "loads"), (pickle, "load")):
        monkeypatch.setattr(module, name, refuse)
    loaded = load_model(path)
    loaded.load_weights(path)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_layer_configs_are_json_and_rebuild_the_layer():
    layers = [Dense(3, activation="relu", kernel_initializer=mr.initializers.Orthogonal(gain=2.0, seed=1)),
              SimpleRNN(2, return_state=True), LSTM(2, go_backwards=True), GRU(2, reset_after=False),
              Bidirectional(LSTM(2), merge_mode="ave"), Lambda(np.exp, arguments={}),
              InputLayer(shape=(None, 3), batch_size=4)]
    for layer in layers:
        config = layer.get_config()
        json.dumps(config)
        rebuilt = type(layer).from_config(config)
        assert rebuilt.get_config() == config
    assert saving.serialize_function(np.tanh) == "numpy>tanh"
    assert saving.serialize_function(lambda x: x)["config"]["source"] == "lambda x: x"
    assert saving.deserialize_function("numpy>tanh") is np.tanh
    assert mr.layers.base.get_layer_class("LSTM") is LSTM


def other_layer_models():
    L = mr.layers
    mr.set_random_seed(4)
    text = Sequential([Input(shape=(8,)), L.Embedding(12, 4), L.Conv1D(5, 3, padding="same", activation="relu"),
                       L.MaxPooling1D(2), L.Dropout(0.2, seed=1), L.TimeDistributed(Dense(3)),
                       LSTM(4, return_sequences=True), L.GlobalAveragePooling1D(), Dense(1)])
    masked = Sequential([Input(shape=(None, 2)), L.Masking(0.0), GRU(3, return_sequences=True),
                         L.GlobalMaxPooling1D(), Dense(2)])
    flat = Sequential([Input(shape=(6, 2)), L.Conv1D(3, 2, strides=2, use_bias=False), L.Flatten(), Dense(1)])
    a, b = Input(shape=(6, 2), name="seq_a"), Input(shape=(6, 2), name="seq_b")
    inner = Sequential([Dense(3, activation="tanh")])        # a nested model, called on both inputs
    ha, hb = inner(a), inner(b)
    merged = [cls()([ha, hb]) for cls in (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)]
    joined = L.Concatenate()(merged)
    graph = mr.Model([a, b], Dense(1)(L.GlobalAveragePooling1D()(L.Dot(axes=2, normalize=True)([joined, joined]))))
    shaped = Sequential([Input(shape=(6, 2)), L.Rescaling(0.5, offset=0.1), L.Permute((2, 1)), L.Reshape((-1,)),
                         Dense(3), L.RepeatVector(2), LSTM(2)])
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 12, size=(5, 8))
    seq = rng.standard_normal((5, 6, 2)).astype("float32")
    seq[0, 4:] = 0.0                                     # padding for Masking
    normed = Sequential([Input(shape=(6, 2)), L.BatchNormalization(momentum=0.5), L.LayerNormalization(axis=[1, 2]),
                         L.Activation("gelu"), L.ReLU(max_value=2.0, negative_slope=0.1), L.LeakyReLU(), L.ELU(0.5),
                         L.Softmax(axis=1), L.AveragePooling1D(2), L.Flatten(), Dense(1)])
    normed.layers[0](seq, training=True)                 # moving statistics that differ from their start
    grouped = Sequential([Input(shape=(6, 2)), L.GroupNormalization(groups=-1), L.UnitNormalization(axis=[1, 2]),
                          L.SpectralNormalization(Dense(4), power_iterations=2), L.RMSNormalization(), Dense(1)])
    grouped.layers[2](seq, training=True)                # a kernel normalized, vector_u moved on
    frames = rng.random((2, 3, 8, 8, 1)).astype("float32")
    video = Sequential([Input(shape=(3, 8, 8, 1)), L.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
                        L.Conv3D(2, 2, padding="same"), L.MaxPooling3D(), L.AveragePooling3D(1),
                        L.GlobalAveragePooling3D(), Dense(1)])
    image = Input(shape=(8, 8, 1))
    pooled = L.AveragePooling2D(2, padding="same")(L.MaxPooling2D()(L.Conv2D(3, 3)(image)))
    both = L.Concatenate()([L.GlobalAveragePooling2D()(pooled), L.GlobalMaxPooling2D()(pooled)])
    pictures = mr.Model(image, Dense(1)(both))
    steps = Sequential([Input(shape=(4, 7, 2)), L.ConvLSTM1D(2, 3, return_sequences=True), L.Reshape((4, 5, 1, 1, 2)),
                        L.ConvLSTM3D(2, 1), L.GlobalMaxPooling3D(), Dense(1)])
    lookup = L.IntegerLookup(max_tokens=10)
    lookup.adapt(tokens)
    ids = Sequential([Input(shape=(8,)), lookup, L.Embedding(10, 3), L.GlobalAveragePooling1D()])
    stacked = Sequential([Input(shape=(None, 2)), L.RNN([L.LSTMCell(3), L.GRUCell(2, dropout=0.1)],
                                                        return_sequences=True), L.RNN(L.SimpleRNNCell(2))])
    return [(text, tokens), (masked, seq), (flat, seq), (shaped, seq), (graph, [seq, seq[::-1]]), (normed, seq), (grouped, seq),
            (video, frames), (pictures, frames[:, 0]), (steps, rng.random((2, 4, 7, 2)).astype("float32")),
            (ids, tokens), (stacked, seq)]


def test_every_built_in_layer_saves_and_loads(tmp_path):
    models = other_layer_models()
    used = {type(layer).__name__ for model, _ in models for layer in [model.input_layer] + model.layers}
    for name in ARCHITECTURES:
        used |= {type(layer).__name__ for layer in build(name).layers}
    used |= {type(model).__name__ for model, _ in models}          # models are layers too
    # base classes (Wrapper: TimeDistributed round-trips; a user's subclass in test_subclassing.py)
    used |= {"Layer", "RNN", "Merge", "Wrapper"} | {type(layer.layer).__name__ for model, _ in models for layer in model.layers
                                 if hasattr(layer, "layer") and not isinstance(layer, Bidirectional)}
    used |= {type(layer.cell).__name__ for model, _ in models for layer in model.layers if hasattr(layer, "cell")}
    # Layers of string inputs (a model of them needs Input(dtype="string")): their configs, the vocabulary
    # included, round-trip in test_preprocessing_layers.py (Hashing: test_hashing.py).
    used |= {"StringLookup", "TextVectorization", "Hashing"}
    builtin = {name for name, cls in mr.layers.base.registered_layer_classes().items()
               if cls.__module__.startswith("minirnn.") and not name.startswith("_")}
    assert builtin - used == set(), "add these layer classes to a round-trip test"
    for k, (model, x) in enumerate(models):
        path = tmp_path / f"m{k}.minirnn"
        model.save(path)
        loaded = load_model(path)
        assert loaded.get_config() == model.get_config()
        assert_same_weights(model, loaded)
        assert np.array_equal(loaded.predict(x), model.predict(x))
        for layer in model.layers:
            assert set(constructor_arguments(type(layer))) <= set(layer.get_config()), type(layer).__name__


@register_serializable(package="tests")
def half_error(y_true, y_pred):
    """A custom metric function, registered: saved by name."""
    return 0.5 * np.abs(np.asarray(y_pred) - np.asarray(y_true)).mean(axis=-1)


def test_metrics_and_losses_round_trip(tmp_path):
    x, y = data(n=8)
    labels = (y > 0).astype("float32")
    model = Sequential([Input(shape=(None, 2)), GRU(3), Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.RMSprop(0.01), loss=losses.BinaryCrossentropy(label_smoothing=0.1),
                  metrics=["mae", "accuracy", mr.metrics.BinaryAccuracy(threshold=0.3), half_error])
    model.fit(x, labels, epochs=1, verbose=0)
    model.save(tmp_path / "m.minirnn")
    loaded = load_model(tmp_path / "m.minirnn")
    assert [m.name for m in loaded.metrics] == ["mae", "accuracy", "binary_accuracy", "half_error"]
    assert loaded.metrics[2].fn_kwargs == {"threshold": 0.3} and loaded.metrics[3].fn is half_error
    assert type(loaded.loss) is losses.BinaryCrossentropy and loaded.loss.label_smoothing == 0.1
    assert loaded.evaluate(x, labels, return_dict=True) == model.evaluate(x, labels, return_dict=True)

    model.compile(optimizer="sgd", loss="mse", metrics=[lambda a, b: np.abs(a - b)])
    model.save(tmp_path / "m2.minirnn")
    with pytest.raises(mr.ModelFileError, match="metric '<lambda>'.*safe_mode=False"):
        load_model(tmp_path / "m2.minirnn")
    assert load_model(tmp_path / "m2.minirnn", compile=False).compiled is False
    assert load_model(tmp_path / "m2.minirnn", safe_mode=False).metrics[0].fn(np.zeros(1), np.ones(1)) == 1
    model.save(tmp_path / "m2.minirnn", include_optimizer=False)      # saved uncompiled
    assert not load_model(tmp_path / "m2.minirnn").compiled


def test_interrupted_saves_leave_the_old_file_and_the_next_save_removes_their_temporary_files(tmp_path):
    x, _ = data()
    model = build("lstm", seed=0)
    path = tmp_path / "m.minirnn"
    model.save(path)
    old = path.read_bytes()
    killed = f"""
import os, zipfile, minirnn
model = minirnn.models.load_model({str(path)!r})
real = zipfile.ZipFile.writestr
def writestr_then_die(self, name, data, *args, **kwargs):
    real(self, name, data, *args, **kwargs)
    os._exit(3)                                 # killed midway: no clean-up runs
zipfile.ZipFile.writestr = writestr_then_die
model.save({str(path)!r})
"""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    for _ in range(3):
        assert subprocess.run([sys.executable, "-c", killed], env=env).returncode == 3
    assert path.read_bytes() == old
    temps = [n for n in os.listdir(tmp_path) if n.endswith(".minirnn-tmp")]
    assert len(temps) == 1 and temps[0].startswith(".m.minirnn.")    # each save removed the one before

    live = tmp_path / ".m.minirnn.0123456789ab.minirnn-tmp"      # a save still being written
    with open(live, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        other = build("lstm", seed=1)
        other.save(path)
        assert sorted(os.listdir(tmp_path)) == [live.name, "m.minirnn"]
    other.save(path)
    assert os.listdir(tmp_path) == ["m.minirnn"]
    assert np.array_equal(load_model(path).predict(x), other.predict(x))


def test_a_failed_save_names_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "no_such_directory" / "m.minirnn"
    with pytest.raises(FileNotFoundError) as error:
        build("lstm").save(target)
    assert str(target) in str(error.value) and "tmp" not in str(error.value).replace(str(tmp_path), "")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    target = tmp_path / "m.minirnn"
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", no_space)
        with pytest.raises(OSError, match=rf"Cannot save '{re.escape(str(target))}': No space left"):
            build("lstm").save(target)
    assert os.listdir(tmp_path) == []                  # the temporary file is gone too


def test_file_formats_load_on_first_use(tmp_path):
    """``import minirnn`` leaves the file formats and fit_many unloaded; the first save loads them."""
    code = f"""
import sys
import numpy as np
import minirnn as mr
print(sorted(m for m in ("minirnn.saving", "minirnn.fits", "minirnn.inspect") if m in sys.modules))
model = mr.Sequential([mr.Input((None, 1)), mr.LSTM(3), mr.Dense(1)])
x = np.linspace(0, 1, 10, dtype="float32").reshape(2, 5, 1)
path = {str(tmp_path / "m.keras")!r}
model.save(path)
print("minirnn.saving" in sys.modules, float(np.abs(mr.load_model(path).predict(x, verbose=0) - model.predict(x, verbose=0)).max()))
print(mr.fit_many.__module__, mr.FitJob.__name__, mr.inspect.__name__, "load_model" in dir(mr))
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=root), cwd=root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["[]", "True 0.0", "minirnn.fits FitJob minirnn.inspect True"]
