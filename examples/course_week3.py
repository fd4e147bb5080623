"""The course's week on RNNs for time series, end to end on minirnn.

Synthetic series (trend + yearly seasonality + noise), windows of 20 steps, then for each
model: a learning-rate sweep, the rate read off it by a stated rule (:func:`pick_rate`),
training with SGD + momentum on the Huber loss while the rate decays to zero (a cosine
schedule), and the validation MAE over several seeds next to the naive forecast's.
Writes its plots to OUTPUT_DIR.

    python examples/course_week3.py [--epochs N] [--sweep-epochs N] [--seeds N] [--models simple_rnn,bilstm]
"""
import argparse
import math
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
MOMENTUM = 0.9
SWEEP_EPOCHS = 100         # the sweep: rate 1e-8 * 10**(epoch / 20), 1e-8 to 1e-3
# Ours.
SEED = 42
SEEDS = 3                  # training runs per model (seeds SEED, SEED + 1, ...), summarised by their median
EPOCHS = {"simple_rnn": 300, "bilstm": 150}   # the cosine schedule's length; the BiLSTM costs 5x per epoch
SMOOTHING = 15             # epochs in the moving average of the sweep's log-loss: 3/4 of a decade of rate
VALLEY = 3.0               # the sweep's valley: epochs whose smoothed loss is below 3x its lowest
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


def compiled(kind, rate):
    model = build(kind)
    model.compile(loss=Huber(), optimizer=SGD(learning_rate=rate, momentum=MOMENTUM), metrics=["mae"])
    return model


def lr_sweep(kind, train_set, epochs):
    """Train with the rate growing 10x every 20 epochs; returns (rates, losses)."""
    mr.set_random_seed(SEED)
    model = compiled(kind, 1e-8)
    schedule = LearningRateScheduler(lambda epoch: 1e-8 * 10 ** (epoch / 20))
    history = model.fit(train_set, epochs=epochs, callbacks=[schedule], verbose=0)
    return np.array(history.history["learning_rate"]), np.array(history.history["loss"])


def pick_rate(rates, losses):
    """The centre of the sweep's valley: (rate, smoothed loss, weights).

    Past a few 1e-6 the sweep is chaotic: the loss at a given rate depends on every
    rounding before it, so its lowest point moves by several times between CPUs, BLAS builds
    or backends.  The valley as a whole does not.  The log-loss is smoothed (moving average
    over SMOOTHING epochs) and cut where it stops being finite; every epoch whose smoothed
    loss L is below VALLEY times the lowest L* weighs log(VALLEY L* / L); the rate is the
    weighted mean of log-rate, the middle of the low part of the curve in the plot's log scale.
    (Measured on 15 sweeps of the SimpleRNN that differ only by round-off (both backends, 1 or 2
    threads, another BLAS kernel, initial weights nudged by 1e-7): the rate at the lowest point
    of a 5-epoch average spread 6.3x, this centre 1.35x; on 13 BiLSTM sweeps 4.5x and 1.2x.)"""
    rates, losses = np.asarray(rates, float), np.asarray(losses, float)
    finite = np.isfinite(losses) & (losses > 0)
    stop = max(len(losses) if finite.all() else int(np.argmin(finite)), 1)
    rates, log_loss = rates[:stop], np.log(losses[:stop])
    half = SMOOTHING // 2
    smoothed = np.array([log_loss[max(k - half, 0):k + half + 1].mean() for k in range(stop)])
    weights = np.clip(np.log(VALLEY) - (smoothed - smoothed.min()), 0.0, None)
    rate = float(np.exp(np.sum(weights * np.log(rates)) / np.sum(weights)))
    return rate, np.exp(smoothed), weights


def cosine(peak, epochs):
    """The rate from `peak` down to 0 over `epochs` (mean: peak / 2)."""
    return lambda epoch: peak * 0.5 * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))


def forecast(model, series):
    """One-step forecasts for every window that ends before a validation step."""
    windows = np.lib.stride_tricks.sliding_window_view(series[SPLIT_TIME - WINDOW_SIZE:-1], WINDOW_SIZE)
    return model.predict(windows, batch_size=BATCH_SIZE, verbose=0).squeeze()


