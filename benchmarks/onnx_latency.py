"""Serving latency: onnxruntime on the exported model against minirnn's predict, batch 1 and 1024.

    pip install ".[bench]"          # onnx and onnxruntime
    python benchmarks/onnx_latency.py [--samples N] [--threads N] [--out FILE.md]

For each model (float32, random weights, sequences of STEPS steps): minirnn ``predict(x,
batch_size=len(x))``, onnxruntime on the native-operator export (the default) and on the Scan
export (``recurrent_form="scan"``, what masked and float64 models use).  Each timing is the median
of SAMPLES calls after a warm-up, each call repeated until it lasts MIN_SAMPLE_TIME.  Both use
THREADS threads: onnxruntime's intra-op pool (spinning off: its idle threads busy-wait by default,
which on a shared machine takes cores from everything else), minirnn's
``parallel.set_large_work_threads``.
The outputs of every run are checked equal (to 1e-5) before timing.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import minirnn as mr  # noqa: E402
from minirnn import layers as L  # noqa: E402

STEPS = 20
FEATURES = 1
BATCHES = (1, 1024)
SAMPLES = 15
MIN_SAMPLE_TIME = 0.05       # seconds
MODELS = {
    "SimpleRNN 40-40 (course)": lambda: [L.SimpleRNN(40, return_sequences=True), L.SimpleRNN(40), L.Dense(1)],
    "GRU 32-32": lambda: [L.GRU(32, return_sequences=True), L.GRU(32), L.Dense(1)],
    "BiLSTM 32-32": lambda: [L.Bidirectional(L.LSTM(32, return_sequences=True)), L.Bidirectional(L.LSTM(32)),
                             L.Dense(1)],
}


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def median_seconds(call, samples):
    call()                                                     # warm-up
    times = []
    for _ in range(samples):
        reps, start = 0, time.perf_counter()
        while True:
            call()
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= MIN_SAMPLE_TIME:
                break
        times.append(elapsed / reps)
    return statistics.median(times)


def main(argv=None):
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    mr.parallel.set_large_work_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")    # no busy-waiting on a shared machine
    options.log_severity_level = 3
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in MODELS.items():
            mr.set_random_seed(0)
            model = mr.Sequential([mr.Input((STEPS, FEATURES))] + make())
            sessions = {}
            for form in ("auto", "scan"):
                path = os.path.join(tmp, f"{form}.onnx")
                model.export(path, format="onnx", recurrent_form=form)
                sessions[form] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            for batch in BATCHES:
                x = rng.normal(size=(batch, STEPS, FEATURES)).astype("float32")
                want = model.predict(x, batch_size=batch, verbose=0)
                feed = {sessions["auto"].get_inputs()[0].name: x}
                for s in sessions.values():
                    np.testing.assert_allclose(s.run(None, feed)[0], want, atol=1e-5)
                t_mr = median_seconds(lambda: model.predict(x, batch_size=batch, verbose=0), args.samples)
                t_native = median_seconds(lambda: sessions["auto"].run(None, feed), args.samples)
                t_scan = median_seconds(lambda: sessions["scan"].run(None, feed), args.samples)
                rows.append((name, batch, t_mr, t_native, t_scan))
                print(f"{name:26s} batch {batch:5d}: minirnn {t_mr * 1e3:8.3f} ms, onnxruntime {t_native * 1e3:8.3f} ms "
                      f"(Scan {t_scan * 1e3:8.3f} ms)", file=sys.stderr)
    lines = [f"CPU: {cpu_name()}; {args.threads} thread(s) each; sequences of {STEPS} steps; "
             f"median of {args.samples} samples; onnxruntime {ort.__version__}, minirnn {mr.__version__}", "",
             "| model | batch | minirnn predict | onnxruntime | speed-up | onnxruntime, Scan form |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, batch, t_mr, t_native, t_scan in rows:
        lines.append(f"| {name} | {batch} | {t_mr * 1e3:.3f} ms | {t_native * 1e3:.3f} ms | "
                     f"{t_mr / t_native:.1f}x | {t_scan * 1e3:.3f} ms |")
    report(lines, args.out)
    return rows


def report(lines, out=None):
    """Print the table, and write it to the markdown file `out` if given."""
    table = "\n".join(lines)
    print(table)
    if out:
        with open(out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
