"""Does minirnn train the course's models as well as Keras?  Validation MAE over seeds.

    python benchmarks/seed_gap.py run [--recipes simple_rnn,bilstm] [--arms minirnn,keras,...]
                                      [--seeds 20] [--first-seed 0] [--epochs E] [--workers N]
    python benchmarks/seed_gap.py report [--recipes ...] [--arms ...]
    python benchmarks/seed_gap.py arms                  # what each arm is
    python benchmarks/seed_gap.py orders                # the batch order of 3 epochs of fit(shuffle=True)

Each (recipe, arm, seed) is a ``minirnn.fit_many`` job: it trains in a process of its own
(``jobs_per_worker=1``; --workers at once, default one per core) with one thread (BLAS, Numba,
TensorFlow's intra- and inter-op pools), the Keras arms building and fitting their Keras model
in the job, and as each ends this process appends its JSON line to --results (default
benchmarks/results/seed_gap.jsonl): the validation MAE, the loss after every epoch, the
seconds of ``fit``.  ``run`` skips what the file holds already, so it resumes after an
interruption; it claims each job with a file in ``<results>.claims/`` first, so a second
``run`` started alike leaves the first one's jobs alone and no job is done twice (the claims
of a process that is gone are taken over).  Jobs go seed by seed, each seed's arms in the
order given.
``report`` prints, per recipe, each arm's median and quartiles, a two-sided Mann-Whitney U test
of each pair that the study compares, and where runs from the same start on the same batches
part ways (the loss after each epoch, relative difference > 1e-4).

The recipes are the course's (synthetic series, split 1000, windows of 20, Huber, SGD with
momentum 0.9, output scaled by 100), trained on the windows as arrays (980 of them); the
validation MAE is the one-step forecast's over the 461 steps after the split.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "seed_gap.jsonl")

SPLIT_TIME, WINDOW = 1000, 20
RECIPES = {
    #             recurrent layers                          lr     batch epochs
    "simple_rnn": dict(layers="simple_rnn", learning_rate=5e-6, batch_size=128, epochs=400),
    "bilstm": dict(layers="bilstm", learning_rate=1e-5, batch_size=32, epochs=500),
}
# arm: (library that trains, whose initial weights, batch order)
#   order "fit":   fit(x, y, shuffle=True), the library's own shuffling
#   order "fresh": a generator yields the batches of a new permutation every epoch, drawn from
#                  numpy's default_rng(seed): the same batches in both libraries
#   order "fixed": the same, with one permutation repeated every epoch
#   order "none":  fit(shuffle=False)
ARMS = {
    "minirnn": ("minirnn", "minirnn", "fit"),
    "keras": ("keras", "keras", "fit"),
    "minirnn_from_keras_init": ("minirnn", "keras", "fit"),
    "keras_from_minirnn_init": ("keras", "minirnn", "fit"),
    "minirnn_fresh": ("minirnn", "keras", "fresh"),
    "keras_fresh": ("keras", "keras", "fresh"),
    "minirnn_fixed": ("minirnn", "keras", "fixed"),
    "keras_fixed": ("keras", "keras", "fixed"),
}
DEFAULT_ARMS = "minirnn,keras,minirnn_from_keras_init,keras_from_minirnn_init"
# The pairs report compares: (a, b) is a test of "a and b end alike".
PAIRS = [("minirnn", "keras"), ("minirnn_from_keras_init", "keras"), ("minirnn", "keras_from_minirnn_init"),
         ("minirnn_fresh", "keras_fresh"), ("minirnn_fixed", "keras_fixed"), ("keras_fixed", "keras_fresh"),
         ("minirnn_fixed", "minirnn_fresh"), ("keras", "keras_fresh"), ("minirnn", "minirnn_fresh"),
         ("minirnn_fixed", "minirnn"), ("minirnn_fixed", "keras"), ("minirnn_fresh", "keras"),
         ("keras_fixed", "keras"), ("minirnn", "keras_fixed")]
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}


# ---------------------------------------------------------------------------- one training run
def course_data():
    """(x_train (980, 20), y_train (980,), x_valid (461, 20), y_valid (461,)), float32."""
    import numpy as np
    sys.path.insert(0, REPO)
    from minirnn.data import synthetic_series

    _, series = synthetic_series(seed=42)
    windows = np.lib.stride_tricks.sliding_window_view(series[:SPLIT_TIME], WINDOW + 1)
    x_train, y_train = np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, -1])
    x_valid = np.ascontiguousarray(
        np.lib.stride_tricks.sliding_window_view(series[SPLIT_TIME - WINDOW:-1], WINDOW))
    return x_train, y_train, x_valid, series[SPLIT_TIME:]


def build(lib, layers):
    """The course's model in `lib` (minirnn or keras): channel axis, two recurrent layers,
    Dense(1), times 100."""
    L = lib.layers
    if layers == "simple_rnn":
        recurrent = [L.SimpleRNN(40, return_sequences=True), L.SimpleRNN(40)]
    else:
        recurrent = [L.Bidirectional(L.LSTM(32, return_sequences=True)), L.Bidirectional(L.LSTM(32))]
    model = lib.Sequential([lib.Input((WINDOW,)), L.Lambda(lambda x: x[..., None]), *recurrent,
                            L.Dense(1), L.Lambda(lambda x: x * 100.0)])
    return model


def initial_weights(lib_name, layers, seed):
    """The weights `lib_name` gives the model after set_random_seed(seed)."""
    if lib_name == "keras":
        import keras
        keras.utils.set_random_seed(seed)
        return build(keras, layers).get_weights()
    import minirnn as mr
    mr.set_random_seed(seed)
    return build(mr, layers).get_weights()


def batches(x, y, batch_size, epochs, seed, fixed):
    """Batches of a permutation per epoch (one permutation for all epochs if `fixed`)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            yield x[index], y[index]
        if not fixed:
            order = rng.permutation(len(x))


