"""minirnn.fit_many: the speed-up of 2 workers over 1, and the cost per job against a plain loop.

    pip install ".[ray]"            # for --ray
    python benchmarks/fit_many.py [--jobs N] [--epochs N] [--rounds N] [--ray] [--out FILE.md]

JOBS independent fits of examples/many_series.py's model (one series each).  Timed, each ROUNDS
times (the median shown): a plain loop in this process (``set_random_seed``, build, fit, one
core each, as a worker runs them); ``fit_many`` on a process pool of 1 and of 2 workers; with
--ray, on a local Ray instance of 2 CPUs (started before timing; its start-up is reported apart).
Overhead per job = (time on 1 worker - plain loop) / JOBS: starting processes, sending jobs and
results, the warm-up fit.  Every way must give the same weights as the plain loop.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "examples")]
import minirnn as mr  # noqa: E402
import many_series  # noqa: E402
from onnx_latency import cpu_name, report  # noqa: E402

JOBS = 24
EPOCHS = 8
ROUNDS = 3


def plain_loop(jobs):
    results = []
    previous = mr.parallel.set_large_work_threads(1)
    try:
        for job in jobs:
            mr.set_random_seed(job.seed)
            model = job.build()
            x, y = job.data()
            model.fit(x, y, verbose=0, **job.fit_kwargs)
            results.append(model.get_weights())
    finally:
        mr.parallel.set_large_work_threads(previous)
    return results


def timed(call):
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--ray", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    jobs = many_series.jobs(args.jobs, args.epochs)
    ways = {"plain loop": lambda: plain_loop(jobs),
            "fit_many, 1 process": lambda: mr.fit_many(jobs, workers=1, progress=False),
            "fit_many, 2 processes": lambda: mr.fit_many(jobs, workers=2, progress=False)}
    ray_start = None
    if args.ray:
        ray_start, _ = timed(lambda: mr.fit_many(jobs[:2], backend="ray", workers=2, progress=False))
        ways["fit_many, Ray 2 CPUs"] = lambda: mr.fit_many(jobs, backend="ray", workers=2, progress=False)
    plain_loop(jobs[:1])                                           # compile before any timing
    starts = {}
    for workers in (1, 2):          # the first call starts the pool's processes (kept after): timed apart
        starts[workers], _ = timed(lambda: mr.fit_many(jobs[:workers], workers=workers, progress=False))
    times = {way: [] for way in ways}
    reference = None
    for r in range(args.rounds):
        order = list(ways)[r % len(ways):] + list(ways)[:r % len(ways)]    # rotate, so drift hits all alike
        for way in order:
            seconds, out = timed(ways[way])
            times[way].append(seconds)
            weights = out if way == "plain loop" else [res.weights for res in out]
            reference = reference or weights
            same = all(np.array_equal(a, b) for wa, wb in zip(weights, reference) for a, b in zip(wa, wb))
            assert same, f"{way} trained different weights than the plain loop"
            print(f"round {r + 1}: {way}: {seconds:.2f} s", file=sys.stderr)
    med = {way: statistics.median(ts) for way, ts in times.items()}
    loop, one, two = med["plain loop"], med["fit_many, 1 process"], med["fit_many, 2 processes"]
    lines = [f"CPU: {cpu_name()}, {len(os.sched_getaffinity(0))} cores; {args.jobs} fits of examples/many_series.py's "
             f"GRU({many_series.UNITS}), {args.epochs} epochs each; median of {args.rounds} rounds", "",
             "| way | seconds | per job | vs plain loop |", "|---|---:|---:|---:|"]
    for way, t in med.items():
        lines.append(f"| {way} | {t:.2f} | {t / args.jobs * 1e3:.0f} ms | {loop / t:.2f}x |")
    lines += ["", f"Speed-up of 2 processes over 1: {one / two:.2f}x; overhead per job on 1 process: "
                  f"{(one - loop) / args.jobs * 1e3:.0f} ms (the pool kept from round to round). Starting "
                  f"the pool and fitting its first job per process: {starts[1]:.1f} s (1 process), "
                  f"{starts[2]:.1f} s (2 processes), once per session."]
    if ray_start is not None:
        ray_t = med["fit_many, Ray 2 CPUs"]
        lines.append(f"Ray: 2 CPUs {ray_t:.2f} s ({one / ray_t:.2f}x the 1-process pool); starting the local "
                     f"instance and its first 2 jobs took {ray_start:.1f} s, not counted above.")
    report(lines, args.out)
    return med


if __name__ == "__main__":
    main()
