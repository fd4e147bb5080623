"""Run every Keras program of this folder with one Keras: ``python _runner.py keras`` or
``python _runner.py minirnn``.  The only change made to a program is its import lines
(``import keras`` -> ``import minirnn.keras as keras``, ``from keras...`` -> ``from minirnn.keras...``).
Prints one JSON line: {program: {"result": the program's RESULT} or {"error": "..."}}."""
import glob
import json
import os
import re
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def programs():
    return sorted(p for p in glob.glob(os.path.join(HERE, "*.py")) if not os.path.basename(p).startswith("_"))


def swap_imports(source):
    source = re.sub(r"^(\s*)import keras\s*$", r"\1import minirnn.keras as keras", source, flags=re.M)
    return re.sub(r"^(\s*)from keras(\.[\w.]+)? import", r"\1from minirnn.keras\2 import", source, flags=re.M)


def main(which):
    if which == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        clear = keras.backend.clear_session
    else:
        import minirnn.keras as keras
        clear = keras.backend.clear_session
    results = {}
    for path in programs():
        name = os.path.basename(path)[:-3]
        with open(path, encoding="utf-8") as f:
            source = f.read()
        if which != "keras":
            source = swap_imports(source)
        clear()
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as workdir:
            os.chdir(workdir)                      # programs write their checkpoints here
            namespace = {"__name__": "__main__", "__file__": path}
            try:
                exec(compile(source, path, "exec"), namespace)
                results[name] = {"result": _plain(namespace.get("RESULT")), "compare": namespace.get("COMPARE", True)}
            except Exception as error:             # noqa: BLE001  reported per program
                tb = traceback.extract_tb(error.__traceback__)
                line = next((f"{os.path.basename(t.filename)}:{t.lineno}: {t.line}" for t in reversed(tb)
                             if t.filename == path), "")
                results[name] = {"error": f"{type(error).__name__}: {error} [{line}]"}
            finally:
                os.chdir(cwd)
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
    main(sys.argv[1])
