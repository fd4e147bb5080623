"""Temperature forecasting, Deep Learning with Python (2nd ed.) ch. 10, end to end on minirnn.

Predict the temperature 24 hours after a window of 5 days of weather readings
(Jena climate 2009-2016: 14 quantities every 10 minutes, one reading an hour
kept), with the chapter's models: a naive baseline (the last temperature of the
window), a Dense net, a Conv1D net, LSTM, LSTM with dropout, stacked GRU with
dropout, bidirectional LSTM, each written as in the book with the functional API
(``inputs = keras.Input(...)``, ``x = layer(...)(x)``, ``keras.Model(inputs, outputs)``)
against ``minirnn.keras``, so ``--keras`` runs the very same code in Keras.  Prints one table
of validation and test MAE in degrees next to the naive forecast's, saves the training curves
(the naive MAE drawn in each) to OUTPUT_DIR.

    python examples/jena_forecast.py                       # Jena (downloaded once); offline: the TMY3 year
    python examples/jena_forecast.py --data tmy3           # offline: a year of hourly weather in Greensboro
    python examples/jena_forecast.py --data tmy3 --keras   # the same models in Keras
    python examples/jena_forecast.py --json results.json   # also {model: {"val_mae", "test_mae"}}
    python examples/jena_forecast.py --data my_copy.csv.zip --models naive,lstm --max-batches 5

`--data jena` needs the download (or a copy in the cache, see minirnn.datasets); with no
`--data` and no network the script says so and uses the TMY3 year instead.  `--data tmy3` is
real hourly weather that the pvlib package ships (`pip install ".[weather]"`): 14 quantities
(pressure, temperature, dew point, humidity, wind, cloud, visibility, water vapour, sunshine)
at Greensboro, North Carolina, each month a measured month of one year from 1980-2003.  It is
hourly already, so no row is skipped; its split is the chapter's (half, a quarter, a quarter:
January-June, July-September, October-December).
"""
import argparse
import json
import math
import os
import sys
import textwrap
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# The chapter's settings.
SAMPLING_RATE = 6            # one reading an hour out of one every 10 minutes
SEQUENCE_LENGTH = 120        # 120 hours = 5 days
HORIZON = 24                 # predict 24 sampled steps (24 h) after the window's last step
BATCH_SIZE = 256
TRAIN_FRACTION, VAL_FRACTION = 0.5, 0.25      # the rest is the test split
TARGET_COLUMN = "T (degC)"
SEED = 42
# Epochs the chapter trains each model for (--epochs overrides them all).
BOOK_EPOCHS = {"dense": 10, "conv": 10, "lstm": 10, "lstm_dropout": 50, "gru_stacked": 50, "bilstm": 10}

# The offline TMY3 year (8,760 hours, an eighth of Jena's) with the chapter's models, where its size asks:
# - hourly already: the same 5-day windows and 24-hour horizon, no row skipped;
# - its twelve months were measured in twelve different years, so no split is "the future": split by month,
#   every season in each split (train January-February, May-June, September-October; validation March,
#   July, November; test April, August, December), no window crossing from one split into another;
# - ~3,900 training windows: batches of 32 (~120 steps an epoch), and targets standardised like the
#   inputs (MAEs still in degrees), since RMSprop moves a weight by about the learning rate per step and
#   that many steps cannot grow outputs of ~15 degrees;
# - the dropout models overfit after about 10 epochs (the best epoch is kept): 20 epochs, not 50.
TMY3 = dict(sampling_rate=1, sequence_length=120, horizon=24, batch_size=32, standard_targets=True)
TMY3_TARGET = "Dry-bulb (C)"
TMY3_MONTHS = {"train": (1, 2, 5, 6, 9, 10), "val": (3, 7, 11), "test": (4, 8, 12)}
TMY3_EPOCHS = {**BOOK_EPOCHS, "lstm_dropout": 20, "gru_stacked": 20}
OPTIMIZER, LOSS, METRICS = "rmsprop", "mse", ["mae"]
OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")



# -- the chapter's models, in its functional style -------------------------------------------------
# Each takes the `keras` module (minirnn.keras, or Keras itself with --keras) and the Input tensor.
def dense(keras, inputs):
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.layers.Dense(1)(x)


