"""How far round-off moves the course demo's learning-rate pick (examples/course_week3.py).

Runs the demo's sweep (rate 1e-8 * 10**(epoch/20), 100 epochs, the same start) several times,
each differing from the first only by round-off: the other backend, another OpenBLAS kernel
(OPENBLAS_CORETYPE), one core instead of two, or the initial weights nudged by a relative 1e-7.
Each sweep runs in its own process.  Prints, per model, the rate each rule picks from each
sweep and the spread (largest / smallest): the demo's rule (`pick_rate`, the centre of the
valley) and the rate at the lowest point of a 5-epoch moving average of the log-loss.

    python benchmarks/sweep_rule.py [--models simple_rnn,bilstm] [--nudged 9] [--json PATH]
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [                      # (name, environment, command prefix)
    ("numba", {}, []),
    ("numpy", {"MINIRNN_BACKEND": "numpy"}, []),
    ("numba, Sandybridge kernels", {"OPENBLAS_CORETYPE": "Sandybridge"}, []),
    ("numpy, Sandybridge kernels", {"MINIRNN_BACKEND": "numpy", "OPENBLAS_CORETYPE": "Sandybridge"}, []),
    ("numba, one core", {"OPENBLAS_NUM_THREADS": "1"}, ["taskset", "-c", "0"]),
]


def load_course():
    spec = importlib.util.spec_from_file_location("course_week3", os.path.join(ROOT, "examples", "course_week3.py"))
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    return course


def child(kind, nudge):
    """One sweep; prints {"rates": [...], "losses": [...]}."""
    import numpy as np

    import minirnn as mr
    from minirnn.callbacks import LearningRateScheduler
    from minirnn.data import synthetic_series, windowed_dataset

    course = load_course()
    _, series = synthetic_series(seed=course.SEED)
    mr.set_random_seed(course.SEED)
    model = course.compiled(kind, 1e-8)
    model.build()
    if nudge:
        rng = np.random.default_rng(nudge)
        model.set_weights([w * (1 + 1e-7 * rng.standard_normal(w.shape)).astype(w.dtype) for w in model.get_weights()])
    train = windowed_dataset(series[:course.SPLIT_TIME], course.WINDOW_SIZE, course.BATCH_SIZE,
                             course.SHUFFLE_BUFFER, seed=course.SEED)
    history = model.fit(train, epochs=course.SWEEP_EPOCHS, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 1e-8 * 10 ** (epoch / 20))])
    print(json.dumps({"rates": history.history["learning_rate"], "losses": history.history["loss"]}))


def lowest_point(rates, losses):
    """The rate at the lowest point of a 5-epoch moving average of the log-loss."""
    import numpy as np

    smoothed = np.convolve(np.log(losses), np.ones(5) / 5, mode="valid")
    return float(np.asarray(rates)[2:2 + len(smoothed)][np.argmin(smoothed)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="simple_rnn,bilstm")
    parser.add_argument("--nudged", type=int, default=9, help="sweeps with nudged initial weights (numba)")
    parser.add_argument("--configs", default=",".join(str(k) for k in range(len(CONFIGS))),
                        help="indices into CONFIGS to run (default: all)")
    parser.add_argument("--json", help="write every sweep here")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "NUDGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))

    course = load_course()
    runs = [CONFIGS[int(k)] + (0,) for k in args.configs.split(",")]
    runs += [(f"numba, weights nudged ({k})", {}, [], k) for k in range(1, args.nudged + 1)]
    sweeps = {}
    for kind in args.models.split(","):
        print(f"\n{kind}: sweep  ->  valley centre (the demo's rule) | lowest point of a 5-epoch average")
        sweeps[kind] = []
        for name, env, prefix, nudge in runs:
            out = subprocess.run(prefix + [sys.executable, __file__, "--child", kind, str(nudge)], check=True,
                                 capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT, **env))
            sweep = json.loads(out.stdout.strip().splitlines()[-1])
            centre, lowest = course.pick_rate(sweep["rates"], sweep["losses"])[0], lowest_point(**sweep)
            sweeps[kind].append(dict(sweep, name=name, centre=centre, lowest=lowest))
            print(f"  {name:32s} {centre:9.2e} | {lowest:9.2e}", flush=True)
        centres = [s["centre"] for s in sweeps[kind]]
        lowests = [s["lowest"] for s in sweeps[kind]]
        print(f"  spread over {len(centres)} sweeps: valley centre {max(centres) / min(centres):.2f}x, "
              f"lowest point {max(lowests) / min(lowests):.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(sweeps, f)


if __name__ == "__main__":
    main()