def save(fig, path):
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_sweep(path, kind, rates, losses, smoothed, centre, peak):
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.plot(rates, losses, color="lightgray", label="loss, each epoch")
    ax.plot(rates[:len(smoothed)], smoothed, color="C0", linewidth=2,
            label=f"moving average over {SMOOTHING} epochs (of log-loss)")
    ax.axhline(VALLEY * smoothed.min(), color="C0", linestyle=":", label=f"the valley: below {VALLEY:g}x its lowest")
    for rate, color, label in ((centre, "C3", f"centre of the valley {centre:.1e}"),
                               (peak, "C2", f"training starts at 2 x centre = {peak:.1e}")):
        ax.axvline(rate, color=color, linestyle="--", label=label)
        ax.plot(rate, np.exp(np.interp(np.log(rate), np.log(rates[:len(smoothed)]), np.log(smoothed))), "o", color=color)
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="Huber loss (training)",
           title=f"{kind}: learning-rate sweep (seed {SEED})")
    ticks = [t for t in (2, 5, 10, 20, 50, 100, 200, 500) if losses.min() / 2 < t < losses.max() * 2]
    ax.set_yticks(ticks, labels=[str(t) for t in ticks], minor=False)
    ax.grid(True, which="both", alpha=0.4)
    ax.legend(loc="upper center")
    save(fig, path)


def plot_training(path, kind, history, peak, naive_mae):
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_mae) = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, key, label in ((ax_loss, "loss", "Huber loss"), (ax_mae, "mae", "MAE")):
        ax.plot(epochs, history[key], label="training")
        ax.plot(epochs, history[f"val_{key}"], label="validation")
        # The first epochs start far above where training ends: clip them to show the end.
        ax.set(xlabel="epoch", ylabel=label, title=label, ylim=(0, 2.5 * np.median(history[f"val_{key}"][-10:])))
        ax.grid(True, alpha=0.4)
    ax_mae.axhline(naive_mae, color="gray", linestyle="--", label=f"naive forecast, validation ({naive_mae:.2f})")
    for ax in (ax_loss, ax_mae):
        ax.legend(loc="lower left")
    fig.suptitle(f"{kind}: training curves of seed {SEED} (rate {peak:.1e} decayed to 0)")
    save(fig, path)