def conv(keras, inputs):
    x = keras.layers.Conv1D(8, 24, activation="relu")(inputs)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Conv1D(8, 12, activation="relu")(x)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Conv1D(8, 6, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.layers.Dense(1)(x)


def lstm(keras, inputs):
    x = keras.layers.LSTM(16)(inputs)
    return keras.layers.Dense(1)(x)


def lstm_dropout(keras, inputs):
    x = keras.layers.LSTM(32, recurrent_dropout=0.25)(inputs)
    x = keras.layers.Dropout(0.5)(x)
    return keras.layers.Dense(1)(x)


def gru_stacked(keras, inputs):
    x = keras.layers.GRU(32, recurrent_dropout=0.5, return_sequences=True)(inputs)
    x = keras.layers.GRU(32, recurrent_dropout=0.5)(x)
    x = keras.layers.Dropout(0.5)(x)
    return keras.layers.Dense(1)(x)


def bilstm(keras, inputs):
    x = keras.layers.Bidirectional(keras.layers.LSTM(16))(inputs)
    return keras.layers.Dense(1)(x)


MODELS = {f.__name__: f for f in (dense, conv, lstm, lstm_dropout, gru_stacked, bilstm)}
ALL_MODELS = ["naive", *MODELS]


# -- data -------------------------------------------------------------------------------------------
def load(data):
    """(values float32 (N, C), column names, target column index, description, settings).

    ``data`` None: Jena if it is cached or can be downloaded, else (offline) the TMY3 year."""
    from minirnn import datasets
    if data is None:
        try:
            return load("jena")
        except ConnectionError as error:
            print(f"{error}\n\nNo network: using the offline data instead (--data tmy3).\n", file=sys.stderr)
            print("offline: Jena climate not available, using the TMY3 year of hourly weather at Greensboro "
                  "(shipped by pvlib)")
            return load("tmy3")
    if data == "tmy3":
        timestamps, values, columns = datasets.load_tmy3()
        return (values, columns, columns.index(TMY3_TARGET),
                "Greensboro NC hourly weather, TMY3 (12 measured months of 1980-2003, pvlib)",
                dict(TMY3, parts=month_parts(timestamps, TMY3_MONTHS)))
    settings = dict(sampling_rate=SAMPLING_RATE, sequence_length=SEQUENCE_LENGTH, horizon=HORIZON,
                    batch_size=BATCH_SIZE)
    if data == "jena":
        _, values, columns = datasets.load_jena_climate()
        name = "Jena climate 2009-2016"
    else:
        _, values, columns = datasets.load_jena_climate(path=data)
        name = f"Jena-format file {os.path.basename(data)}"
    return values, columns, columns.index(TARGET_COLUMN), name, settings


def month_parts(timestamps, months):
    """{split: [(first row, end row), ...]}: the runs of consecutive rows whose month is the split's.
    A timestamp is the end of its hour, so 24:00 on the 31st still belongs to that month."""
    month = (timestamps - np.timedelta64(1, "h")).astype("datetime64[M]").astype(int) % 12 + 1
    parts = {}
    for part, chosen in months.items():
        rows = np.nonzero(np.isin(month, chosen))[0]
        runs = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1)
        parts[part] = [(int(r[0]), int(r[-1]) + 1) for r in runs]
    return parts


