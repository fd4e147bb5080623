"""Keras programs written as tutorials write them (tests/keras_programs/), each run with Keras and
with minirnn.keras (import lines swapped, nothing else): both must run, and where the program fixes
its weights, the losses (and outputs it reports) must agree."""
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
pytest.importorskip("keras")


def _run(which):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""),
               KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, os.path.join(HERE, "_runner.py"), which], capture_output=True,
                          text=True, env=env, timeout=1200)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the {which} run printed no results:\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def runs():
    return {"keras": _run("keras"), "minirnn": _run("minirnn")}


def _close(a, b, where):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) or isinstance(a, (int, float)):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=2e-3, atol=2e-5, err_msg=where)
    else:
        assert a == b, where


@pytest.mark.parametrize("name", NAMES)
def test_program_runs_the_same_on_keras_and_minirnn(runs, name):
    theirs, ours = runs["keras"][name], runs["minirnn"][name]
    assert "error" not in theirs, f"the program fails on Keras itself: {theirs['error']}"
    assert "error" not in ours, ours.get("error")
    assert ours["result"] is not None, "the program sets no RESULT"
    if theirs["compare"]:
        _close(theirs["result"], ours["result"], name)