def compiled_model(recipe, arm, seed):
    """A job's build: the recipe's model in the arm's library, from the arm's initial weights,
    compiled; the training library seeded as a seeded script of it is (its fit shuffles from there)."""
    lib_name, init, _ = ARMS[arm]
    spec = RECIPES[recipe]
    if "keras" in (lib_name, init):
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)     # before TensorFlow's first op
        tf.config.threading.set_inter_op_parallelism_threads(1)
    start_weights = initial_weights(init, spec["layers"], seed)
    if lib_name == "keras":
        import keras
        lib = keras
        keras.utils.set_random_seed(seed)     # Keras's shuffling, as a seeded Keras script has it
    else:
        import minirnn as mr
        mr.parallel.set_large_work_threads(1)
        lib = mr
        mr.set_random_seed(seed)
    model = build(lib, spec["layers"])
    model.set_weights(start_weights)
    model.compile(loss=lib.losses.Huber(),
                  optimizer=lib.optimizers.SGD(learning_rate=spec["learning_rate"], momentum=0.9))
    return model


def training_data(arm, batch_size, epochs, seed):
    """A job's data, in the arm's batch order: the arrays (fit shuffles them, or not), or a
    generator of every epoch's batches."""
    x_train, y_train, _, _ = course_data()
    order = ARMS[arm][2]
    if order in ("fit", "none"):
        return x_train, y_train
    return batches(x_train, y_train, batch_size, epochs, seed, fixed=order == "fixed"), None


def validation_mae(model, batch_size):
    """A job's score: the one-step forecast's MAE over the validation steps."""
    import numpy as np
    _, _, x_valid, y_valid = course_data()
    forecast = np.asarray(model.predict(x_valid, batch_size=batch_size, verbose=0)).reshape(-1)
    return {"val_mae": float(np.mean(np.abs(forecast.astype(np.float64) - y_valid)))}


def job(recipe, arm, seed, epochs=None):
    """The fit_many job of one run."""
    import functools
    from minirnn.fits import FitJob
    spec = RECIPES[recipe]
    epochs, b = epochs or spec["epochs"], spec["batch_size"]
    if ARMS[arm][2] in ("fit", "none"):
        fit = dict(batch_size=b, epochs=epochs, shuffle=ARMS[arm][2] == "fit")
    else:
        fit = dict(epochs=epochs, steps_per_epoch=math.ceil((SPLIT_TIME - WINDOW) / b))
    return FitJob(compiled_model, functools.partial(training_data, arm, b, epochs, seed), fit, seed=seed,
                  build_kwargs=dict(recipe=recipe, arm=arm, seed=seed), name=f"{recipe}-{arm}-{seed}-{epochs}",
                  score=functools.partial(validation_mae, batch_size=b))


def outcome(result):
    """A run's {"val_mae", "loss" (per epoch), "seconds" (of fit)} from its FitResult."""
    return dict(val_mae=result.metrics["val_mae"], loss=result.history["loss"], seconds=round(result.fit_seconds, 1))