class Split:
    """The chapter's preparation: normalise with the training split, windows with targets `delay` later.

    ``parts`` None: the chapter's split, the first half, the next quarter and the last quarter, as
    lazy datasets.  Else ``{split: [(first row, end row), ...]}``, windows within each run of rows,
    as arrays (the TMY3 year is small)."""

    def __init__(self, values, target_index, sampling_rate, sequence_length, horizon, batch_size, parts=None,
                 standard_targets=False):
        self.sampling_rate, self.sequence_length = sampling_rate, sequence_length
        self.batch_size = batch_size
        self.horizon = horizon
        self.delay = sampling_rate * (sequence_length + horizon - 1)
        self.target_index = target_index
        n = len(values)
        self.by_rows = parts is not None
        if parts is None:
            num_train, num_val = int(TRAIN_FRACTION * n), int(VAL_FRACTION * n)
            parts = {"train": [(0, num_train)], "val": [(num_train, num_train + num_val)],
                     "test": [(num_train + num_val, n)]}
        self.parts = parts
        self.rows = {part: sum(b - a for a, b in runs) for part, runs in parts.items()}
        self.temperature = np.ascontiguousarray(values[:, target_index])        # raw degrees: the targets
        train_rows = np.concatenate([np.arange(a, b) for a, b in parts["train"]])
        self.mean = values[train_rows].mean(axis=0)
        self.std = values[train_rows].std(axis=0)
        self.std[self.std == 0] = 1.0
        self.raw = ((values - self.mean) / self.std).astype(np.float32)
        # Targets in degrees (the chapter's), or standardised like the inputs: then one unit of the
        # model's output is `unit` degrees.
        self.unit = float(self.std[target_index]) if standard_targets else 1.0
        self.offset = float(self.mean[target_index]) if standard_targets else 0.0
        span = (sequence_length - 1) * sampling_rate
        for part in ("val", "test"):
            if max(b - a for a, b in parts[part]) <= span + self.delay:
                raise SystemExit(f"{n} rows are too few for windows spanning {span + 1} rows with targets "
                                 f"{self.delay} rows later: each of the validation and test quarters "
                                 f"needs more than {span + self.delay} rows")
        self.input_shape = (sequence_length, values.shape[1])

    def arrays(self, part):
        """(x (N, sequence_length, C), y (N,)) of every window inside the part's runs of rows."""
        steps = np.arange(self.sequence_length) * self.sampling_rate
        starts = np.concatenate([np.arange(a, b - self.delay) for a, b in self.parts[part]])
        y = (self.temperature[starts + self.delay] - self.offset) / self.unit
        return self.raw[starts[:, None] + steps], y.astype(np.float32)

    def kwargs(self, part):
        (start, end), = self.parts[part]
        return dict(sequence_length=self.sequence_length, sampling_rate=self.sampling_rate,
                    batch_size=self.batch_size, shuffle=True, seed=SEED, start_index=start,
                    end_index=None if end == len(self.raw) else end)

    def datasets(self, make):
        """(train, val, test): datasets from `make` = minirnn's or Keras's timeseries_dataset_from_array,
        or (x, y) arrays when split by rows."""
        if self.by_rows:
            return tuple(self.arrays(part) for part in ("train", "val", "test"))
        data, targets = self.raw[:-self.delay], self.temperature[self.delay:]
        return tuple(make(data, targets, **self.kwargs(part)) for part in ("train", "val", "test"))

    def num_batches(self, data):
        return math.ceil(len(data[1]) / self.batch_size) if isinstance(data, tuple) else len(data)


def limit(dataset, n, framework, batch_size):
    """At most `n` batches of `dataset` per epoch (a new shuffle each time): for smoke runs."""
    if n is None:
        return dataset
    if isinstance(dataset, tuple):
        return tuple(a[:n * batch_size] for a in dataset)
    if framework == "keras":
        return dataset.take(n)
    from minirnn.data import take
    return take(dataset, n)


def naive_mae(dataset, split):
    """MAE of 'the temperature in 24 h is the last one of the window', in degrees."""
    total, count = 0.0, 0
    for x, y in [dataset] if isinstance(dataset, tuple) else dataset:
        predicted = x[:, -1, split.target_index] * split.std[split.target_index] + split.mean[split.target_index]
        total += float(np.abs(predicted - (y * split.unit + split.offset)).sum())
        count += len(y)
    return total / count


# -- models ----------------------------------------------------------------------------------------
def keras_module(framework):
    """Keras itself, or minirnn's Keras namespace: the rest of the script is the same code."""
    if framework == "keras":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        return keras
    import minirnn.keras as keras
    return keras


def build(kind, input_shape, framework):
    keras = keras_module(framework)
    inputs = keras.Input(shape=input_shape)
    outputs = MODELS[kind](keras, inputs)
    return keras.Model(inputs, outputs)


