"""Measure one library on one case, in this process only, and print the result as JSON.

    python benchmarks/worker.py LIB CASE [--samples N] [--min-sample-time S]

LIB is minirnn, keras or torch; CASE a name from cases.py.  run.py starts one such
process per (library, case, round), so no library shares a process (or its thread
pools) with another.  The result is one line on stdout starting with RESULT_MARKER:

    {"lib", "case", "samples": [seconds per unit (MB for memory)], "extra": {...}, "info": {...}}

Nothing heavy is imported at module level: the `import` and `first_fit` cases time the
library's own import in a fresh interpreter.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

WORKER_START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from cases import CASES, GEMM_SIZE, LEARNING_RATE, MEMORY_STEPS, MOMENTUM  # noqa: E402

RESULT_MARKER = "BENCH_RESULT "
THREADS = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)   # TF intra/inter-op, torch
WARMUP_STEPS = 3                             # step and predict cases: untimed calls first ...
WARMUP_MAX_TIME = 5.0                        # ... but no more than 2 once they took this long (s)
SEED = 0


# ---------------------------------------------------------------------------- data
def make_data(case):
    """Inputs (N, T, D) and targets (N, 1), float32, the same for every library."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    if case.get("D") == 1 and case.get("T") == 20:
        # The course's series: trend + yearly seasonality + noise, windows of 20 -> next value.
        t = np.arange(1461, dtype="float64")
        phase = t % 365 / 365
        season = np.where(phase < 0.4, np.cos(phase * 2 * np.pi), 1 / np.exp(3 * phase))
        series = (10 + 0.05 * t + 40 * season + 5 * rng.standard_normal(t.size)).astype("float32")[:1000]
        windows = np.lib.stride_tricks.sliding_window_view(series, case["T"] + 1)[: max(case["N"], 1)]
        x, y = windows[:, :-1, None], windows[:, -1:]
        if len(x) < case["N"]:                                  # predict on 1024: tile the windows
            reps = -(-case["N"] // len(x))
            x, y = np.tile(x, (reps, 1, 1))[: case["N"]], np.tile(y, (reps, 1))[: case["N"]]
        return np.array(x, order="C"), np.array(y, order="C")     # writable copies
    n = case.get("N", case["batch"])
    if case.get("vocab"):
        # Reviews: token ids in [1, vocab), lengths uniform in [min_length, T], padded with 0 at
        # the end (so PyTorch can pack them); labels 0 / 1.
        lengths = rng.integers(case["min_length"], case["T"] + 1, n)
        ids = rng.integers(1, case["vocab"], (n, case["T"]))
        ids[np.arange(case["T"]) >= lengths[:, None]] = 0
        return ids.astype("int32"), rng.integers(0, 2, (n, 1)).astype("float32")
    x = rng.standard_normal((n, case["T"], case["D"])).astype("float32")
    y = rng.standard_normal((n, 1)).astype("float32")
    return x, y


# ---------------------------------------------------------------------------- libraries
class KerasStyleCalls:
    """fit / train_on_batch / predict, spelled the same in minirnn and Keras."""

    def settle(self):
        """Nothing to wait for after the warm-up (see Minirnn.settle)."""

    def fit_epoch(self, model, x, y, batch):
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)

    def step(self, model, x, y):
        model.train_on_batch(x, y)

    def predict(self, model, x, batch):
        return model.predict(x, batch_size=batch, verbose=0)


class Minirnn(KerasStyleCalls):
    name = "minirnn"

    def setup(self):
        sys.path.insert(0, os.environ.get("MINIRNN_BENCH_SRC") or REPO)   # run.py --minirnn-src
        import minirnn as mr

        # The same core count as the peers; the thread settings live in minirnn.parallel
        # (minirnn.backend in revisions before that module, which --minirnn-src may name).
        self.threads_module = getattr(mr, "parallel", mr.backend)
        self.threads_module.set_large_work_threads(THREADS)
        self.mr = mr

    def settle(self):
        """Wait for the kernels compiling in the background (revisions without that: nothing)."""
        wait = getattr(self.mr.backend, "wait_for_compiled", None)
        if wait is not None:
            wait()

    def info(self):
        import numba
        import numpy as np

        info = dict(version=self.mr.__version__, path=os.path.dirname(self.mr.__file__), numpy=np.__version__, numba=numba.__version__,
                    numba_threads=numba.config.NUMBA_NUM_THREADS, backend=self.mr.backend.backend())
        info["threads"] = self.threads_module.large_work_threads()
        try:
            from threadpoolctl import threadpool_info

            info["blas"] = [dict(lib=os.path.basename(p["filepath"]), threads=p["num_threads"],
                                 arch=p.get("architecture")) for p in threadpool_info()]
        except ImportError:
            pass
        return info

    def build(self, case):
        mr, L = self.mr, self.mr.layers
        cell = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}[case["cell"]]
        if case.get("vocab"):
            layers = [mr.Input(shape=(case["T"],)), L.Embedding(case["vocab"], case["D"], mask_zero=case["mask"])]
        else:
            layers = [mr.Input(shape=(case["T"], case["D"]))]
        for k, n in enumerate(case["units"]):
            layer = cell(n, return_sequences=k < len(case["units"]) - 1)
            layers.append(L.Bidirectional(layer) if case["bidir"] else layer)
        head = L.Dense(1, activation="sigmoid" if case["loss"] == "binary_crossentropy" else None)
        model = mr.Sequential(layers + [head])
        model.compile(optimizer=mr.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM), loss=case["loss"])
        return model


