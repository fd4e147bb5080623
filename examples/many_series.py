"""One small model per series: NUM_SERIES synthetic series, each fitted on its own by minirnn.fit_many.

Series k is a noisy seasonal signal with its own period, phase, amplitude and trend,

    s_k(t) = a_k sin(2 pi t / p_k + phi_k) + b_k t / LENGTH + noise,

scaled by its training part's mean and spread.  Each model reads WINDOW steps and forecasts the
next one (GRU(UNITS) -> Dense(1)); it is judged on the last VALID_FRACTION of its series against
the naive forecast (the window's last value).  The fits are independent, so fit_many runs them
side by side: a process per core by default, or a Ray cluster with --backend ray [--address ...].

    python examples/many_series.py [--series N] [--epochs N] [--backend process|ray|serial] [--workers N]
"""
import argparse
import functools
import time

import numpy as np

import minirnn as mr
from minirnn.layers import GRU, Dense

NUM_SERIES = 120
LENGTH = 240                 # points per series
WINDOW = 16                  # steps a model reads
VALID_FRACTION = 0.25        # the end of each series, for judging
UNITS = 8
EPOCHS = 12
BATCH_SIZE = 32
LEARNING_RATE = 0.01
SEED = 0


def make_series(k):
    """Series k, the same on every call (its own generator)."""
    rng = np.random.default_rng([SEED, k])
    t = np.arange(LENGTH)
    period, phase = rng.uniform(12, 40), rng.uniform(0, 2 * np.pi)
    amplitude, trend = rng.uniform(0.5, 2.0), rng.uniform(-1.0, 1.0)
    return amplitude * np.sin(2 * np.pi * t / period + phase) + trend * t / LENGTH + rng.normal(0, 0.1, LENGTH)


def windows(k, part):
    """(x, y) of series k's "train" or "valid" part: WINDOW steps in, the next one out, scaled by
    the training part's statistics."""
    s = make_series(k)
    split = int(LENGTH * (1 - VALID_FRACTION))
    mean, std = s[:split].mean(), s[:split].std()
    s = (s - mean) / std
    x = np.lib.stride_tricks.sliding_window_view(s[:-1], WINDOW)       # x[i] = s[i : i + WINDOW]
    y = s[WINDOW:]
    valid = np.arange(len(y)) + WINDOW >= split                          # targets in the judged part
    keep = valid if part == "valid" else ~valid
    return x[keep, :, None].astype("float32"), y[keep, None].astype("float32")


def build():
    model = mr.Sequential([mr.Input((WINDOW, 1)), GRU(UNITS), Dense(1)])
    model.compile(optimizer=mr.optimizers.Adam(LEARNING_RATE), loss="mse", metrics=["mae"])
    return model


def jobs(num_series, epochs):
    return [mr.FitJob(build, functools.partial(windows, k, "train"), dict(epochs=epochs, batch_size=BATCH_SIZE),
                      seed=SEED + k, evaluation=functools.partial(windows, k, "valid"), name=f"series {k}")
            for k in range(num_series)]


def naive_mae(k):
    x, y = windows(k, "valid")
    return float(np.mean(np.abs(x[:, -1] - y)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=NUM_SERIES)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--backend", default="process", choices=mr.fits.BACKENDS)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--address", default=None, help="a Ray cluster's address (backend ray)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    results = mr.fit_many(jobs(args.series, args.epochs), backend=args.backend, workers=args.workers,
                          address=args.address)
    seconds = time.perf_counter() - start
    fitted = [r for r in results if r.ok]
    model_mae = np.array([r.metrics["mae"] for r in fitted])
    naive = np.array([naive_mae(r.index) for r in fitted])
    print(f"{len(fitted)} of {len(results)} series fitted in {seconds:.1f} s ({args.backend}; "
          f"{sum(r.seconds for r in fitted) / max(len(fitted), 1):.2f} s per fit)")
    for r in results:
        if not r.ok:
            print(f"  {r.name} failed: {r.error}")
    if fitted:
        better = int(np.sum(model_mae < naive))
        print(f"validation MAE (scaled units), median over series: model {np.median(model_mae):.3f}, "
              f"naive {np.median(naive):.3f}; the model beats the naive forecast on {better} of {len(fitted)}")
    return {"results": results, "model_mae": model_mae, "naive_mae": naive, "seconds": seconds}


if __name__ == "__main__":
    main()
