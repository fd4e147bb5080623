"""The course's week on RNNs for time series, end to end on minirnn.

Synthetic series (trend + yearly seasonality + noise), windows of 20 steps,
then for each model: a learning-rate sweep, training at the chosen rate, the
validation forecast, and its MAE next to the naive forecast's.
Writes its plots to OUTPUT_DIR.

    python examples/course_week3.py [--epochs N] [--sweep-epochs N] [--models simple_rnn,bilstm]
"""
import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.callbacks import LearningRateScheduler  # noqa: E402
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
EPOCHS = 100
SWEEP_EPOCHS = 100
# Learning rates the course trains at, read off its sweeps.
LEARNING_RATES = {"simple_rnn": 1e-6, "bilstm": 2e-6}
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


def forecast(model, series):
    """One-step forecasts for every window that ends before a validation step."""
    windows = np.lib.stride_tricks.sliding_window_view(series[SPLIT_TIME - WINDOW_SIZE:-1], WINDOW_SIZE)
    return model.predict(windows, batch_size=BATCH_SIZE, verbose=0).squeeze()


def plot(path, title, xlabel, ylabel, curves, logx=False):
    fig, ax = plt.subplots(figsize=(10, 5))
    for x, y, label in curves:
        ax.plot(x, y, label=label)
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
    parser.add_argument("--models", default="simple_rnn,bilstm")
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)

    time_steps, series = synthetic_series(seed=SEED)
    time_valid, x_valid = time_steps[SPLIT_TIME:], series[SPLIT_TIME:]

    def train_set():
        """The training windows, shuffled from the same seed for every run."""
        return windowed_dataset(series[:SPLIT_TIME], WINDOW_SIZE, BATCH_SIZE, SHUFFLE_BUFFER, seed=SEED)

    naive = series[SPLIT_TIME - 1:-1]
    naive_mae = float(np.mean(np.abs(naive - x_valid)))
    print(f"series: {len(series)} steps, {len(train_set())} training batches of {BATCH_SIZE} windows")
    print(f"naive forecast validation MAE: {naive_mae:.2f}")

    results = {}
    for kind in args.models.split(","):
        start = time.perf_counter()
        if args.sweep_epochs:
            rates, losses = lr_sweep(kind, train_set(), args.sweep_epochs)
            plot(os.path.join(args.output_dir, f"{kind}_lr_sweep.png"), f"{kind}: learning-rate sweep",
                 "learning rate", "Huber loss", [(rates, losses, "loss")], logx=True)
        mr.set_random_seed(SEED)
        model = build(kind)
        model.compile(loss=Huber(), optimizer=SGD(learning_rate=LEARNING_RATES[kind], momentum=0.9),
                      metrics=["mae"])
        history = model.fit(train_set(), epochs=args.epochs, verbose=0)
        predicted = forecast(model, series)
        mae = float(np.mean(np.abs(predicted - x_valid)))
        results[kind] = mae
        epochs = np.arange(1, len(history.history["loss"]) + 1)
        plot(os.path.join(args.output_dir, f"{kind}_training.png"), f"{kind}: training curves", "epoch",
             "value", [(epochs, history.history["loss"], "Huber loss"), (epochs, history.history["mae"], "MAE")])
        plot(os.path.join(args.output_dir, f"{kind}_forecast.png"), f"{kind}: forecast vs actual", "time",
             "value", [(time_valid, x_valid, "actual"), (time_valid, predicted, "forecast")])
        print(f"{kind:>10}: validation MAE {mae:.2f} (naive {naive_mae:.2f}), "
              f"{time.perf_counter() - start:.1f} s")
    model.summary()
    print(f"plots written to {args.output_dir}")
    return results


if __name__ == "__main__":
    main()