class Keras(KerasStyleCalls):
    name = "keras"

    def setup(self):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(THREADS)
        import keras

        self.tf, self.keras = tf, keras

    def info(self):
        tf = self.tf
        return dict(version=self.keras.__version__, tensorflow=tf.__version__,
                    intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                    inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
                    jit_compile=getattr(self, "jit_compile", None))

    def build(self, case):
        keras = self.keras
        cell = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                "gru": keras.layers.GRU}[case["cell"]]
        if case.get("vocab"):
            layers = [keras.Input(shape=(case["T"],), dtype="int32"),
                      keras.layers.Embedding(case["vocab"], case["D"], mask_zero=case["mask"])]
        else:
            layers = [keras.Input(shape=(case["T"], case["D"]))]
        for k, n in enumerate(case["units"]):
            layer = cell(n, return_sequences=k < len(case["units"]) - 1)
            layers.append(keras.layers.Bidirectional(layer) if case["bidir"] else layer)
        head = keras.layers.Dense(1, activation="sigmoid" if case["loss"] == "binary_crossentropy" else None)
        model = keras.Sequential(layers + [head])
        loss = keras.losses.Huber() if case["loss"] == "huber" else case["loss"]
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM), loss=loss)
        self.jit_compile = str(getattr(model, "jit_compile", None))
        return model


