"""The course demo's training recipe (examples/course_week3.py) run in Keras 3, for comparison.

Same series, split, windows, models, SGD + momentum, Huber loss, cosine decay from the given
peak rate over the demo's epochs, same seeds; Keras's own initial weights, and the course's
`tf.data` pipeline for the shuffled windows.  Prints each seed's validation MAE and the median.

    python benchmarks/course_keras.py [--models simple_rnn,bilstm] [--rates 8.2e-6,2.9e-5] [--seeds 3] [--epochs N]
"""
import argparse
import importlib.util
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# The course's pipeline hides its length (flat_map): Keras finds the end of each epoch by running
# out of data, and says so every epoch.
warnings.filterwarnings("ignore", message="Your input ran out of data")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_course():
    spec = importlib.util.spec_from_file_location("course_week3", os.path.join(ROOT, "examples", "course_week3.py"))
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    return course


def windowed_dataset(series, course, seed):
    """The course's pipeline: windows of WINDOW_SIZE + 1, shuffled, split into (window, next value)."""
    def whole(window):
        return window.batch(course.WINDOW_SIZE + 1)

    def split(window):
        return window[:-1], window[-1]

    ds = tf.data.Dataset.from_tensor_slices(series).window(course.WINDOW_SIZE + 1, shift=1, drop_remainder=True)
    return ds.flat_map(whole).shuffle(course.SHUFFLE_BUFFER, seed=seed).map(split).batch(course.BATCH_SIZE)


def build(kind, course):
    if kind == "simple_rnn":
        recurrent = [keras.layers.SimpleRNN(40, return_sequences=True), keras.layers.SimpleRNN(40)]
    else:
        recurrent = [keras.layers.Bidirectional(keras.layers.LSTM(32, return_sequences=True)),
                     keras.layers.Bidirectional(keras.layers.LSTM(32))]
    return keras.Sequential([keras.Input((course.WINDOW_SIZE,)), keras.layers.Lambda(lambda x: tf.expand_dims(x, -1)),
                             *recurrent, keras.layers.Dense(1), keras.layers.Lambda(lambda x: x * 100.0)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="simple_rnn,bilstm")
    parser.add_argument("--rates", default="8.2e-6,2.9e-5", help="peak rate per model (the demo's picks)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's)")
    args = parser.parse_args()
    course = load_course()
    from minirnn.data import synthetic_series

    _, series = synthetic_series(seed=course.SEED)
    split, window = course.SPLIT_TIME, course.WINDOW_SIZE
    valid_windows = np.lib.stride_tricks.sliding_window_view(series[split - window:-1], window)
    naive_mae = float(np.mean(np.abs(series[split - 1:-1] - series[split:])))
    for kind, peak in zip(args.models.split(","), (float(r) for r in args.rates.split(","))):
        epochs, maes = args.epochs or course.EPOCHS[kind], []
        for run in range(args.seeds):
            seed = course.SEED + run
            keras.utils.set_random_seed(seed)
            model = build(kind, course)
            model.compile(loss=keras.losses.Huber(), metrics=["mae"],
                          optimizer=keras.optimizers.SGD(learning_rate=peak, momentum=course.MOMENTUM))
            start = time.process_time()
            model.fit(windowed_dataset(series[:split], course, seed), epochs=epochs, verbose=0, shuffle=False,
                      callbacks=[keras.callbacks.LearningRateScheduler(course.cosine(peak, epochs))])
            predicted = model.predict(valid_windows, batch_size=course.BATCH_SIZE, verbose=0).squeeze()
            maes.append(float(np.mean(np.abs(predicted - series[split:]))))
            print(f"{kind} seed {seed}: validation MAE {maes[-1]:.2f} ({time.process_time() - start:.0f} s of CPU)",
                  flush=True)
        print(f"{kind}: rate {peak:.1e}, {epochs} epochs; median {np.median(maes):.2f} over {args.seeds} seeds "
              f"({', '.join(f'{m:.2f}' for m in maes)}); naive {naive_mae:.2f}")


if __name__ == "__main__":
    main()