# ---------------------------------------------------------------------------- bookkeeping
def load(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:     # a line cut short by a killed run
                        pass
    return rows


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores"


def revision():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def append(path, row):
    """Append `row` as one JSON line in one write: two writers never interleave their lines."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(row) + "\n").encode())
    finally:
        os.close(fd)


def run(args):
    recipes, arms = args.recipes.split(","), args.arms.split(",")
    for arm in arms:
        if arm not in ARMS:
            raise SystemExit(f"unknown arm {arm!r}; the arms: {', '.join(ARMS)}")
    # The workers are spawned with this environment: one thread each, from their first import on.
    os.environ.update(ONE_THREAD, TF_CPP_MIN_LOG_LEVEL="3",
                      PYTHONPATH=os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p))
    sys.path.insert(0, REPO)
    import minirnn as mr
    rev, cpu = revision(), machine()
    todo = [(recipe, arm, seed) for seed in range(args.first_seed, args.first_seed + args.seeds)
            for recipe in recipes for arm in arms]
    print(f"{len(todo)} runs asked for ({cpu}, revision {rev})", flush=True)
    done = {(r["recipe"], r["arm"], r["seed"], r["epochs"]) for r in load(args.results)}
    jobs = [job(recipe, arm, seed, args.epochs) for recipe, arm, seed in todo
            if (recipe, arm, seed, args.epochs or RECIPES[recipe]["epochs"]) not in done
            and claim(args.results, f"{recipe}-{arm}-{seed}-{args.epochs or RECIPES[recipe]['epochs']}")]

    def record(count, total, result):
        recipe, arm, seed = (result.job.build_kwargs[k] for k in ("recipe", "arm", "seed"))
        if not result.ok:
            print(f"{recipe} {arm} seed {seed}: failed ({result.error})", flush=True)
            return
        row = dict(recipe=recipe, arm=arm, seed=seed, epochs=result.job.fit_kwargs["epochs"], revision=rev,
                   cpu=cpu, **outcome(result))
        append(args.results, row)
        print(f"{recipe:10s} {arm:24s} seed {seed:3d}: val MAE {row['val_mae']:.3f} "
              f"({row['seconds']:.0f} s) [{count}/{total}]", flush=True)

    if jobs:       # the warm-up (kernels compiled here first) is for minirnn's kernels only
        mr.fit_many(jobs, workers=args.workers, jobs_per_worker=1, progress=record,
                    warm_up=ARMS[jobs[0].build_kwargs["arm"]][:2] == ("minirnn", "minirnn"))
        mr.fits.shutdown_pool()


def claim(results, job):
    """True if this process may run `job`: it created the claim file, or the claimer is gone."""
    folder = results + ".claims"
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, job)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            with open(path) as f:
                pid = int(f.read().strip())
            if pid <= 0:
                raise ValueError(pid)
            os.kill(pid, 0)                                 # the claimer still runs: its job
            return False
        except (ProcessLookupError, ValueError):            # it died: take the job over
            with open(path, "w") as f:
                f.write(str(os.getpid()))
            return True
        except PermissionError:
            return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def quartiles(values):
    import numpy as np
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return med, q1, q3


def first_parting(a, b, tol=1e-4):
    """First epoch (1-based) where two loss curves differ by more than `tol` relative, or None."""
    for k, (u, v) in enumerate(zip(a, b)):
        if abs(u - v) > tol * max(abs(u), abs(v)):
            return k + 1
    return None


def report(args):
    from scipy.stats import mannwhitneyu
    rows = load(args.results)
    arms = args.arms.split(",") if args.arms else list(ARMS)
    for recipe in args.recipes.split(","):
        spec = RECIPES[recipe]
        mine = [r for r in rows if r["recipe"] == recipe and r["epochs"] == (args.epochs or spec["epochs"])]
        if not mine:
            continue
        by_arm = {}
        for r in mine:
            by_arm.setdefault(r["arm"], {})[r["seed"]] = r
        cpus = sorted({r["cpu"] for r in mine})
        revs = sorted({r["revision"] for r in mine})
        print(f"\n### {recipe}: lr {spec['learning_rate']:g}, batch {spec['batch_size']}, "
              f"{args.epochs or spec['epochs']} epochs ({'; '.join(cpus)}; revision {', '.join(revs)})\n")
        print("| arm | trains | initial weights | batch order | seeds | median val MAE | IQR | s/run |")
        print("| --- | --- | --- | --- | ---: | ---: | --- | ---: |")
        for arm in arms:
            runs = by_arm.get(arm)
            if not runs:
                continue
            lib, init, order = ARMS[arm]
            maes = [r["val_mae"] for r in runs.values()]
            med, q1, q3 = quartiles(maes)
            secs = sorted(r["seconds"] for r in runs.values())[len(runs) // 2]
            print(f"| {arm} | {lib} | {init} | {order} | {len(runs)} | {med:.2f} | {q1:.2f}–{q3:.2f} | {secs:.0f} |")
        print("\n| pair | median difference | Mann-Whitney p (two-sided) |")
        print("| --- | ---: | ---: |")
        for a, b in PAIRS:
            if a in by_arm and b in by_arm and a in arms and b in arms:
                va = [r["val_mae"] for r in by_arm[a].values()]
                vb = [r["val_mae"] for r in by_arm[b].values()]
                p = mannwhitneyu(va, vb, alternative="two-sided").pvalue
                diff = quartiles(va)[0] - quartiles(vb)[0]
                print(f"| {a} vs {b} | {diff:+.2f} | {p:.3f} |")
        # Same start, same batches: where do the two libraries' loss curves part?
        for a, b in (("minirnn_fresh", "keras_fresh"), ("minirnn_fixed", "keras_fixed")):
            if a in by_arm and b in by_arm:
                seeds = sorted(set(by_arm[a]) & set(by_arm[b]))
                parts = [first_parting(by_arm[a][s]["loss"], by_arm[b][s]["loss"]) for s in seeds]
                if seeds:
                    shown = ", ".join("never" if p is None else str(p) for p in parts)
                    print(f"\n{a} vs {b}, same start and batches: loss curves part (> 1e-4 relative) "
                          f"at epoch {shown} (seeds {seeds[0]}..{seeds[-1]})")


ORDER_PROBE = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
lib_name, seeded = sys.argv[1], sys.argv[2] == "seeded"
x = np.arange(10, dtype="float32")[:, None]        # each sample's value is its index
if lib_name == "keras":
    import keras
    if seeded:
        keras.utils.set_random_seed(0)
    seen = []
    def record(batch):
        seen.extend(np.asarray(batch)[:, 0].astype(int).tolist())
        return batch
    model = keras.Sequential([keras.Input((1,)), keras.layers.Lambda(lambda b: (record(b), b)[1]),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)     # eager: record() sees every batch
    model.fit(x, x, batch_size=4, epochs=3, shuffle=True, verbose=0)
    epochs = [seen[k:k + 10] for k in range(0, 30, 10)]
else:
    import minirnn
    from minirnn.data_adapters import get_data_adapter              # what fit() iterates
    if seeded:
        minirnn.set_random_seed(0)
    adapter = get_data_adapter(x, x, batch_size=4, shuffle=True)
    epochs = [sum((xb[:, 0].astype(int).tolist() for xb, _ in adapter), []) for _ in range(3)]
print(epochs)
"""


def orders(args):
    """fit(shuffle=True) on 10 samples, batches of 4, 3 epochs: the sample order of each epoch."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": REPO}
    for lib in ("keras", "minirnn"):
        for seeded in ("seeded", "unseeded"):
            out = subprocess.run([sys.executable, "-c", ORDER_PROBE, lib, seeded], env=env, capture_output=True,
                                 text=True)
            epochs = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
            if epochs is None:
                print(f"{lib:8s} {seeded:9s} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            same = "the same order every epoch" if all(e == epochs[0] for e in epochs) else "a new order each epoch"
            print(f"{lib:8s} {seeded:9s} {' | '.join(' '.join(map(str, e)) for e in epochs)}   -> {same}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--recipes", default="simple_rnn")
    p_run.add_argument("--arms", default=DEFAULT_ARMS)
    p_run.add_argument("--seeds", type=int, default=20)
    p_run.add_argument("--first-seed", type=int, default=0)
    p_run.add_argument("--workers", type=int, default=None, help="runs at once (default: one per core)")
    p_report = sub.add_parser("report")
    p_report.add_argument("--recipes", default="simple_rnn,bilstm")
    p_report.add_argument("--arms", default=None)
    sub.add_parser("arms")
    sub.add_parser("orders")
    for p in (p_run, p_report):
        p.add_argument("--results", default=RESULTS)
        p.add_argument("--epochs", type=int, default=None, help="instead of the recipe's (a shorter study)")
    args = parser.parse_args()
    if args.command == "arms":
        for arm, (lib, init, order) in ARMS.items():
            print(f"{arm:24s} {lib} trains from {init}'s initial weights, batch order {order}")
        return
    {"run": run, "report": report, "orders": orders}[args.command](args)


if __name__ == "__main__":
    main()