class Torch:
    name = "torch"

    def settle(self):
        """Nothing to wait for after the warm-up."""

    def setup(self):
        import torch

        torch.set_num_threads(THREADS)
        torch.set_num_interop_threads(THREADS)
        self.torch = torch

    def info(self):
        torch = self.torch
        return dict(version=torch.__version__, threads=torch.get_num_threads(),
                    interop_threads=torch.get_num_interop_threads(),
                    mkldnn=torch.backends.mkldnn.is_available())

    def build(self, case):
        torch, nn = self.torch, self.torch.nn
        rnn = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[case["cell"]]
        dirs = 2 if case["bidir"] else 1

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                d_in, self.rnns = case["D"], nn.ModuleList()
                self.embedding = nn.Embedding(case["vocab"], case["D"]) if case.get("vocab") else None
                self.packed = bool(case.get("mask"))
                for n in case["units"]:
                    self.rnns.append(rnn(d_in, n, batch_first=True, bidirectional=case["bidir"]))
                    d_in = dirs * n
                self.head = nn.Linear(d_in, 1)
                self.is_lstm = rnn is nn.LSTM

            def forward(self, x):
                if self.embedding is not None:
                    ids = x
                    x = self.embedding(ids)
                    if self.packed:         # the masked case: each review read up to its length
                        lengths = (ids != 0).sum(dim=1)
                        x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                for layer in self.rnns[:-1]:
                    x, _ = layer(x)
                _, h = self.rnns[-1](x)
                h = h[0] if self.is_lstm else h                  # (dirs, B, n) final states
                last = torch.cat([h[-2], h[-1]], dim=-1) if dirs == 2 else h[-1]
                return self.head(last)

        net = Net()
        net.opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        net.loss = {"huber": nn.HuberLoss(delta=1.0), "mse": nn.MSELoss(),
                    "binary_crossentropy": nn.BCEWithLogitsLoss()}[case["loss"]]   # = sigmoid head + BCE
        return net

    def to_tensors(self, x, y):
        return self.torch.from_numpy(x), self.torch.from_numpy(y)

    def _train(self, model, xb, yb):
        model.opt.zero_grad(set_to_none=True)
        loss = model.loss(model(xb), yb)
        loss.backward()
        model.opt.step()
        return loss

    def fit_epoch(self, model, x, y, batch):
        order = self.torch.randperm(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            self._train(model, x[idx], y[idx])

    def step(self, model, x, y):
        self._train(model, x, y)

    def predict(self, model, x, batch):
        with self.torch.inference_mode():
            return self.torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy()


LIBS = {"minirnn": Minirnn, "keras": Keras, "torch": Torch}


# ---------------------------------------------------------------------------- timing
def repeat_timed(fn, samples, min_sample_time, warmup, settle=None):
    """Warm up, then `samples` timings; each sample repeats fn k times (k chosen so a sample
    lasts at least min_sample_time) and records the time per call.  `settle()` runs after the
    warm-up (minirnn: wait until the compiled kernels have replaced the NumPy ones)."""
    start = time.perf_counter()
    for k in range(warmup):
        fn()
        if k >= 1 and time.perf_counter() - start > WARMUP_MAX_TIME:   # slow calls: 2 warm-ups suffice
            break
    if settle is not None:
        settle()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    k = max(1, math.ceil(min_sample_time / max(once, 1e-9)))
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(k):
            fn()
        out.append((time.perf_counter() - start) / k)
    return out, k


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # KiB on Linux


def reset_peak_rss():
    """Reset the kernel's high-water mark of RSS (ru_maxrss, VmHWM); Linux >= 4.0."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure(lib_name, case, samples, min_sample_time):
    kind = case["kind"]
    lib = LIBS[lib_name]()
    extra = {}
    start = time.perf_counter()
    lib.setup()
    import_s = time.perf_counter() - start
    if kind == "import":
        return [import_s], extra, lib.info()
    if kind == "gemm":
        import numpy as np

        a = np.random.default_rng(SEED).standard_normal((GEMM_SIZE, GEMM_SIZE)).astype("float32")
        b = a.T.copy()
        times, k = repeat_timed(lambda: a @ b, samples, min_sample_time, warmup=3)
        extra.update(gflops=2 * GEMM_SIZE ** 3 / sorted(times)[len(times) // 2] / 1e9, calls_per_sample=k)
        return times, extra, lib.info()

    x, y = make_data(case)
    if lib_name == "torch":
        x, y = lib.to_tensors(x, y)

    if kind == "memory":
        # "first": from before the model is built to after its first step (JIT compile or
        # tracing included; minirnn's background compilation waited for, so the compiler's
        # memory counts here and not in the other phases); "steps": a warmed-up model, peak
        # reset, then MEMORY_STEPS steps.
        rss_before = current_rss_bytes()
        model = lib.build(case)
        lib.step(model, x, y)
        lib.settle()
        if case["memory_phase"] == "first":
            peak = peak_rss_bytes()
        elif case["memory_phase"] == "epoch":
            lib.fit_epoch(model, x, y, case["batch"])
            reset_peak_rss()
            rss_before = current_rss_bytes()
            lib.fit_epoch(model, x, y, case["batch"])
            peak = peak_rss_bytes()
        else:
            reset_peak_rss()
            rss_before = current_rss_bytes()
            for _ in range(MEMORY_STEPS):
                lib.step(model, x, y)
            peak = peak_rss_bytes()
        extra.update(rss_before_mb=rss_before / 2 ** 20, peak_mb=peak / 2 ** 20)
        return [(peak - rss_before) / 2 ** 20], extra, lib.info()

    build_start = time.perf_counter()
    model = lib.build(case)
    build_s = time.perf_counter() - build_start

    if kind == "first_fit":
        start = time.perf_counter()
        lib.fit_epoch(model, x, y, case["batch"])
        first = time.perf_counter() - start
        start = time.perf_counter()
        lib.fit_epoch(model, x, y, case["batch"])
        extra.update(import_s=import_s, build_s=build_s, second_fit_s=time.perf_counter() - start,
                     since_worker_start_s=time.perf_counter() - WORKER_START,
                     numba_cache_dir=os.environ.get("NUMBA_CACHE_DIR"))
        return [first], extra, lib.info()
    if kind == "fit":
        times, _ = repeat_timed(lambda: lib.fit_epoch(model, x, y, case["batch"]), samples, 0, warmup=1,
                                settle=lib.settle)
    elif kind == "step":
        times, k = repeat_timed(lambda: lib.step(model, x, y), samples, min_sample_time, WARMUP_STEPS,
                                settle=lib.settle)
        extra["calls_per_sample"] = k
    elif kind == "predict":
        times, k = repeat_timed(lambda: lib.predict(model, x, case["batch"]), samples, min_sample_time,
                                WARMUP_STEPS, settle=lib.settle)
        extra["calls_per_sample"] = k
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return times, extra, lib.info()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", choices=sorted(LIBS))
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--min-sample-time", type=float, default=0.3)
    args = parser.parse_args()
    case = CASES[args.case]
    samples, extra, info = measure(args.lib, case, args.samples, args.min_sample_time)
    info["env"] = {k: os.environ[k] for k in sorted(os.environ)
                   if k.startswith(("OPENBLAS", "OMP_", "MKL_", "NUMBA_", "MINIRNN_"))}
    print(RESULT_MARKER + json.dumps(dict(lib=args.lib, case=args.case, samples=samples,
                                          extra=extra, info=info)), flush=True)


if __name__ == "__main__":
    main()
