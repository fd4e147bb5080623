"""A character-level language model on minirnn: read 40 characters, predict the next one.

Trained on the Zen of Python (the text of the standard library's `this` module,
decoded without printing it) or on any text file; Embedding -> LSTM (or
SimpleRNN) -> Dense softmax over the characters, sparse categorical
crossentropy.  After training it writes text one character at a time, sampling
each from the predicted distribution sharpened or flattened by a temperature.
Writes its loss curve and the samples to OUTPUT_DIR.

    python examples/char_rnn.py [--text zen|PATH] [--cell lstm|simple_rnn] [--epochs N]
"""
import argparse
import codecs
import contextlib
import io
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.data import take, timeseries_dataset_from_array  # noqa: E402
from minirnn.layers import GRU, LSTM, Dense, Embedding, SimpleRNN  # noqa: E402

SEQUENCE_LENGTH = 40         # characters read before each prediction
EMBEDDING_DIM = 16
UNITS = 128
BATCH_SIZE = 64
EPOCHS = 40
LEARNING_RATE = 0.005
TEMPERATURES = (0.2, 0.5, 1.0)
SAMPLE_LENGTH = 300
SEED = 42
CELLS = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}
OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")


def zen_of_python():
    """The Zen of Python: `this` stores it rot13-encoded and prints it on import."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def load_text(source):
    if source == "zen":
        return zen_of_python()
    with open(source, encoding="utf-8") as f:
        return f.read()


class Vocabulary:
    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


def build(cell, vocab_size):
    return mr.Sequential([
        mr.Input(shape=(SEQUENCE_LENGTH,), dtype="int64"),
        Embedding(vocab_size, EMBEDDING_DIM),
        CELLS[cell](UNITS),
        Dense(vocab_size, activation="softmax"),
    ])


def sample(model, vocab, seed_text, length, temperature, rng):
    """Generate `length` characters after `seed_text`, each drawn from softmax(log p / temperature)."""
    ids = list(vocab.encode(seed_text[-SEQUENCE_LENGTH:]))
    out = []
    for _ in range(length):
        probs = model.predict(np.array([ids[-SEQUENCE_LENGTH:]]), verbose=0)[0].astype(np.float64)
        logits = np.log(np.maximum(probs, 1e-12)) / temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        nxt = int(rng.choice(len(p), p=p))
        ids.append(nxt)
        out.append(nxt)
    return vocab.decode(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="zen", help="'zen' (the Zen of Python) or a UTF-8 text file")
    parser.add_argument("--cell", default="lstm", choices=sorted(CELLS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--max-batches", type=int, default=None, help="training batches per epoch (smoke runs)")
    parser.add_argument("--sample-length", type=int, default=SAMPLE_LENGTH)
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)

    text = load_text(args.text)
    if len(text) <= SEQUENCE_LENGTH:
        raise SystemExit(f"the text has {len(text)} characters; it needs more than {SEQUENCE_LENGTH}")
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    # Every window of SEQUENCE_LENGTH characters, with the character after it as the label.
    train_set = timeseries_dataset_from_array(ids[:-SEQUENCE_LENGTH], ids[SEQUENCE_LENGTH:], SEQUENCE_LENGTH,
                                              batch_size=BATCH_SIZE, shuffle=True, seed=SEED)
    if args.max_batches:
        train_set = take(train_set, args.max_batches)
    print(f"text: {len(text):,} characters, {len(vocab)} distinct; {len(train_set)} batches "
          f"of {BATCH_SIZE} windows of {SEQUENCE_LENGTH} characters")

    mr.set_random_seed(SEED)
    model = build(args.cell, len(vocab))
    model.compile(optimizer=mr.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    history = model.fit(train_set, epochs=args.epochs, verbose=2 if args.epochs <= 10 else 0)
    loss, accuracy = history.history["loss"], history.history["accuracy"]
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.1f} s: loss {loss[-1]:.3f}, "
          f"next-character accuracy {accuracy[-1]:.3f} (uniform guessing: {1 / len(vocab):.3f})")

    rng = np.random.default_rng(SEED)
    seed_text = text[:SEQUENCE_LENGTH]
    samples = []
    for temperature in TEMPERATURES:
        generated = sample(model, vocab, seed_text, args.sample_length, temperature, rng)
        samples.append(f"--- temperature {temperature}\n{seed_text}|{generated}\n")
        print(samples[-1])
    with open(os.path.join(args.output_dir, f"char_rnn_{args.cell}_samples.txt"), "w", encoding="utf-8") as f:
        f.writelines(samples)

    # One quantity per axis, each beside what a model that ignores the context would score.
    counts = np.bincount(ids[SEQUENCE_LENGTH:], minlength=len(vocab))
    p = counts[counts > 0] / counts.sum()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    epochs = np.arange(1, len(loss) + 1)
    ax_loss.plot(epochs, loss, label="training loss")
    ax_loss.axhline(-np.sum(p * np.log(p)), color="gray", linestyle="--",
                    label="character frequencies alone (unigram entropy)")
    ax_loss.set(title="loss", xlabel="epoch", ylabel="crossentropy (nats per character)")
    ax_acc.plot(epochs, accuracy, label="training accuracy")
    ax_acc.axhline(p.max(), color="gray", linestyle="--", label="always the most frequent character")
    ax_acc.set(title="next-character accuracy", xlabel="epoch", ylabel="fraction correct", ylim=(0, 1))
    for ax, corner in ((ax_loss, "upper right"), (ax_acc, "upper left")):
        ax.grid(True)
        ax.legend(loc=corner)
    fig.suptitle(f"char-level {args.cell} on {args.text} (seed {SEED}, the whole text: no validation split)")
    fig.savefig(os.path.join(args.output_dir, f"char_rnn_{args.cell}_training.png"), dpi=100,
                bbox_inches="tight")
    plt.close(fig)
    print(f"samples and curve written to {args.output_dir}")
    return {"loss": loss[-1], "accuracy": accuracy[-1], "samples": samples}


if __name__ == "__main__":
    main()
