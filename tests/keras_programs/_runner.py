"""Run every Keras program of this folder with one Keras, all in this one process, each in a fresh
namespace and a fresh working directory:

    python _runner.py keras WEIGHTS.npz [K/N]     # Keras; records the weights each fit starts from
    python _runner.py minirnn WEIGHTS.npz ...     # minirnn.keras; each fit starts from Keras's weights

``K/N`` runs the K-th of N shares of the programs (the Keras runs are the slow ones: N of them run
side by side); minirnn reads the weights of every share.

The only change made to a program is its import lines (``import keras`` -> ``import
minirnn.keras as keras``, ``from keras...`` -> ``from minirnn.keras...``).  The harness wraps
``Model.fit`` of each library: in the Keras run it records the model's weights before each fit;
in the minirnn run it starts each fit from those weights (the programs' own initializers draw from
different generators), and both fit with ``shuffle=False`` (the same batch order).  Prints one JSON
line: {program: {"result": its RESULT, "compare": its COMPARE, "histories": [history of each fit],
"printed": what it printed, "seconds": ...} or {"error": "..."}}."""
import contextlib
import glob
import io
import json
import os
import re
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def programs():
    return sorted(p for p in glob.glob(os.path.join(HERE, "*.py")) if not os.path.basename(p).startswith("_"))


def swap_imports(source):
    source = re.sub(r"^(\s*)import keras\s*$", r"\1import minirnn.keras as keras", source, flags=re.M)
    return re.sub(r"^(\s*)from keras(\.[\w.]+)? import", r"\1from minirnn.keras\2 import", source, flags=re.M)


def main(which, weights_paths, share="0/1"):
    import numpy as np
    if which == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        model_class = keras.Model
        starts = None
        recorded = {}
    else:
        import minirnn.keras as keras
        from minirnn.models import Model as model_class
        starts = {}
        for path in weights_paths:
            with np.load(path) as f:
                starts.update({k: f[k] for k in f.files})
    original_fit = model_class.fit
    current = {}                                   # the program running and its fits so far

    def fit(self, *args, **kwargs):
        name, k = current["name"], len(current["histories"])
        if starts is None:
            for j, w in enumerate(self.get_weights()):
                recorded[f"{name}/{k}/{j}"] = np.asarray(w)
        else:
            start = [starts[f"{name}/{k}/{j}"] for j in range(sum(key.startswith(f"{name}/{k}/") for key in starts))]
            mine = [np.shape(w) for w in self.get_weights()]
            if mine != [w.shape for w in start]:
                raise AssertionError(f"fit {k}: weight shapes {mine} differ from Keras's "
                                     f"{[w.shape for w in start]}")
            self.set_weights(start)
        kwargs["shuffle"] = False
        history = original_fit(self, *args, **kwargs)
        current["histories"].append({key: [float(v) for v in values] for key, values in history.history.items()})
        return history
    model_class.fit = fit

    results = {}
    k, n = (int(v) for v in share.split("/"))
    for path in programs()[k::n]:
        name = os.path.basename(path)[:-3]
        with open(path, encoding="utf-8") as f:
            source = f.read()
        if which != "keras":
            source = swap_imports(source)
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        current.update(name=name, histories=[])
        cwd, printed, began = os.getcwd(), io.StringIO(), time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            os.chdir(workdir)                      # programs write their checkpoints here
            namespace = {"__name__": "__main__", "__file__": path}
            try:
                with contextlib.redirect_stdout(printed):
                    exec(compile(source, path, "exec"), namespace)
                results[name] = {"result": _plain(namespace.get("RESULT")), "compare": namespace.get("COMPARE", True),
                                 "histories": current["histories"]}
            except Exception as error:             # noqa: BLE001  reported per program
                tb = traceback.extract_tb(error.__traceback__)
                line = next((f"{os.path.basename(t.filename)}:{t.lineno}: {t.line}" for t in reversed(tb)
                             if t.filename == path), "")
                results[name] = {"error": f"{type(error).__name__}: {error} [{line}]"}
            finally:
                os.chdir(cwd)
        results[name].update(printed=printed.getvalue()[-2000:], seconds=round(time.perf_counter() - began, 2))
    if starts is None:
        np.savez(weights_paths[0], **recorded)
    print(json.dumps(results))


def _plain(value):
    import numpy as np
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.astype(float).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


if __name__ == "__main__":
    if sys.argv[1] == "keras":
        main("keras", sys.argv[2:3], *sys.argv[3:4])
    else:
        main(sys.argv[1], sys.argv[2:])
