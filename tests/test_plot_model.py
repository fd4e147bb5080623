"""keras.utils.plot_model and model_to_dot: every layer, its shape and each connection drawn."""
import os
import stat

import matplotlib.image
import numpy as np
import pytest

import minirnn.keras as keras


def branched():
    inputs = keras.Input(shape=(20, 3), name="series")
    x = keras.layers.BatchNormalization()(keras.layers.Conv1D(16, 3, padding="same")(inputs))
    a = keras.layers.LSTM(8, name="memory")(x)
    b = keras.layers.GlobalAveragePooling1D(name="average")(x)
    out = keras.layers.Dense(3, activation="softmax", name="classes")(keras.layers.Concatenate()([a, b]))
    return keras.Model(inputs, out)


def test_model_to_dot_lists_layers_shapes_and_edges():
    dot = keras.utils.model_to_dot(branched(), show_shapes=True, show_layer_names=True,
                                   show_layer_activations=True)
    for text in ("series (InputLayer)", "memory (LSTM)", "average (GlobalAveragePooling1D)",
                 "Output shape: (None, 20, 16)", "Output shape: (None, 24)", "Activation: softmax",
                 "Activation: tanh"):
        assert text in dot, text
    edges = [line for line in dot.splitlines() if "->" in line]
    assert len(edges) == 7         # input->conv->bn, bn->lstm, bn->pool, lstm->cat, pool->cat, cat->dense


@pytest.mark.parametrize("name, rankdir", [("model.png", "TB"), ("model.svg", "LR"), ("model.pdf", "TB"),
                                           ("model.jpg", "LR")])
def test_plot_model_writes_the_picture(tmp_path, monkeypatch, name, rankdir):
    monkeypatch.setenv("PATH", str(tmp_path))           # no Graphviz: Matplotlib draws it
    path = tmp_path / name
    assert keras.utils.plot_model(branched(), to_file=str(path), show_shapes=True, rankdir=rankdir, dpi=60) is None
    data = path.read_bytes()
    if name.endswith(".png"):
        image = matplotlib.image.imread(path)
        assert image.shape[0] > image.shape[1] > 100          # top to bottom: taller than wide
        assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 3      # not blank
    elif name.endswith(".svg"):
        text = data.decode()
        assert text.startswith("<?xml") and "GlobalAveragePooling1D" in text and "(None, 24)" in text
    else:
        assert data[:4] in (b"%PDF", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xe1")


def test_plot_model_uses_graphviz_when_present(tmp_path, monkeypatch):
    """With a `dot` program on the PATH, plot_model hands it the DOT text and the format."""
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\n# args: -Tfmt source -o target\ncp \"$2\" \"$4\"\necho \"$1\" > \"$4.format\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "graph.svg"
    keras.utils.plot_model(branched(), to_file=str(target), show_shapes=True)
    assert target.read_text().startswith('digraph "') and "(None, 24)" in target.read_text()
    assert (tmp_path / "graph.svg.format").read_text().strip() == "-Tsvg"


def test_plot_model_refusals(tmp_path):
    with pytest.raises(ValueError, match="extension picks the format"):
        keras.utils.plot_model(branched(), to_file=str(tmp_path / "model.bmp"))
    with pytest.raises(ValueError, match="has not been built"):
        keras.utils.plot_model(keras.Sequential([keras.layers.Dense(1)]), to_file=str(tmp_path / "m.png"))
