"""Classify variable-length integer sequences with a masked LSTM on minirnn.

A synthetic task: sequences of 5 to 30 tokens (ids 1..VOCAB-1), labelled 1 when
they contain the pattern 3 1 4 somewhere, 0 otherwise.  Sequences are padded
with 0 at the end to the longest length; Embedding(mask_zero=True) marks the
padding, so the LSTM keeps its state through it and classifies the real tokens
only.  Embedding -> LSTM -> Dense(1, sigmoid), binary crossentropy, accuracy.
With --compare-unmasked, the same model without the mask is trained too: its
LSTM has to carry the answer through up to 25 padding steps.
Writes the training curves to OUTPUT_DIR.

    python examples/sequence_classification.py [--epochs N] [--compare-unmasked]
"""
import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.layers import LSTM, Dense, Embedding  # noqa: E402

VOCAB = 10                   # token ids 1..9; 0 is padding
PATTERN = (3, 1, 4)
MIN_LENGTH, MAX_LENGTH = 5, 30
NUM_TRAIN, NUM_VAL, NUM_TEST = 2000, 500, 500
EMBEDDING_DIM = 8
UNITS = 32
BATCH_SIZE = 32
EPOCHS = 15
LEARNING_RATE = 0.005
SEED = 42
OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def contains(sequence, pattern=PATTERN):
    k = len(pattern)
    return any(tuple(sequence[i:i + k]) == pattern for i in range(len(sequence) - k + 1))


def make_sequences(n, rng):
    """n sequences (half with the pattern, half without), padded with 0 at the end, and labels."""
    x = np.zeros((n, MAX_LENGTH), dtype=np.int64)
    y = np.zeros(n, dtype=np.float32)
    for row in range(n):
        positive = row % 2 == 0
        while True:
            length = int(rng.integers(MIN_LENGTH, MAX_LENGTH + 1))
            tokens = rng.integers(1, VOCAB, size=length)
            if positive:
                at = int(rng.integers(0, length - len(PATTERN) + 1))
                tokens[at:at + len(PATTERN)] = PATTERN
            if contains(list(tokens)) == positive:
                break
        x[row, :length] = tokens
        y[row] = float(positive)
    order = rng.permutation(n)
    return x[order], y[order]


def build(mask_zero):
    return mr.Sequential([
        mr.Input(shape=(MAX_LENGTH,), dtype="int64"),
        Embedding(VOCAB, EMBEDDING_DIM, mask_zero=mask_zero),
        LSTM(UNITS),
        Dense(1, activation="sigmoid"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--num-train", type=int, default=NUM_TRAIN)
    parser.add_argument("--compare-unmasked", action="store_true")
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)

    rng = np.random.default_rng(SEED)
    x_train, y_train = make_sequences(args.num_train, rng)
    x_val, y_val = make_sequences(NUM_VAL, rng)
    x_test, y_test = make_sequences(NUM_TEST, rng)
    lengths = (x_train != 0).sum(axis=1)
    print(f"{len(x_train)} training sequences of {lengths.min()}..{lengths.max()} tokens (mean "
          f"{lengths.mean():.1f}), padded to {MAX_LENGTH}; {y_train.mean():.0%} contain {PATTERN}")

    results, histories = {}, {}
    for mask_zero in (True, False) if args.compare_unmasked else (True,):
        name = "masked" if mask_zero else "unmasked"
        mr.set_random_seed(SEED)
        model = build(mask_zero)
        model.compile(optimizer=mr.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=args.epochs,
                            validation_data=(x_val, y_val), verbose=2 if args.epochs <= 5 else 0)
        loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
        results[name] = accuracy
        histories[name] = history.history
        print(f"{name:>8}: test accuracy {accuracy:.3f} (loss {loss:.3f}), validation accuracy "
              f"{history.history['val_accuracy'][-1]:.3f}, {time.perf_counter() - start:.1f} s")
    model.summary()

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, h in histories.items():
        epochs = np.arange(1, len(h["accuracy"]) + 1)
        ax.plot(epochs, h["accuracy"], "o-", label=f"{name}: training")
        ax.plot(epochs, h["val_accuracy"], "s--", label=f"{name}: validation")
    ax.set(title=f"does the sequence contain {PATTERN}? (seed {SEED})", xlabel="epoch", ylabel="accuracy")
    ax.grid(True)
    ax.legend()
    fig.savefig(os.path.join(args.output_dir, "sequence_classification_training.png"), dpi=100,
                bbox_inches="tight")
    plt.close(fig)
    print(f"curves written to {args.output_dir}")
    return results


if __name__ == "__main__":
    main()
