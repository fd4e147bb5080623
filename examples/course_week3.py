"""The course's week on RNNs for time series, end to end on minirnn.

Synthetic series (trend + yearly seasonality + noise), windows of 20 steps,
then for each model: a learning-rate sweep, the rate read off it by a small rule
(:func:`pick_rate`, the course's reading by eye made explicit), training at that
rate until the training loss stops improving, and the validation MAE over several
seeds next to the naive forecast's.  Writes its plots to OUTPUT_DIR.

    python examples/course_week3.py [--epochs MAX] [--sweep-epochs N] [--seeds N] [--models simple_rnn,bilstm]
"""
import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.callbacks import EarlyStopping, LearningRateScheduler  # noqa: E402
from minirnn.data import synthetic_series, windowed_dataset  # noqa: E402
from minirnn.layers import LSTM, Bidirectional, Dense, Lambda, SimpleRNN  # noqa: E402
from minirnn.losses import Huber  # noqa: E402
from minirnn.optimizers import SGD  # noqa: E402

# The course's settings.
SPLIT_TIME = 1000
WINDOW_SIZE = 20
BATCH_SIZE = 32
SHUFFLE_BUFFER = 1000
SEED = 42
SEEDS = 3                  # training runs per model (seeds SEED, SEED + 1, ...)
EPOCHS = 300               # at most; training stops when the loss has not improved for PATIENCE epochs
PATIENCE = 15
MIN_DELTA = 0.01           # an improvement of the Huber loss smaller than this does not count
SWEEP_EPOCHS = 100
SMOOTHING = 5              # epochs in the moving average of the sweep's loss
PLATEAU = 1.1              # the low part of the sweep: smoothed loss within 10 % of its minimum
OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def build(kind):
    """The course's two models; both add a channel axis first and scale the output by 100."""
    if kind == "simple_rnn":
        recurrent = [SimpleRNN(40, return_sequences=True), SimpleRNN(40)]
    else:
        recurrent = [Bidirectional(LSTM(32, return_sequences=True)), Bidirectional(LSTM(32))]
    return mr.Sequential([
        Lambda(lambda x: np.expand_dims(x, axis=-1), input_shape=[WINDOW_SIZE]),
        *recurrent,
        Dense(1),
        Lambda(lambda x: x * 100.0),
    ])


def lr_sweep(kind, train_set, epochs):
    """Train with the rate growing 10x every 20 epochs; returns (rates, losses)."""
    mr.set_random_seed(SEED)
    model = build(kind)
    model.compile(loss=Huber(), optimizer=SGD(learning_rate=1e-8, momentum=0.9), metrics=["mae"])
    schedule = LearningRateScheduler(lambda epoch: 1e-8 * 10 ** (epoch / 20))
    history = model.fit(train_set, epochs=epochs, callbacks=[schedule], verbose=0)
    return np.array(history.history["learning_rate"]), np.array(history.history["loss"])


def pick_rate(rates, losses):
    """The learning rate where the sweep's loss first reaches its low, stable part.

    The loss is smoothed (moving average of log-loss over SMOOTHING epochs), cut where it stops
    being finite (divergence); the rule takes the smallest rate whose smoothed loss is within
    PLATEAU (10 %) of the lowest: as low on the curve as it gets, but well before the rates
    where the loss turns up and oscillates."""
    rates, losses = np.asarray(rates, float), np.asarray(losses, float)
    finite = np.isfinite(losses) & (losses > 0)
    stop = len(losses) if finite.all() else int(np.argmin(finite))
    rates, losses = rates[:max(stop, 1)], losses[:max(stop, 1)]
    width = min(SMOOTHING, len(losses))
    smoothed = np.exp(np.convolve(np.log(losses), np.ones(width) / width, mode="valid"))
    centres = rates[width // 2: width // 2 + len(smoothed)]
    return float(centres[np.argmax(smoothed <= PLATEAU * smoothed.min())])


def forecast(model, series):
    """One-step forecasts for every window that ends before a validation step."""
    windows = np.lib.stride_tricks.sliding_window_view(series[SPLIT_TIME - WINDOW_SIZE:-1], WINDOW_SIZE)
    return model.predict(windows, batch_size=BATCH_SIZE, verbose=0).squeeze()


def plot(path, title, xlabel, ylabel, curves, logx=False, mark=None):
    fig, ax = plt.subplots(figsize=(10, 5))
    for x, y, label in curves:
        ax.plot(x, y, label=label)
    if mark is not None:
        ax.axvline(mark[0], color="red", linestyle="--", label=f"{mark[1]} {mark[0]:.1e}")
    if logx:
        ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--sweep-epochs", type=int, default=SWEEP_EPOCHS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--models", default="simple_rnn,bilstm")
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)

    time_steps, series = synthetic_series(seed=SEED)
    time_valid, x_valid = time_steps[SPLIT_TIME:], series[SPLIT_TIME:]

    def train_set(seed=SEED):
        """The training windows, shuffled from `seed`."""
        return windowed_dataset(series[:SPLIT_TIME], WINDOW_SIZE, BATCH_SIZE, SHUFFLE_BUFFER, seed=seed)

    naive = series[SPLIT_TIME - 1:-1]
    naive_mae = float(np.mean(np.abs(naive - x_valid)))
    print(f"series: {len(series)} steps, {len(train_set())} training batches of {BATCH_SIZE} windows")
    print(f"naive forecast validation MAE: {naive_mae:.2f}")

    results = {}
    for kind in args.models.split(","):
        start = time.perf_counter()
        rates, losses = lr_sweep(kind, train_set(), max(args.sweep_epochs, 1))
        rate = pick_rate(rates, losses)
        plot(os.path.join(args.output_dir, f"{kind}_lr_sweep.png"), f"{kind}: learning-rate sweep",
             "learning rate", "Huber loss", [(rates, losses, "loss")], logx=True, mark=(rate, "chosen rate"))
        maes, epochs_run = [], []
        for run in range(args.seeds):
            mr.set_random_seed(SEED + run)
            model = build(kind)
            model.compile(loss=Huber(), optimizer=SGD(learning_rate=rate, momentum=0.9), metrics=["mae"])
            stop = EarlyStopping(monitor="loss", min_delta=MIN_DELTA, patience=PATIENCE, restore_best_weights=True)
            history = model.fit(train_set(SEED + run), epochs=args.epochs, callbacks=[stop], verbose=0)
            predicted = forecast(model, series)
            maes.append(float(np.mean(np.abs(predicted - x_valid))))
            epochs_run.append(len(history.history["loss"]))
            if run == 0:
                epochs = np.arange(1, epochs_run[0] + 1)
                plot(os.path.join(args.output_dir, f"{kind}_training.png"), f"{kind}: training curves (lr {rate:.1e})",
                     "epoch", "value", [(epochs, history.history["loss"], "Huber loss"),
                                        (epochs, history.history["mae"], "MAE")])
                plot(os.path.join(args.output_dir, f"{kind}_forecast.png"), f"{kind}: forecast vs actual", "time",
                     "value", [(time_valid, x_valid, "actual"), (time_valid, predicted, "forecast")])
        results[kind] = float(np.mean(maes))
        print(f"{kind:>10}: rate {rate:.1e} from the sweep; validation MAE {np.mean(maes):.2f} "
              f"(range {min(maes):.2f}-{max(maes):.2f} over {args.seeds} seeds, {min(epochs_run)}-{max(epochs_run)} "
              f"epochs; naive {naive_mae:.2f}), {time.perf_counter() - start:.1f} s")
    model.summary()
    print(f"plots written to {args.output_dir}")
    return results


if __name__ == "__main__":
    main()