def best_weights_callback(framework):
    """Keep the weights of the epoch with the lowest val_loss and restore them at the end
    (the chapter's ModelCheckpoint(save_best_only=True) + load_model, in memory)."""
    class BestWeights(keras_module(framework).callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.weights = np.inf, None, None

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss")
            if loss is not None and loss < self.best:
                self.best, self.best_epoch, self.weights = loss, epoch, self.model.get_weights()

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return BestWeights()


def train(kind, split, sets, framework, epochs, verbose):
    """Fit one model; returns (history dict, best epoch, val MAE of the best epoch, test MAE)."""
    train_set, val_set, test_set = sets
    keras_module(framework).utils.set_random_seed(SEED)
    model = build(kind, split.input_shape, framework)
    model.compile(optimizer=OPTIMIZER, loss=LOSS, metrics=METRICS)
    best = best_weights_callback(framework)
    if isinstance(train_set, tuple):                # arrays: fit shuffles them every epoch
        history = model.fit(*train_set, batch_size=split.batch_size, epochs=epochs, validation_data=val_set,
                            callbacks=[best], verbose=verbose, shuffle=True)
        test = model.evaluate(*test_set, batch_size=split.batch_size, verbose=0, return_dict=True)
    else:
        history = model.fit(train_set, epochs=epochs, validation_data=val_set, callbacks=[best], verbose=verbose,
                            shuffle=False)             # the datasets shuffle themselves
        test = model.evaluate(test_set, verbose=0, return_dict=True)
    # In degrees: MAE scales with the target's unit, MSE with its square.
    scale = {"mae": split.unit, "val_mae": split.unit, "loss": split.unit ** 2, "val_loss": split.unit ** 2}
    history = {k: [float(v) * scale.get(k, 1.0) for v in vs] for k, vs in history.history.items()}
    test["mae"] *= split.unit
    val_mae = history["val_mae"][best.best_epoch] if best.best_epoch is not None else float("nan")
    return model, history, (best.best_epoch or 0) + 1, val_mae, float(test["mae"])


# -- report ----------------------------------------------------------------------------------------
def table(results, title):
    lines = [title, f"{'model':<13} {'params':>7} {'epochs':>6} {'best':>4} {'val MAE':>8} {'test MAE':>8} "
             f"{'time':>7}"]
    for kind, r in results.items():
        params = "-" if r["params"] is None else f"{r['params']:,}"
        epochs = "-" if r["epochs"] is None else str(r["epochs"])
        best = "-" if r["best_epoch"] is None else str(r["best_epoch"])
        lines.append(f"{kind:<13} {params:>7} {epochs:>6} {best:>4} {r['val_mae']:>8.3f} "
                     f"{r['test_mae']:>8.3f} {r['seconds']:>6.1f}s")
    return "\n".join(lines)


def side_by_side(ours, theirs):
    lines = [f"{'':13} {'---- minirnn ----':>17}   {'----- keras -----':>17}",
             f"{'model':<13} {'val MAE':>8} {'test MAE':>8}   {'val MAE':>8} {'test MAE':>8}"]
    for kind in ours:
        if kind in theirs:
            a, b = ours[kind], theirs[kind]
            lines.append(f"{kind:<13} {a['val_mae']:>8.3f} {a['test_mae']:>8.3f}   "
                         f"{b['val_mae']:>8.3f} {b['test_mae']:>8.3f}")
    return "\n".join(lines)


def plot_curves(path, title, histories, naive=None):
    """Training and validation MAE per epoch, one panel per model, with the naive forecast's
    validation MAE as a line (the mark a model has to get under)."""
    if not histories:
        return
    cols = min(3, len(histories))
    rows = -(-len(histories) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, (kind, h) in zip(axes.flat, histories.items()):
        epochs = np.arange(1, len(h["mae"]) + 1)
        ax.plot(epochs, h["mae"], "o-", label="training MAE")
        ax.plot(epochs, h["val_mae"], "s-", label="validation MAE")
        if naive is not None:
            ax.axhline(naive["val_mae"], color="black", linestyle="--",
                       label=f"naive, validation MAE {naive['val_mae']:.2f}")
        ax.set(title=kind, xlabel="epoch", ylabel="MAE (degrees)")
        ax.grid(True)
        ax.legend()
    for ax in list(axes.flat)[len(histories):]:
        ax.axis("off")
    fig.suptitle(textwrap.fill(f"{title} (seed {SEED})", 150), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="jena, tmy3, or a path to a Jena-format .csv/.zip (default: jena, tmy3 offline)")
    parser.add_argument("--models", default=",".join(ALL_MODELS), help=f"comma-separated, of {ALL_MODELS}")
    parser.add_argument("--epochs", type=int, default=None, help="for every model (default: the chapter's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 (Jena), 32 (TMY3)")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="training batches per epoch")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="at most this many batches of every split (smoke runs)")
    parser.add_argument("--keras", action="store_true", help="train the same models with Keras instead")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--output-dir", default=OUTPUT_DIR)
    parser.add_argument("--json", default=None, metavar="PATH",
                        help='write {model: {"val_mae": ..., "test_mae": ...}} to PATH')
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(ALL_MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {ALL_MODELS}")
    kinds = ["naive"] + [k for k in kinds if k != "naive"]      # always: the mark every model is held to
    framework = "keras" if args.keras else "minirnn"
    os.makedirs(args.output_dir, exist_ok=True)

    try:
        values, columns, target_index, name, settings = load(args.data)
        data = args.data or ("jena" if name.startswith("Jena") else "tmy3")
    except (ConnectionError, FileNotFoundError, ImportError) as error:
        print(error, file=sys.stderr)
        return 2
    if args.batch_size:
        settings["batch_size"] = args.batch_size
    split = Split(values, target_index, **settings)
    sets = split.datasets(keras_module(framework).utils.timeseries_dataset_from_array)
    train_limit = min(x for x in (args.steps_per_epoch, args.max_batches, 10**12) if x is not None)
    b = split.batch_size
    sets = (limit(sets[0], None if train_limit == 10**12 else train_limit, framework, b),
            limit(sets[1], args.max_batches, framework, b), limit(sets[2], args.max_batches, framework, b))
    from minirnn.data import timeseries_dataset_from_array
    naive_sets = [limit(d, args.max_batches, "minirnn", b) for d in split.datasets(timeseries_dataset_from_array)]

    title = (f"{name}: {len(values):,} rows x {values.shape[1]}; windows of {split.sequence_length} steps "
             f"of {split.sampling_rate} row(s), target '{columns[target_index]}' {split.horizon} steps after "
             f"the window's last one; {framework}")
    print(title)
    print(f"splits: train {split.rows['train']:,} / val {split.rows['val']:,} / test {split.rows['test']:,} rows"
          f"{' (by month: ' + str(TMY3_MONTHS) + ')' if split.by_rows else ''}; batches of {split.batch_size}: "
          f"{' / '.join(str(split.num_batches(d)) for d in sets)} per epoch")

    results, histories = {}, {}
    for kind in kinds:
        start = time.perf_counter()
        if kind == "naive":
            results[kind] = dict(params=None, epochs=None, best_epoch=None, val_mae=naive_mae(naive_sets[1], split),
                                 test_mae=naive_mae(naive_sets[2], split), seconds=time.perf_counter() - start)
        else:
            epochs = args.epochs or (TMY3_EPOCHS if data == "tmy3" else BOOK_EPOCHS)[kind]
            print(f"--- {kind}: {epochs} epochs")
            model, history, best_epoch, val_mae, test_mae = train(kind, split, sets, framework, epochs,
                                                                  args.verbose)
            histories[kind] = history
            results[kind] = dict(params=int(model.count_params()), epochs=epochs, best_epoch=best_epoch,
                                 val_mae=val_mae, test_mae=test_mae, seconds=time.perf_counter() - start)
        r = results[kind]
        print(f"{kind}: validation MAE {r['val_mae']:.3f}, test MAE {r['test_mae']:.3f}, {r['seconds']:.1f} s")

    run = dict(data=data, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
               max_batches=args.max_batches)
    label = data if data in ("jena", "tmy3") else os.path.splitext(os.path.basename(data))[0]
    plot_curves(os.path.join(args.output_dir, f"forecast_{label}_{framework}_curves.png"), title, histories,
                results.get("naive"))
    write_json(os.path.join(args.output_dir, f"forecast_{label}_{framework}.json"),
               {"title": title, "run": run, "results": results, "histories": histories})
    print()
    print(table(results, f"Mean absolute error in degrees ({framework}; best epoch by validation loss)"))
    other = os.path.join(args.output_dir, f"forecast_{label}_{'minirnn' if args.keras else 'keras'}.json")
    if os.path.exists(other):
        with open(other) as f:
            previous = json.load(f)
        if previous.get("run") == run:
            ours, theirs = (previous["results"], results) if args.keras else (results, previous["results"])
            print()
            print("side by side with the last run of the other framework (same data and settings):")
            print(side_by_side(ours, theirs))
    if args.json:
        write_json(args.json, {kind: {"val_mae": r["val_mae"], "test_mae": r["test_mae"]}
                               for kind, r in results.items()})
    print(f"curves and results written to {args.output_dir}" + (f", MAEs to {args.json}" if args.json else ""))
    return results


def write_json(path, obj):
    """Through a temporary file in the same folder, so a reader never sees half of it."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".part", path)


if __name__ == "__main__":
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
