"""Vanishing gradients, measured: SimpleRNN vs LSTM vs GRU on the adding problem.

The adding problem (Hochreiter & Schmidhuber, 1997): each step carries a random value in
[0, 1) and a marker; exactly two steps are marked, one in the first tenth of the sequence and
one in the second half, and the target is the sum of the two marked values.  Predicting 1
always gives MSE 1/6 ~ 0.167; doing better needs information from ~T steps back.

For each model, minirnn.inspect.trace measures ||dL/dh_t|| at every step of a batch (how
much of the loss's gradient reaches step t) before and after training, and the validation
MSE is recorded per epoch.  Writes to OUTPUT_DIR:

    vanishing_gradients.png     gradient norm vs distance from the loss (dashed: before
                                training, solid: after) | learning curves
    vanishing_gradients_lstm_gates.png   the trained LSTM's gates and states on one sequence

    python examples/vanishing_gradients.py [--steps T] [--epochs N] [--samples N]
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn import inspect  # noqa: E402
from minirnn.layers import GRU, LSTM, Dense, SimpleRNN  # noqa: E402

STEPS = 50                 # sequence length T
SAMPLES = 4000             # training sequences (and a quarter as many for validation)
UNITS = 32
EPOCHS = 20
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
SEED = 0
MODELS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def adding_problem(samples, steps, rng):
    """x (samples, steps, 2): [value, marker]; y (samples, 1): the sum of the two marked values."""
    values = rng.random((samples, steps))
    markers = np.zeros((samples, steps))
    rows = np.arange(samples)
    first = rng.integers(0, max(steps // 10, 1), samples)
    second = rng.integers(steps // 2, steps, samples)
    markers[rows, first] = markers[rows, second] = 1
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values[rows, first] + values[rows, second])[:, None].astype("float32")
    return x, y


def build(kind, steps):
    mr.set_random_seed(SEED)
    model = mr.Sequential([mr.Input((steps, 2)), MODELS[kind](UNITS), Dense(1)])
    model.compile(optimizer=mr.optimizers.Adam(LEARNING_RATE, clipnorm=1.0), loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)

    rng = np.random.default_rng(SEED)
    x, y = adding_problem(args.samples, args.steps, rng)
    x_val, y_val = adding_problem(max(args.samples // 4, 1), args.steps, rng)
    baseline = float(np.mean((y_val - 1.0) ** 2))
    print(f"adding problem, T = {args.steps}: always predicting 1 gives validation MSE {baseline:.3f}")

    def reach(t):
        """||dL/dh_1|| / ||dL/dh_T||: the share of the gradient that reaches the first step."""
        norms = t.grad_norm("h")
        return float(norms[0] / norms[-1])

    before, after, curves, results = {}, {}, {}, {}
    for kind in MODELS:
        model = build(kind, args.steps)
        before[kind] = inspect.trace(model, x_val[:BATCH_SIZE], y_val[:BATCH_SIZE])
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=args.epochs, validation_data=(x_val, y_val),
                            verbose=0)
        after[kind] = inspect.trace(model, x_val[:BATCH_SIZE], y_val[:BATCH_SIZE])
        curves[kind] = history.history["val_loss"]
        results[kind] = dict(val_mse=curves[kind][-1], reach_before=reach(before[kind]), reach_after=reach(after[kind]))
        print(f"{kind:>9}: ||dL/dh_1|| / ||dL/dh_T|| {results[kind]['reach_before']:.1e} before training, "
              f"{results[kind]['reach_after']:.1e} after; validation MSE after {args.epochs} epochs "
              f"{curves[kind][-1]:.4f}")
        if kind == "LSTM":
            inspect.plot_gates(inspect.trace(model, x[:8], y[:8]), sample=0,
                               path=os.path.join(args.output_dir, "vanishing_gradients_lstm_gates.png"),
                               title="trained LSTM on the adding problem: gates and states of one sequence")

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    inspect.plot_gradient_flow(after, ax=left, title=f"how far the gradient reaches (T = {args.steps})")
    for line, kind in zip(left.get_lines(), before):
        left.plot(before[kind].distance_from_loss(), before[kind].grad_norm("h"), color=line.get_color(),
                  linestyle="--", label=f"{kind}, before training")
    left.legend()
    for kind, curve in curves.items():
        right.plot(np.arange(1, len(curve) + 1), curve, label=kind)
    right.axhline(baseline, color="gray", linestyle="--", label="always predict 1")
    right.set(xlabel="epoch", ylabel="validation MSE", title=f"learning curves (seed {SEED})", yscale="log")
    right.grid(True, which="both", alpha=0.3)
    right.legend()
    path = os.path.join(args.output_dir, "vanishing_gradients.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close("all")
    print(f"plots written to {args.output_dir}")
    return dict(baseline=baseline, **results)


if __name__ == "__main__":
    main()
