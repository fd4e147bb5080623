"""Keras-style programs using normalization, text and lookup preprocessing, ConvLSTM, Conv2D and the
function forms (tests/keras_programs/l2_*.py), each run twice: as written (``import keras``) and
with the import line swapped for ``import minirnn.keras as keras``, nothing else changed.

The harness wraps ``Model.fit`` of each library: in the Keras run it records the model's weights
before each ``fit``; in the minirnn run it starts each ``fit`` from those weights (so both start
alike; the programs' own initializers draw from different generators) and both run with
``shuffle=False`` (the same batch order).  The losses of every epoch must then agree.  (A
program with an Embedding and Adam or RMSprop agrees only while its batches repeat few ids: Keras's
TensorFlow backend feeds each occurrence's gradient to the squared-gradient average, minirnn the
summed gradient, as the optimizer's formula has it.)
"""
import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minirnn.keras as mk  # noqa: E402
from minirnn.models import Model as MinirnnModel  # noqa: E402

FOLDER = Path(__file__).parent / "keras_programs"
PROGRAMS = sorted(p.stem for p in FOLDER.glob("l2_*.py"))
COMPARED = ("loss", "val_loss")


def swap_import(source):
    """The program with Keras's import lines pointing at minirnn.keras, and nothing else changed."""
    swapped = re.sub(r"^import keras$", "import minirnn.keras as keras", source, flags=re.M)
    swapped = re.sub(r"^from keras import ", "from minirnn.keras import ", swapped, flags=re.M)
    swapped = re.sub(r"^from keras\.(\S+) import ", r"from minirnn.keras.\1 import ", swapped, flags=re.M)
    changed = [a for a, b in zip(source.splitlines(), swapped.splitlines()) if a != b]
    assert changed and all("keras" in line and "import" in line for line in changed)
    return swapped


def run(program, source, model_class, monkeypatch, folder, starts=None):
    """Run the program in `folder`; returns ([history dict per fit], [weights before each fit])."""
    histories, recorded = [], []
    original = model_class.fit

    def fit(self, *args, **kwargs):
        if starts is None:
            recorded.append(self.get_weights())
        else:
            start = starts[len(histories)]
            assert [w.shape for w in self.get_weights()] == [w.shape for w in start], "same weights as Keras's"
            self.set_weights(start)
        kwargs["shuffle"] = False
        history = original(self, *args, **kwargs)
        histories.append(dict(history.history))
        return history
    monkeypatch.setattr(model_class, "fit", fit)
    monkeypatch.chdir(folder)
    code = compile(source, str(FOLDER / f"{program}.py"), "exec")
    exec(code, {"__name__": "__main__", "__file__": str(FOLDER / f"{program}.py")})
    monkeypatch.setattr(model_class, "fit", original)
    return histories, recorded


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_runs_the_same_on_keras_and_minirnn(program, tmp_path, monkeypatch, capsys):
    source = (FOLDER / f"{program}.py").read_text()
    (tmp_path / "keras").mkdir()
    (tmp_path / "minirnn").mkdir()
    keras.utils.set_random_seed(0)
    theirs, starts = run(program, source, keras.Model, monkeypatch, tmp_path / "keras")
    mk.utils.set_random_seed(0)
    ours, _ = run(program, swap_import(source), MinirnnModel, monkeypatch, tmp_path / "minirnn", starts)
    assert len(ours) == len(theirs) >= 1
    for k, (mine, reference) in enumerate(zip(ours, theirs)):
        for key in COMPARED:
            if key in reference:
                assert len(mine[key]) == len(reference[key]), f"fit {k}: epochs run"
                np.testing.assert_allclose(mine[key], reference[key], rtol=2e-3, atol=1e-5,
                                           err_msg=f"{program}: fit {k} {key} by epoch")
        missing = set(reference) - set(mine) - {"learning_rate"}      # Keras 3 logs the rate of ReduceLROnPlateau
        assert not missing, f"{program}: logs Keras has and minirnn lacks: {missing}"
    printed = capsys.readouterr().out
    assert "Traceback" not in printed


def test_the_corpus_uses_the_layers_it_is_for():
    text = "\n".join((FOLDER / f"{p}.py").read_text() for p in PROGRAMS)
    for name in ("BatchNormalization", "LayerNormalization", "TextVectorization", "StringLookup", "IntegerLookup",
                 "ConvLSTM2D", "Conv2D", "Conv3D", "MaxPooling2D", "GlobalAveragePooling2D", "ReLU", "LeakyReLU",
                 "Softmax", "Activation", ".h5", "keras.losses.binary_crossentropy", "keras.ops.convert_to_numpy"):
        assert name in text, name
    assert len(PROGRAMS) >= 5