def plot_forecast(path, kind, time_valid, x_valid, predicted, naive, seen_max):
    """The whole validation period, and a close-up where the series first leaves the training range."""
    mae = float(np.mean(np.abs(predicted - x_valid)))
    naive_mae = float(np.mean(np.abs(naive - x_valid)))
    first_above = int(np.argmax(x_valid > seen_max))
    close = slice(max(first_above - 20, 0), first_above + 60)
    fig, axes = plt.subplots(2, 1, figsize=(13, 9), layout="constrained")
    for ax, part in zip(axes, (slice(None), close)):
        ax.plot(time_valid[part], x_valid[part], color="black", linewidth=1, label="series")
        ax.plot(time_valid[part], naive[part], color="gray", linewidth=1, linestyle=":",
                label=f"naive: the previous value (MAE {naive_mae:.2f})")
        ax.plot(time_valid[part], predicted[part], color="C1", linewidth=1.5, label=f"{kind} forecast (MAE {mae:.2f})")
        ax.axhline(seen_max, color="C3", linewidth=0.8, linestyle="--", label=f"largest training value ({seen_max:.1f})")
        ax.set(xlabel="time step", ylabel="value")
        ax.grid(True, alpha=0.4)
    axes[0].set_title(f"{kind}: one-step forecasts of the validation steps (seed {SEED}); MAE over all of them")
    axes[1].set_title("close-up: where the series first rises above every training value")
    axes[0].legend(loc="lower right")
    save(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: EPOCHS per model)")
    parser.add_argument("--sweep-epochs", type=int, default=SWEEP_EPOCHS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--models", default="simple_rnn,bilstm")
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    started, started_cpu = time.perf_counter(), time.process_time()

    time_steps, series = synthetic_series(seed=SEED)
    time_valid, x_valid = time_steps[SPLIT_TIME:], series[SPLIT_TIME:]
    valid_windows = np.lib.stride_tricks.sliding_window_view(series[SPLIT_TIME - WINDOW_SIZE:-1], WINDOW_SIZE)

    def train_set(seed=SEED):
        """The training windows, shuffled from `seed`."""
        return windowed_dataset(series[:SPLIT_TIME], WINDOW_SIZE, BATCH_SIZE, SHUFFLE_BUFFER, seed=seed)

    naive = series[SPLIT_TIME - 1:-1]
    naive_mae = float(np.mean(np.abs(naive - x_valid)))
    # The validation year climbs above every training value; the forecast is also scored on the
    # steps inside the training range, where a model is not asked to extrapolate.
    seen_max = float(series[:SPLIT_TIME].max())
    seen = x_valid <= seen_max
    naive_seen = float(np.mean(np.abs(naive - x_valid)[seen]))
    print(f"series: {len(series)} steps, {len(train_set())} training batches of {BATCH_SIZE} windows")
    print(f"naive forecast validation MAE: {naive_mae:.2f} ({naive_seen:.2f} on the {seen.sum()} of "
          f"{len(x_valid)} validation steps inside the training range)")

    # Training runs silently (verbose=0); say so when a first run compiles the kernels.
    mr.backend.compile_notice(lambda: print(mr.backend.COMPILING_MESSAGE, flush=True))
    results = {}
    for kind in args.models.split(","):
        start, start_cpu = time.perf_counter(), time.process_time()
        epochs = args.epochs or EPOCHS[kind]
        rates, losses = lr_sweep(kind, train_set(), max(args.sweep_epochs, 1))
        centre, smoothed, _ = pick_rate(rates, losses)
        peak = 2 * centre      # the cosine schedule's mean rate is then the valley's centre
        plot_sweep(os.path.join(args.output_dir, f"{kind}_lr_sweep.png"), kind, rates, losses, smoothed, centre, peak)
        maes, maes_seen, biases = [], [], []
        for run in range(args.seeds):
            mr.set_random_seed(SEED + run)
            model = compiled(kind, peak)
            # Validation curves for the seed that is drawn; the others skip the extra pass.
            history = model.fit(train_set(SEED + run), epochs=epochs, verbose=0,
                                callbacks=[LearningRateScheduler(cosine(peak, epochs))],
                                validation_data=(valid_windows, x_valid) if run == 0 else None)
            predicted = forecast(model, series)
            maes.append(float(np.mean(np.abs(predicted - x_valid))))
            maes_seen.append(float(np.mean(np.abs(predicted - x_valid)[seen])))
            biases.append(float(np.mean(predicted - x_valid)))
            if run == 0:
                plot_training(os.path.join(args.output_dir, f"{kind}_training.png"), kind, history.history,
                              peak, naive_mae)
                plot_forecast(os.path.join(args.output_dir, f"{kind}_forecast.png"), kind, time_valid, x_valid,
                              predicted, naive, seen_max)
        median = float(np.median(maes))
        results[kind] = {"rate": peak, "maes": maes, "median": median}
        print(f"{kind:>10}: rate {peak:.1e} (2 x the sweep's valley centre {centre:.1e}), {epochs} epochs; "
              f"validation MAE median {median:.2f} over {args.seeds} seeds "
              f"({', '.join(f'{m:.2f}' for m in maes)}; naive {naive_mae:.2f}); inside the training range "
              f"{np.median(maes_seen):.2f} (naive {naive_seen:.2f}); mean error {np.median(biases):+.2f}; "
              f"{time.perf_counter() - start:.0f} s ({time.process_time() - start_cpu:.0f} s of CPU)")
    model.summary()
    print(f"plots written to {args.output_dir}; {time.perf_counter() - started:.0f} s in all "
          f"({time.process_time() - started_cpu:.0f} s of CPU)")
    return results


if __name__ == "__main__":
    main()
