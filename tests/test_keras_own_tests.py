"""Keras's own unit tests for its recurrent, wrapper and normalization layers (read from the
installed keras package, never copied), run against minirnn.keras by tools/keras_own_tests.py.
The tests that cannot pass, and why, are printed by ``python tools/keras_own_tests.py``."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("keras")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSING_AT_LEAST = 48            # of 110; raise it as layers land


def test_keras_own_tests_pass_against_minirnn():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "keras_own_tests.py"), "--json"],
                          capture_output=True, text=True, env=env, timeout=1200)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-3000:]
    results = json.loads(lines[-1])
    passed = sum(len(r["passed"]) for r in results.values())
    total = passed + sum(len(r["failed"]) for r in results.values())
    failing = {f"{name}::{test}": why for name, r in results.items() for test, why in r["failed"].items()}
    assert passed >= PASSING_AT_LEAST, f"{passed} of {total} pass; failing:\n" + "\n".join(
        f"{k}: {v}" for k, v in failing.items())
