"""Where a minirnn training step spends its time: jitted loops, out-of-loop products, the rest.

    python benchmarks/profile_step.py [--cases jena_lstm_step,course_bilstm_fit_b32]
                                      [--threads as-is,serial] [--steps N]

For each case and thread setting, a fresh process builds the model, warms it up, then
times STEPS training steps (train_on_batch on one batch of the case's batch size) with
wrappers around the cell kernels and methods (patched in that process only):

    jitted loops     forward_loop / backward_loop of each cell (Numba; their h @ U products
                     call SciPy's OpenBLAS)
    out-of-loop      Cell.project / input_grad / kernel_grads / outer / previous (blas.gemm)
    dense, loss, optimizer
    rest             everything else: Python glue, input checks, transposes and copies

and prints the split, then cProfile's top functions by own time.  Thread settings: `as-is`
(minirnn as it runs: large layers split across cores, Bidirectional halves side by side,
weight gradients on a spare core; times then overlap and the parts can sum to more than the
step), `serial` (``minirnn.parallel.set_large_work_threads(1)``: one core, a clean split).
Writes results/profile.md.
"""
import argparse
import cProfile
import inspect
import io
import json
import os
import pstats
import subprocess
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from cases import CASES  # noqa: E402

# ---------------------------------------------------------------------------- settings
DEFAULT_CASES = "course_simple_rnn_fit_b32,course_bilstm_fit_b32,jena_lstm_step,large_lstm_step"
DEFAULT_THREADS = "as-is,serial"
STEPS = 30                  # timed steps (fewer for the large case, see MAX_PROFILE_SECONDS)
MAX_PROFILE_SECONDS = 20
TOP_FUNCTIONS = 8
MARKER = "PROFILE_RESULT "


def limit_threads(setting):
    """`serial`: minirnn on one core (no batch split, no side-by-side work)."""
    if setting == "serial":
        import minirnn

        minirnn.parallel.set_large_work_threads(1)


def child(case_name, setting, steps):
    sys.path.insert(0, os.environ.get("MINIRNN_BENCH_SRC") or REPO)
    import worker

    import minirnn
    from minirnn import losses, optimizers
    from minirnn.cells import base as cell_base

    timers = defaultdict(float)

    def wrap(owner, attr, label):
        original = getattr(owner, attr, None)
        if original is None:
            return
        static = isinstance(inspect.getattr_static(owner, attr), staticmethod)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers[label] += time.perf_counter() - start

        setattr(owner, attr, staticmethod(timed) if static else timed)

    import importlib

    for mod in ("simple_rnn", "lstm", "gru"):
        module = importlib.import_module(f"minirnn.cells.{mod}")
        wrap(module, "forward_loop", "jitted forward loop")
        wrap(module, "backward_loop", "jitted backward loop")
    for attr in ("project", "input_grad", "kernel_grads", "input_grads", "outer", "previous"):
        if hasattr(cell_base.Cell, attr):                  # input_grads: revisions before the split
            wrap(cell_base.Cell, attr, "out-of-loop products")
    wrap(minirnn.layers.Dense, "call", "dense")
    wrap(minirnn.layers.Dense, "backward", "dense")
    for cls in vars(losses).values():
        if isinstance(cls, type) and "value_and_gradient" in vars(cls):       # defined there, not inherited
            wrap(cls, "value_and_gradient", "loss")
    wrap(optimizers.Optimizer, "apply_gradients", "optimizer")

    case = dict(CASES[case_name])
    lib = worker.Minirnn()
    lib.setup()
    limit_threads(setting)                  # after setup, which sets the core count
    x, y = worker.make_data(case)
    x, y = x[: case["batch"]], y[: case["batch"]]
    model = lib.build(case)
    for _ in range(3):
        model.train_on_batch(x, y)
    lib.settle()                            # the compiled kernels, not their NumPy twins, from here on
    start = time.perf_counter()
    model.train_on_batch(x, y)
    once = time.perf_counter() - start
    steps = max(3, min(steps, int(MAX_PROFILE_SECONDS / max(once, 1e-6))))
    timers.clear()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    total = time.perf_counter() - start
    split = {k: v / steps for k, v in timers.items()}
    split["rest (Python glue, checks, copies)"] = total / steps - sum(split.values())

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        model.train_on_batch(x, y)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(TOP_FUNCTIONS)
    print(MARKER + json.dumps(dict(case=case_name, setting=setting, steps=steps, step_s=total / steps,
                                   split=split, profile=out.getvalue())), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=DEFAULT_CASES)
    p.add_argument("--threads", default=DEFAULT_THREADS)
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--minirnn-src", help="directory holding minirnn/ (default: this repository)")
    p.add_argument("--child", nargs=2, metavar=("CASE", "THREADS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child, args.steps)
    env = dict(os.environ)
    if args.minirnn_src:
        env["MINIRNN_BENCH_SRC"] = os.path.abspath(args.minirnn_src)
    md = ["# Where a minirnn training step spends its time", "",
          f"`python benchmarks/profile_step.py {' '.join(sys.argv[1:])}`; load average at start "
          f"{os.getloadavg()[0]:.2f}; one training step (train_on_batch) on one batch of each case.", ""]
    profiles = []
    for case_name in args.cases.split(","):
        rows = []
        for setting in args.threads.split(","):
            proc = subprocess.run([sys.executable, __file__, "--child", case_name, setting, "--steps",
                                   str(args.steps)], env=env, capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)), None)
            if line is None:
                print(f"{case_name} {setting}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            res = json.loads(line[len(MARKER):])
            rows.append(res)
            print(f"{case_name:<26} {setting:<7} {res['step_s'] * 1e3:9.2f} ms/step  " + ", ".join(
                f"{k} {v * 1e3:.2f}" for k, v in res["split"].items()), flush=True)
        if not rows:
            continue
        labels = list(dict.fromkeys(k for r in rows for k in r["split"]))
        md += [f"## {CASES[case_name]['title']} (one step on a batch of {CASES[case_name]['batch']})", "",
               "| OpenBLAS threads | ms/step | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
        for r in rows:
            cells = [f"{r['split'].get(k, 0) * 1e3:.2f} ({100 * r['split'].get(k, 0) / r['step_s']:.0f}%)"
                     for k in labels]
            md.append(f"| {r['setting']} | {r['step_s'] * 1e3:.2f} | " + " | ".join(cells) + " |")
        md.append("")
        profiles.append((case_name, rows[0]))
    md += ["Thread settings: `as-is` both OpenBLAS pools at their defaults; `loop1` the pool of SciPy's "
           "OpenBLAS (called by the jitted loops' `h @ U`) at 1 thread; `numpy1` NumPy's at 1; `all1` both.", ""]
    for case_name, r in profiles:
        md += [f"### cProfile, {case_name}, {r['setting']}: top {TOP_FUNCTIONS} by own time", "", "```",
               r["profile"].strip(), "```", ""]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "profile.md"), "w") as f:
        f.write("\n".join(md))
    print("written: benchmarks/results/profile.md")


if __name__ == "__main__":
    main()
