"""Train the course's SimpleRNN forecaster in Keras, then serve it with minirnn alone.

1. (if Keras is installed) builds the course model in Keras, with its two Lambda layers,
   trains it on the synthetic series, saves it as .keras (MODEL_PATH) and times Keras's predict;
2. in a fresh process where TensorFlow and Keras cannot be imported, loads the file with
   minirnn (the Lambdas' bytecode is never run: their functions are given as
   custom_objects), checks its forecasts against Keras's and times minirnn's predict.

Prints both predict latencies (medians, one window per call) side by side.

    python examples/keras_to_minirnn.py [--epochs N] [--model PATH] [--serve-only]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

EPOCHS = 20
WINDOW_SIZE = 20
SPLIT_TIME = 1000
LEARNING_RATE = 1e-5
REPEATS_KERAS = 30         # Keras's predict takes tens of milliseconds a call
REPEATS_MINIRNN = 300
OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
MODEL_PATH = os.path.join(OUTPUT_DIR, "course_simple_rnn.keras")
BLOCKED = ("tensorflow", "keras", "tf_keras")


def windows(series, size):
    """(window, next value) pairs of a 1-D series."""
    idx = np.arange(size)[None, :] + np.arange(len(series) - size)[:, None]
    return series[idx], series[size:]


def median_latency(predict, x, repeats):
    predict(x)                                             # warm-up (graph tracing, JIT)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def train_in_keras(epochs, model_path):
    import keras

    from minirnn.data import synthetic_series

    _, series = synthetic_series()
    x, y = windows(series[:SPLIT_TIME], WINDOW_SIZE)
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input((WINDOW_SIZE,)),
        keras.layers.Lambda(lambda t: keras.ops.expand_dims(t, axis=-1), name="expand"),
        keras.layers.SimpleRNN(40, return_sequences=True),
        keras.layers.SimpleRNN(40),
        keras.layers.Dense(1),
        keras.layers.Lambda(lambda t: t * 100.0, name="scale")])
    model.compile(loss=keras.losses.Huber(), optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
                  metrics=["mae"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
    model.save(model_path)
    valid_x, _ = windows(series[SPLIT_TIME - WINDOW_SIZE:], WINDOW_SIZE)
    np.save(model_path + ".x.npy", valid_x)
    np.save(model_path + ".keras_forecast.npy", model.predict(valid_x, verbose=0))
    return median_latency(lambda a: model.predict(a, verbose=0), valid_x[:1], REPEATS_KERAS)


def serve(model_path):
    """Run in a process where TensorFlow and Keras cannot be imported: load, check, time."""
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: minirnn serves the model alone")
    sys.meta_path.insert(0, Block())
    import minirnn as mr

    model = mr.load_model(model_path, custom_objects={"expand": lambda t: t[..., None],
                                                      "scale": lambda t: t * 100.0})
    valid_x = np.load(model_path + ".x.npy")
    forecast = model.predict(valid_x, verbose=0)
    expected_path = model_path + ".keras_forecast.npy"
    difference = float(np.abs(forecast - np.load(expected_path)).max()) if os.path.exists(expected_path) else None
    latency = median_latency(lambda a: model.predict(a, verbose=0), valid_x[:1], REPEATS_MINIRNN)
    print(json.dumps({"latency": latency, "max_difference": difference,
                      "tensorflow_imported": any(m.split(".")[0] in BLOCKED for m in sys.modules.copy())}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--model", default=MODEL_PATH, help="the .keras file written and served")
    parser.add_argument("--serve-only", action="store_true", help="load and time an existing --model file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.model)
    keras_latency = None
    if not args.serve_only:
        try:
            import keras  # noqa: F401
        except ImportError:
            print("Keras is not installed: serving an existing", args.model)
        else:
            keras_latency = train_in_keras(args.epochs, args.model)
    if not os.path.exists(args.model):
        raise SystemExit(f"{args.model} does not exist: run once with Keras installed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, os.path.abspath(__file__), "--serve", "--model", args.model],
                         env=env, check=True, capture_output=True, text=True)
    served = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"model file: {args.model}")
    print(f"served by minirnn with TensorFlow/Keras unimportable (imported: {served['tensorflow_imported']})")
    if served["max_difference"] is not None:
        print(f"largest difference from Keras's forecast: {served['max_difference']:.2e}")
    print(f"{'predict, one window (median)':32s} {'Keras':>10s} {'minirnn':>10s}")
    shown = "-" if keras_latency is None else f"{keras_latency * 1e3:.2f} ms"
    print(f"{'':32s} {shown:>10s} {served['latency'] * 1e3:>7.3f} ms")
    return {"keras": keras_latency, **served}


if __name__ == "__main__":
    main()
