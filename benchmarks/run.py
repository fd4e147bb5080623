"""CPU benchmarks of minirnn against Keras (TensorFlow) and PyTorch: one command.

    python benchmarks/run.py [--quick] [--repeats N] [--cases a,b|group] [--libs minirnn,keras,torch]
                             [--blas-env as-is,unset] [--threads N] [--minirnn-src PATH|GIT-REV]

Every (library, case) is measured in its own process (benchmarks/worker.py), round by
round, the order of the libraries rotating each round, so drift on a shared machine hits
all of them alike.  Each process warms up, then takes SAMPLES timings; the table shows the
median of all samples over all rounds.  minirnn runs once per OpenBLAS environment
(--blas-env); the peers, whose BLAS does not read those variables, run once.
Writes results/<out>.md, .json and .png (and <out>_scaling.png when the scaling cases ran).
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from cases import ALL_LIBS, CASES, TARGETS, flops  # noqa: E402
from worker import RESULT_MARKER  # noqa: E402

# ---------------------------------------------------------------------------- settings
ROUNDS = 3                  # processes per (library, case); the library order rotates each round
SAMPLES = 5                 # timed samples per process, after the warm-up
MIN_SAMPLE_TIME = 0.3       # seconds: short calls are repeated until one sample lasts this long
QUICK_CASES = ("course_simple_rnn_fit_b32", "course_bilstm_fit_b32", "jena_lstm_step", "predict_1", "gemm")
QUICK_ROUNDS, QUICK_SAMPLES, QUICK_MIN_SAMPLE_TIME = 1, 3, 0.2
GROUPS = ("main", "scaling", "cold", "memory", "machine")
# Environments minirnn runs in (None removes the variable, in the worker's environment only).
BLAS_ENVS = {
    "as-is": {},
    "unset": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None},
    "haswell": {"OPENBLAS_CORETYPE": "Haswell"},           # what some machines set
    "blas1": {"OPENBLAS_NUM_THREADS": "1"},                # diagnostic: single-threaded OpenBLAS
}
DEFAULT_BLAS_ENVS = "as-is,unset"
PEER_INSTALLED = {"keras": ("keras", "tensorflow"), "torch": ("torch",)}
WORKER_TIMEOUT = 1800       # seconds per worker process
RESULTS_DIR = os.path.join(HERE, "results")


# ---------------------------------------------------------------------------- set-up
def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"reduced set ({len(QUICK_CASES)} cases, 1 round)")
    p.add_argument("--repeats", type=int, help=f"rounds: processes per library and case (default {ROUNDS})")
    p.add_argument("--samples", type=int, help=f"timed samples per process (default {SAMPLES})")
    p.add_argument("--cases", help=f"comma-separated case names or groups {GROUPS} or 'all' (default all)")
    p.add_argument("--libs", default=",".join(ALL_LIBS))
    p.add_argument("--blas-env", default=DEFAULT_BLAS_ENVS, help=f"minirnn environments from {list(BLAS_ENVS)}")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="TF and torch threads (default: cores)")
    p.add_argument("--minirnn-src", default=REPO,
                   help="directory holding the minirnn package, or a git revision to export (e.g. HEAD)")
    p.add_argument("--out", default="latest", help="stem of the files written to results/")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p.parse_args()


def select_cases(spec, quick):
    if not spec:
        names = list(QUICK_CASES) if quick else list(CASES)
    else:
        names = []
        for item in spec.split(","):
            if item == "all":
                names += list(CASES)
            elif item in GROUPS:
                names += [n for n, c in CASES.items() if c["group"] == item]
            elif item in CASES:
                names.append(item)
            else:
                sys.exit(f"unknown case or group {item!r}; see --list")
    names.append("gemm")                           # the machine's GEMM rate, for the GFLOP/s column
    return [CASES[n] for n in dict.fromkeys(names)]


def installed(lib):
    return lib == "minirnn" or all(importlib.util.find_spec(m) is not None for m in PEER_INSTALLED[lib])


def blas_envs(names):
    """{variant: environment} for minirnn; variants identical to as-is are dropped with a note."""
    envs, notes = {}, []
    for name in names:
        if name not in BLAS_ENVS:
            sys.exit(f"unknown --blas-env {name!r}; choose from {list(BLAS_ENVS)}")
        env = dict(os.environ)
        for key, value in BLAS_ENVS[name].items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        if name != "as-is" and env == dict(os.environ):
            notes.append(f"`{name}` is identical to `as-is` here ({', '.join(BLAS_ENVS[name])} "
                         f"not set), so it was not run separately")
            continue
        envs[name] = env
    return envs, notes


def minirnn_source(spec):
    """(directory holding minirnn/, description): a path, or a git revision exported to a temp dir."""
    if os.path.isdir(os.path.join(spec, "minirnn")):
        path = os.path.abspath(spec)
        return path, f"{path} ({git_state(path)})"
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", spec], capture_output=True, text=True)
    if rev.returncode:
        sys.exit(f"--minirnn-src {spec!r} is neither a directory holding minirnn/ nor a git revision")
    rev = rev.stdout.strip()
    # One directory per commit, kept between runs so Numba's cache next to the sources stays warm.
    target = os.path.join(tempfile.gettempdir(), f"minirnn_bench_src_{rev}")
    if not os.path.isdir(os.path.join(target, "minirnn")):
        os.makedirs(target, exist_ok=True)
        archive = subprocess.run(["git", "-C", REPO, "archive", spec, "minirnn"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", target], input=archive.stdout, check=True)
    return target, f"git revision {spec} = {rev}, exported to {target}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def git_state(path):
    try:
        rev = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "minirnn"], capture_output=True,
                               text=True).stdout.strip()
        return f"commit {rev}" + (", with uncommitted changes in minirnn/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"


# ---------------------------------------------------------------------------- running
def run_worker(lib, case, env, samples, min_sample_time):
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), lib, case["name"],
           "--samples", str(samples), "--min-sample-time", str(min_sample_time)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {WORKER_TIMEOUT} s")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return dict(error=f"exit {proc.returncode}: {tail}")


def plan(cases, libs, envs, peer_env):
    """Per case, the runs [(key, lib, variant, env)]; key names the column ('minirnn@as-is', 'torch')."""
    out = []
    for case in cases:
        runs = []
        for lib in case["libs"]:
            if lib not in libs:
                continue
            if lib == "minirnn":
                runs += [(f"minirnn@{v}", lib, v, env) for v, env in envs.items()]
            elif installed(lib):
                runs.append((lib, lib, None, peer_env))
        out.append((case, runs))
    return out


def run_all(schedule, rounds, samples, min_sample_time, log):
    results = {c["name"]: {} for c, _ in schedule}
    warm_cache = {}                                   # variant -> a primed NUMBA_CACHE_DIR
    temp_dirs = []
    for r in range(rounds):
        for case, runs in schedule:
            if not runs:
                continue
            shift = r % len(runs)
            for key, lib, variant, env in runs[shift:] + runs[:shift]:
                env = dict(env)
                cache = case.get("numba_cache")
                if lib == "minirnn" and cache == "empty":
                    env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba_cold_")
                    temp_dirs.append(env["NUMBA_CACHE_DIR"])
                elif lib == "minirnn" and cache == "warm":
                    if variant not in warm_cache:
                        warm_cache[variant] = tempfile.mkdtemp(prefix="numba_warm_")
                        temp_dirs.append(warm_cache[variant])
                        # Primed with every kernel the fit uses: compiled before their first call
                        # (in the background, a process ending after two short fits would leave
                        # the kernels still queued out of the cache).
                        run_worker(lib, case, dict(env, NUMBA_CACHE_DIR=warm_cache[variant],
                                                   MINIRNN_COMPILE="wait"), 1, 0)
                    env["NUMBA_CACHE_DIR"] = warm_cache[variant]
                start = time.perf_counter()
                res = run_worker(lib, case, env, samples, min_sample_time)
                entry = results[case["name"]].setdefault(key, dict(samples=[], extra=[], info=None, errors=[]))
                if "error" in res:
                    entry["errors"].append(res["error"])
                    shown = "ERROR " + res["error"]
                else:
                    entry["samples"] += res["samples"]
                    entry["extra"].append(res["extra"])
                    entry["info"] = entry["info"] or res["info"]
                    shown = fmt_value(case, statistics.median(res["samples"]))
                log(f"[round {r + 1}/{rounds}] {case['name']:<26} {key:<16} {shown:>12}"
                    f"   ({time.perf_counter() - start:.1f} s)")
    for d in temp_dirs:
        shutil.rmtree(d, ignore_errors=True)
    return results


# ---------------------------------------------------------------------------- reporting
def median(results, case_name, key):
    entry = results.get(case_name, {}).get(key)
    return statistics.median(entry["samples"]) if entry and entry["samples"] else None


def fmt_value(case, v):
    if v is None:
        return "—"
    if case["kind"] == "memory":
        return f"{v:.1f} MB"
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.3g} ms"
    return f"{v:.3g} s"


def fmt_ratio(a, b):
    return f"{a / b:.3g}" if a and b else "—"


def cell(results, case, key, libs):
    """The table cell of one library: its median, or why there is none."""
    lib = key.split("@")[0]
    source = case.get("peers_from") if lib != "minirnn" and case.get("peers_from") else case["name"]
    entry = results.get(source, {}).get(key)
    if lib not in libs:
        return "—", None
    if lib != "minirnn" and not installed(lib):
        return "not installed", None
    if lib not in CASES[source]["libs"]:
        return "—", None
    if entry is None or not entry["samples"]:
        return ("error" if entry and entry["errors"] else "—"), None
    v = statistics.median(entry["samples"])
    return fmt_value(case, v), v


def gflops(case, seconds):
    f = flops(case)
    return f / seconds / 1e9 if f and seconds else None


def table(results, cases, variant, libs):
    peers = [p for p in ALL_LIBS if p != "minirnn"]
    head = (["case", f"minirnn ({variant})"] + peers + [f"minirnn/{p}" for p in peers]
            + ["GFLOP/s " + " / ".join(["minirnn"] + peers)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in cases:
        mr_text, mr_v = cell(results, case, f"minirnn@{variant}", libs)
        row, ratios, rates = [case["title"], mr_text], [], [gflops(case, mr_v)]
        for p in peers:
            text, v = cell(results, case, p, libs)
            row.append(text)
            ratios.append(fmt_ratio(mr_v, v))
            rates.append(gflops(case, v))
        rate_text = " / ".join("—" if g is None else f"{g:.3g}" for g in rates) if flops(case) else ""
        lines.append("| " + " | ".join(row + ratios + [rate_text]) + " |")
    return "\n".join(lines)


def scaling_table(results, variants):
    lines = []
    for param in dict.fromkeys(c["scale_param"] for c in CASES.values() if c["group"] == "scaling"):
        cases = [c for c in CASES.values() if c.get("scale_param") == param and c["name"] in results]
        if not cases:
            continue
        head = [param] + [f"minirnn ({v})" for v in variants] + ["torch"] + \
               [f"minirnn ({v})/torch" for v in variants] + ["GFLOP/s minirnn / torch"]
        lines += [f"\nLSTM step, {param} varied (others: B64 T50 D16 n64):\n",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for c in cases:
            t = median(results, c["name"], "torch")
            mr = [median(results, c["name"], f"minirnn@{v}") for v in variants]
            row = [str(c["scale_value"])] + [fmt_value(c, m) for m in mr] + [fmt_value(c, t)]
            row += [fmt_ratio(m, t) for m in mr]
            g = [gflops(c, mr[0]), gflops(c, t)]
            row.append(" / ".join("—" if x is None else f"{x:.3g}" for x in g))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def target_rows(results, variant):
    """[(goal, measured, met)] for every goal in cases.TARGETS whose case ran; met is None when a
    number is missing (a peer not installed, an error)."""
    rows = []
    gemm_s = median(results, "gemm", f"minirnn@{variant}")
    for name, measure, op, bound in TARGETS:
        if name not in results:
            continue
        case, mine = CASES[name], median(results, name, f"minirnn@{variant}")
        if measure == "seconds":
            value, goal, shown = mine, f"{case['title']}: ≤ {bound:g} s", fmt_value(case, mine)
            goal = goal.replace("≤", "<") if op == "<" else goal
        elif measure == "gemm share":
            rate = gflops(case, mine)
            value = rate / (2 * 1024 ** 3 / gemm_s / 1e9) if rate and gemm_s else None
            goal = f"{case['title']}: ≥ {bound:.0%} of the GEMM rate"
            shown = "—" if value is None else f"{value:.0%} ({rate:.3g} GFLOP/s)"
        else:
            source = case.get("peers_from") or name
            peer = median(results, source, measure)
            value = mine / peer if mine and peer else None
            goal = f"{case['title']}: minirnn/{measure} ≤ {bound:g}"
            shown = "—" if value is None else f"{value:.3g}"
        if value is None:
            met = None
        else:
            met = {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[op]
        rows.append((goal, shown, met))
    return rows


def targets_table(results, variant):
    rows = target_rows(results, variant)
    if not rows:
        return ""
    lines = ["| goal | measured | met |", "|---|---|---|"]
    for goal, shown, met in rows:
        lines.append(f"| {goal} | {shown} | {'?' if met is None else '✓' if met else '✗'} |")
    return "\n".join(lines)


def versions(results):
    out = {}
    for entries in results.values():
        for key, entry in entries.items():
            info = entry.get("info") or {}
            lib = key.split("@")[0]
            if lib == "minirnn":
                out.setdefault("numpy", info.get("numpy"))
                out.setdefault("numba", info.get("numba"))
                if info.get("blas"):
                    out.setdefault("openblas (minirnn process)", "; ".join(
                        f"{b['lib']} {b['threads']} threads {b['arch']}" for b in info["blas"]))
            elif lib == "keras":
                out.setdefault("tensorflow", info.get("tensorflow"))
                out.setdefault("keras", info.get("version"))
                out.setdefault("keras jit_compile", info.get("jit_compile"))
            elif lib == "torch":
                out.setdefault("torch", info.get("version"))
    return {k: v for k, v in out.items() if v is not None}


def report(results, meta, cases, variants, libs):
    timed = [c for c in cases if c["group"] in ("main", "cold", "memory")]
    gemm = {v: median(results, "gemm", f"minirnn@{v}") for v in variants}
    gemm_text = ", ".join(f"{2 * 1024 ** 3 / s / 1e9:.1f} GFLOP/s ({v})" for v, s in gemm.items() if s)
    md = [f"# minirnn CPU benchmarks — {meta['date']}", "",
          f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}  ",
          f"Load average (1 min) at start / end: {meta['load_start']} / {meta['load_end']}  ",
          f"Threads: TF intra/inter-op = torch = {meta['threads']}; minirnn cores (large_work_threads) = {meta['threads']}, BLAS managed by minirnn  ",
          f"OPENBLAS_* as-is: {meta['openblas_env'] or 'none set'}  ",
          f"minirnn source: {meta['minirnn_src']}  ",
          "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "  ",
          f"Rounds: {meta['rounds']}, samples per process: {meta['samples']}, wall time {meta['wall_s']:.0f} s  ",
          f"numpy float32 GEMM 1024²: {gemm_text or 'not measured'}", ""]
    md += [f"- {n}" for n in meta["notes"]]
    md += ["", "Median time per epoch (fit), per training step (step), per call (predict), per process "
           "(first fit, import); memory: peak RSS growth. Ratio > 1: minirnn slower. GFLOP/s counts the "
           "recurrent layers' matmul FLOPs, 2·B·T·(D+n)·G·n forward and twice that backward.", ""]
    for v in variants:
        md += [f"## minirnn with OpenBLAS environment `{v}`", "", table(results, timed, v, libs), ""]
        goals = targets_table(results, v)
        if goals:
            md += [f"### Goals (issue 22), minirnn `{v}`", "", goals, ""]
    if any(c["group"] == "scaling" for c in cases):
        md += ["## Scaling: minirnn vs PyTorch", "", scaling_table(results, variants), "",
               f"![scaling]({meta['out']}_scaling.png)" if meta.get("scaling_png") else ""]
    return "\n".join(md) + "\n"


def plot(results, cases, variants, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cases = [c for c in cases if c["group"] == "main" and c["name"] in results]
    keys = [f"minirnn@{v}" for v in variants] + [p for p in ALL_LIBS if p != "minirnn"]
    if not cases:
        return False
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(cases) * len(keys) / 2 + 1.5))
    height = 0.8 / len(keys)
    y = np.arange(len(cases))
    for k, key in enumerate(keys):
        vals = [median(results, c["name"], key) or 0 for c in cases]
        ax.barh(y + k * height, vals, height, label=key.replace("@", " "))
    ax.set_yticks(y + 0.4 - height / 2, [c["title"] for c in cases])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median seconds (log scale; shorter is faster)")
    ax.set_title(title)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return True


def plot_scaling(results, variants, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    params = list(dict.fromkeys(c["scale_param"] for c in CASES.values() if c["group"] == "scaling"))
    if not any(c["group"] == "scaling" and c["name"] in results for c in CASES.values()):
        return False
    fig, axes = plt.subplots(1, len(params), figsize=(5 * len(params), 4))
    for ax, param in zip(axes, params):
        cs = [c for c in CASES.values() if c.get("scale_param") == param and c["name"] in results]
        for key in [f"minirnn@{v}" for v in variants] + ["torch"]:
            pts = [(c["scale_value"], median(results, c["name"], key)) for c in cs]
            pts = [(x, v * 1e3) for x, v in pts if v]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=key.replace("@", " "))
        ax.set(xscale="log", yscale="log", xlabel=param, ylabel="ms per training step",
               title=f"LSTM step vs {param}")
        ax.set_xticks([c["scale_value"] for c in cs], [str(c["scale_value"]) for c in cs])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main():
    args = parse_args()
    if args.list:
        for name, c in CASES.items():
            print(f"{name:<28} {c['group']:<8} {'/'.join(c['libs']):<22} {c['title']}")
        return
    start = time.perf_counter()
    rounds = args.repeats or (QUICK_ROUNDS if args.quick else ROUNDS)
    samples = args.samples or (QUICK_SAMPLES if args.quick else SAMPLES)
    min_sample_time = QUICK_MIN_SAMPLE_TIME if args.quick else MIN_SAMPLE_TIME
    cases = select_cases(args.cases, args.quick)
    libs = [lib for lib in args.libs.split(",") if lib]
    envs, notes = blas_envs([v for v in args.blas_env.split(",") if v])
    src, src_text = minirnn_source(args.minirnn_src)
    for env in envs.values():
        env["MINIRNN_BENCH_SRC"] = src
    peer_env = dict(os.environ, BENCH_THREADS=str(args.threads), TF_CPP_MIN_LOG_LEVEL="2",
                    KERAS_BACKEND="tensorflow")
    for lib in libs:
        if lib != "minirnn" and not installed(lib):
            notes.append(f"{lib} is not installed: skipped")
    meta = dict(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                command="python benchmarks/run.py " + " ".join(sys.argv[1:]),
                machine=f"{os.cpu_count()} cores, {cpu_model()}, "
                        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
                load_start=f"{os.getloadavg()[0]:.2f}", threads=args.threads, minirnn_src=src_text,
                openblas_env=", ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("OPENBLAS")),
                rounds=rounds, samples=samples, notes=notes, out=args.out)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    print(f"{len(cases)} cases, {rounds} round(s), minirnn environments {list(envs)}", flush=True)
    for n in notes:
        print("note:", n, flush=True)

    schedule = plan(cases, libs, envs, peer_env)
    results = run_all(schedule, rounds, samples, min_sample_time, lambda s: print(s, flush=True))

    meta.update(load_end=f"{os.getloadavg()[0]:.2f}", wall_s=time.perf_counter() - start,
                versions=versions(results))
    variants = list(envs)
    stem = os.path.join(RESULTS_DIR, args.out)
    meta["scaling_png"] = plot_scaling(results, variants, stem + "_scaling.png")
    plot(results, cases, variants, stem + ".png", f"minirnn vs Keras vs PyTorch, {meta['date']}")
    text = report(results, meta, cases, variants, libs)
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump(dict(meta=meta, results=results), f, indent=1)
    print("\n" + text)
    print(f"written: {stem}.md, .json, .png")


if __name__ == "__main__":
    main()
