"""Keras's own unit tests for its recurrent, wrapper, normalization and preprocessing layers (read from the
installed keras package, never copied), run against minirnn.keras by tools/keras_own_tests.py.
Every test that runs on Keras's TensorFlow backend passes, or is in the tool's CANNOT_PASS list
with the reason; ``python tools/keras_own_tests.py`` prints the table."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("keras")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from keras_own_tests import CANNOT_PASS  # noqa: E402

PASSING_AT_LEAST = 249             # of 279 (3 more skip, as on Keras without a GPU)


def test_keras_own_tests_pass_against_minirnn_or_are_listed_with_why():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "keras_own_tests.py"), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-3000:]
    results = json.loads(lines[-1])
    failing = {f"{name}::{test}": why for name, r in results.items() for test, why in r["failed"].items()}
    passing = {f"{name}::{test}" for name, r in results.items() for test in r["passed"]}
    unlisted = {k: v for k, v in failing.items() if k not in CANNOT_PASS}
    assert not unlisted, "failing and not in CANNOT_PASS:\n" + "\n".join(f"{k}: {v}" for k, v in unlisted.items())
    fixed = sorted(set(CANNOT_PASS) & passing)
    assert not fixed, f"these pass now: take them out of CANNOT_PASS: {fixed}"
    stale = sorted(set(CANNOT_PASS) - set(failing))
    assert not stale, f"CANNOT_PASS names tests that did not run: {stale}"
    assert len(passing) >= PASSING_AT_LEAST, f"{len(passing)} of {len(passing) + len(failing)} pass"
