"""Keras programs written as tutorials write them (tests/keras_programs/), each run with Keras and
with minirnn.keras (import lines swapped, nothing else): both must run, each fit starting from the
same weights (Keras's, copied) must log the same losses epoch by epoch, and what the program
reports in RESULT must agree.  One process per library runs all the programs (see _runner.py).

(A program with an Embedding and Adam or RMSprop agrees only while its batches repeat few ids:
Keras's TensorFlow backend feeds each occurrence's gradient to the squared-gradient average,
minirnn the summed gradient, as the optimizer's formula has it.)"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_programs")
sys.path.insert(0, HERE)
from _runner import programs  # noqa: E402

NAMES = [os.path.basename(p)[:-3] for p in programs()]
COMPARED = ("loss", "val_loss")
if importlib.util.find_spec("keras") is None:     # found, not imported: the programs import it in children
    pytest.skip("keras is not installed", allow_module_level=True)


def _start(which, *args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""),
               KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, os.path.join(HERE, "_runner.py"), which, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _results(which, child):
    try:
        out, err = child.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"the {which} run printed no results:\n{err[-3000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_programs")
    shares = min(2, os.cpu_count() or 1)        # Keras's runs (its graph tracing) are the slow part
    weights = [str(folder / f"starts{k}.npz") for k in range(shares)]
    children = [_start("keras", weights[k], f"{k}/{shares}") for k in range(shares)]
    keras_run = {}
    for child in children:
        keras_run.update(_results("keras", child))
    # then minirnn, whose fits start from the weights Keras's fits started from
    return {"keras": keras_run, "minirnn": _results("minirnn", _start("minirnn", *weights))}


def _close(a, b, where):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and not all(isinstance(v, (int, float)) for v in a):
        assert isinstance(b, list) and len(a) == len(b), where          # nested, maybe ragged
        for k, (u, v) in enumerate(zip(a, b)):
            _close(u, v, f"{where}[{k}]")
    elif isinstance(a, (list, int, float)):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=2e-3, atol=2e-5, err_msg=where)
    else:
        assert a == b, where


@pytest.mark.parametrize("name", NAMES)
def test_program_runs_the_same_on_keras_and_minirnn(runs, name):
    theirs, ours = runs["keras"][name], runs["minirnn"][name]
    assert "error" not in theirs, f"the program fails on Keras itself: {theirs['error']}"
    assert "error" not in ours, ours.get("error")
    assert ours["histories"] or ours["result"] is not None, "the program neither fits nor sets RESULT"
    assert len(ours["histories"]) == len(theirs["histories"]), "fits run"
    for k, (mine, reference) in enumerate(zip(ours["histories"], theirs["histories"])):
        for key in COMPARED:
            if key in reference:
                assert len(mine[key]) == len(reference[key]), f"fit {k}: epochs run"
                np.testing.assert_allclose(mine[key], reference[key], rtol=2e-3, atol=1e-5,
                                           err_msg=f"{name}: fit {k} {key} by epoch")
        missing = set(reference) - set(mine) - {"learning_rate"}     # Keras 3 logs ReduceLROnPlateau's rate
        assert not missing, f"fit {k}: logs Keras has and minirnn lacks: {missing}"
    assert "Traceback" not in ours["printed"]
    if theirs["compare"]:
        _close(theirs["result"], ours["result"], name)


def test_the_corpus_uses_what_it_is_for():
    assert len(NAMES) >= 16
    text = "\n".join(open(os.path.join(HERE, f"{name}.py"), encoding="utf-8").read() for name in NAMES)
    for name in ("BatchNormalization", "LayerNormalization", "TextVectorization", "StringLookup", "IntegerLookup",
                 "ConvLSTM2D", "Conv2D", "Conv3D", "MaxPooling2D", "GlobalAveragePooling2D", "ReLU", "LeakyReLU",
                 "Softmax", "Activation", ".h5", "keras.losses.binary_crossentropy", "keras.ops.convert_to_numpy",
                 "add_weight", "keras.Model)", "layers.RNN(", "mask_zero=True", ".take(",
                 "initial_state=", "model.input", "stateful=True", "ModelCheckpoint", "_regularizer"):
        assert name in text, name
