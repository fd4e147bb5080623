"""Fuzz every file format minirnn reads: mutated copies of legitimate files (tests/file_mutations.py),
loaded in child processes under memory and time limits (tests/file_cases.py).  Each must load (with
the original's predictions when the edits cannot change its meaning) or raise ModelFileError naming
the file, grow memory by no more than the harness's allowance, finish in time and change nothing.

    python tools/fuzz_files.py --cases 10000            counts, peak memory growth, the slowest cases
    python tools/fuzz_files.py --cases 200 --keep out   keep the files (the failing ones are kept anyway)

Cases are drawn in batches; each batch runs in one child process (a new one after a crash).
"""
import argparse
import collections
import json
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import file_cases as fc  # noqa: E402
import file_mutations as fm  # noqa: E402


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250, help="cases drawn and run per child process")
    parser.add_argument("--keep", help="directory to keep every mutated file in")
    parser.add_argument("--failures", default="fuzz-failures", help="where failing files and results go")
    parser.add_argument("--derandomize", action="store_true")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="minirnn-fuzz-")
    seeds_dir = os.path.join(work, "seeds")
    os.mkdir(seeds_dir)
    seeds = fc.write_seeds(seeds_dir)
    statuses, failures = collections.Counter(), []
    peak, slowest, done, start = (0, None), (0.0, None), 0, time.perf_counter()
    while done < args.cases:
        batch_dir = args.keep or os.path.join(work, "batch")
        os.makedirs(batch_dir, exist_ok=True)
        cases = fm.draw_cases(seeds, batch_dir, min(args.batch, args.cases - done), args.derandomize, start=done)
        results = fc.run_cases(cases, seeds_dir)
        for case in cases:
            result = results[case["id"]]
            statuses[result["status"]] += 1
            if result["growth"] > peak[0]:
                peak = (result["growth"], f"{case['seed']} {case['edits']} ({result['status']}, "
                                          f"{result['size']:,} bytes, {result['json']:,} of JSON)")
            if result["seconds"] > slowest[0]:
                slowest = (result["seconds"], case["edits"])
            found = fc.problems(result)
            if found:
                os.makedirs(args.failures, exist_ok=True)
                kept = shutil.copy(case["path"], args.failures)
                failures.append({"case": {**case, "path": kept}, "result": result, "problems": found})
        done += len(cases)
        if not args.keep:
            shutil.rmtree(batch_dir)
        print(f"{done:,} cases, {time.perf_counter() - start:,.0f} s: {dict(statuses)}; "
              f"{len(failures)} failing", flush=True)
    if failures:
        with open(os.path.join(args.failures, "failures.json"), "w") as f:
            json.dump(failures, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start
    print(f"\n{done:,} cases in {seconds:,.0f} s ({cpu()}, {os.cpu_count()} cores)")
    print(f"outcomes: {dict(statuses)}")
    print(f"peak memory growth of one load: {peak[0] / 2**20:,.1f} MiB, {peak[1]}")
    print(f"slowest load: {slowest[0]:.2f} s, {slowest[1]}")
    print(f"failing: {len(failures)}" + (f" (files and results in {args.failures}/)" if failures else ""))
    for failure in failures[:20]:
        print(f"  {failure['case']['seed']} {failure['case']['edits']}: {failure['problems'][:2]}")
    return {"cases": done, "statuses": dict(statuses), "failures": failures, "peak": peak[0], "seconds": seconds}


if __name__ == "__main__":
    sys.exit(1 if main()["failures"] else 0)
