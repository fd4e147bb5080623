"""Legitimate model files of every format, the means to forge hostile ones from them, and a
child process that loads many files under memory and time limits and reports what each did.

Used by tests/test_file_bounds.py, tests/test_file_fuzz.py and tools/fuzz_files.py.

    seeds = write_seeds(directory)          {name: Seed}: .minirnn, .keras, .h5, weights, safetensors
    results = run_cases(cases, directory)   one JSON result per case, from batched child processes
    problems(result)                        what is wrong with a result ([] when it loaded or raised
                                            ModelFileError within the limits and changed nothing)

A case is ``{"id", "path", "how", "neutral"}``: ``how`` is ``"model"`` (``load_model``),
``"trusted model"`` (``load_model(..., safe_mode=False)``),
``"weights:<seed>"`` (``load_weights`` into the seed's model built in code) or ``"torch"``
(``layers_from_torch``); ``neutral`` says the forgery cannot change what the file means, so a
file that loads must predict exactly what its seed predicts.
"""
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MEMORY_SLACK = 96 * 2**20         # growth any load may show (parsing, Python objects, the allocator)
MEMORY_PER_FILE_BYTE = 32         # ... plus this much per byte of the file
MEMORY_PER_JSON_BYTE = 32         # ... and per byte of JSON text in it (parsed: ~20 bytes of objects each)
SECONDS = 30.0                    # per case, on a loaded 2-core machine
SECONDS_PER_JSON_MIB = 6.0        # ... plus this per MiB of JSON text (at most 16 MiB a document)
ADDRESS_SPACE = 3 * 2**30         # the child's address space above its size after warm-up
BATCH = 2                         # samples predicted after a file loads; unknown time steps are 3


def allowance(nbytes, json_bytes=0):
    """Peak memory growth a load of a file of `nbytes`, `json_bytes` of them JSON text once
    inflated, may cause, in this harness's measure."""
    return MEMORY_SLACK + MEMORY_PER_FILE_BYTE * nbytes + MEMORY_PER_JSON_BYTE * json_bytes


def json_bytes(path):
    """Bytes of JSON text a loader of `path` parses at most (each document capped at the 16 MiB
    minirnn reads): config.json and weights manifests of archives, configs of an HDF5 file, a
    safetensors header."""
    cap = 16 * 2**20
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return sum(min(info.file_size, cap) for info in archive.infolist()
                           if info.filename.endswith((".json", ".npz")))
        with open(path, "rb") as f:
            head = f.read(8)
        if path.endswith(".safetensors"):
            return min(struct.unpack("<Q", head)[0], cap) if len(head) == 8 else 0
        import h5py
        from minirnn.saving.readers import no_plugin_search

        with no_plugin_search(), h5py.File(path, "r") as f:    # HDF5 may look for plugins to open a file
            return sum(min(f.attrs.get_id(k).get_storage_size(), cap) for k in ("model_config", "training_config")
                       if k in f.attrs)
    except Exception:                # a damaged file: no text to allow for
        return 0


# -- legitimate files ------------------------------------------------------------------------------
class Seed:
    def __init__(self, name, path, how):
        self.name, self.path, self.how = name, os.path.abspath(path), how

    def case(self, path=None, neutral=True, id=None):
        return {"id": id or self.name, "path": os.path.abspath(path or self.path), "how": self.how, "neutral": neutral,
                "seed": self.name}


def sequential_model():
    import minirnn as mr
    from minirnn.layers import LSTM, Dense, Input
    from minirnn.layers.base import clear_session

    clear_session()                  # the cases name the layers 'lstm' and 'dense', whatever ran before
    mr.set_random_seed(0)
    # Names given: the hostile files and the legacy layout name the layers, whatever else this
    # process has made before.
    model = mr.models.Sequential([Input(shape=(None, 2), name="input_layer"), LSTM(3, name="lstm"),
                                  Dense(1, name="dense")], name="sequential")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((8, 4, 2)).astype("float32"), rng.standard_normal((8, 1)).astype("float32"),
              epochs=1, verbose=0)          # optimizer state to save
    return model


def functional_model():
    import minirnn as mr
    from minirnn.layers import GRU, Concatenate, Dense, Input, RepeatVector, SimpleRNN, Flatten

    mr.set_random_seed(1)
    a, b = Input(shape=(4, 2), name="a"), Input(shape=(None, 2), name="b")
    x = Concatenate(name="concatenate")([GRU(3, name="gru")(a), SimpleRNN(2, name="simple_rnn")(b)])
    x = Flatten(name="flatten")(RepeatVector(2, name="repeat_vector")(x))
    return mr.models.Model([a, b], Dense(1, name="dense")(x), name="functional")


def torch_layers():
    import minirnn as mr
    from minirnn.layers import LSTM

    mr.set_random_seed(2)
    layer = LSTM(3, return_sequences=True, name="lstm")
    layer.build((None, None, 2))
    return [layer]


ARCHITECTURES = {"sequential": sequential_model, "functional": functional_model}


def write_legacy_h5(model, path):
    """`model` (a Sequential) as Keras 2 / tf.keras writes an ``.h5`` file: ``model_config`` and
    ``training_config`` attributes, weights under ``model_weights/<layer>/<layer>/<cell>/<name>:0``."""
    import h5py
    from minirnn.interop import keras_files

    config = keras_files.keras_config(model)
    compile_config = config.pop("compile_config")
    for entry in config["config"]["layers"]:
        if entry["class_name"] == "InputLayer":
            entry["config"]["batch_input_shape"] = entry["config"].pop("batch_shape")
    config["keras_version"], config["backend"] = "2.15.0", "tensorflow"
    names = {"LSTM": ["lstm_cell/kernel", "lstm_cell/recurrent_kernel", "lstm_cell/bias"],
             "Dense": ["kernel", "bias"]}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.15.0", "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps({
            "loss": "mse", "metrics": ["mae"], "loss_weights": None, "weighted_metrics": None,
            "optimizer_config": compile_config["optimizer"]})
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            g = group.create_group(layer.name)
            weight_names = [f"{layer.name}/{n}:0" for n in names[type(layer).__name__]]
            g.attrs["weight_names"] = [n.encode() for n in weight_names]
            for name, value in zip(weight_names, layer.weights):
                g.create_dataset(name, data=value)


def write_seeds(directory):
    """{name: Seed} of one legitimate file of every format minirnn reads, in `directory`."""
    from minirnn.interop import torch_weights

    directory = str(directory)
    sequential, functional = sequential_model(), functional_model()
    out = {}

    def add(name, how, write):
        path = os.path.join(directory, name)
        write(path)
        out[name] = Seed(name, path, how)

    add("sequential.minirnn", "model", sequential.save)
    add("sequential.keras", "model", sequential.save)
    add("legacy.h5", "model", lambda p: write_legacy_h5(sequential, p))
    add("sequential.weights.npz", "weights:sequential", sequential.save_weights)
    add("sequential.weights.h5", "weights:sequential", sequential.save_weights)
    add("functional.minirnn", "model", functional.save)
    add("functional.keras", "model", functional.save)
    add("functional.weights.npz", "weights:functional", functional.save_weights)
    add("lstm.safetensors", "torch", lambda p: torch_weights.save_safetensors(torch_layers(), p))
    return out


# -- reading and writing containers ------------------------------------------------------------------
def zip_members(path_or_bytes):
    """[(name, bytes)] of a ZIP archive, in order (duplicates kept)."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with zipfile.ZipFile(source) as archive:
        return [(info.filename, archive.open(info).read()) for info in archive.infolist()]


def zip_bytes(members, method=zipfile.ZIP_STORED):
    """A ZIP archive of [(name, bytes)] or [(name, RawMember)] (duplicate names written as given)."""
    out = io.BytesIO()
    central = []
    for name, data in members:
        raw = data if isinstance(data, RawMember) else RawMember.of(data, method)
        central.append((name, raw, out.tell()))
        out.write(raw.local_header(name) + raw.data)
    start = out.tell()
    for name, raw, offset in central:
        out.write(raw.central_header(name, offset))
    size = out.tell() - start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), size, start, 0))
    return out.getvalue()


class RawMember:
    """A ZIP member as stored: compressed bytes, method, CRC-32 and sizes (written as is, so a
    member of 1 GiB of zeros costs only its compressed bytes to make)."""

    def __init__(self, data, method, crc, size):
        self.data, self.method, self.crc, self.size = data, method, crc, size

    @classmethod
    def of(cls, data, method=zipfile.ZIP_STORED):
        if method == zipfile.ZIP_DEFLATED:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            stored = c.compress(data) + c.flush()
        elif method == zipfile.ZIP_STORED:
            stored = data
        else:
            raise ValueError(method)
        return cls(stored, method, zlib.crc32(data), len(data))

    def _fields(self):
        return struct.pack("<HHHHHIII", 20, 0, self.method, 0, 0x21, self.crc, len(self.data), self.size)

    def local_header(self, name):
        name = name.encode()
        return struct.pack("<I", 0x04034B50) + self._fields() + struct.pack("<HH", len(name), 0) + name

    def central_header(self, name, offset):
        name = name.encode()
        return (struct.pack("<IH", 0x02014B50, 20) + self._fields()
                + struct.pack("<HHHHHI", len(name), 0, 0, 0, 0, 0o100644 << 16) + struct.pack("<I", offset) + name)


def deflated_zeros(nbytes, prefix=b"", wrapper="raw"):
    """`prefix` then `nbytes` zeros, deflated, made in milliseconds: blocks of 1 MiB of zeros
    each end with a full flush, which resets the compressor, so all but the first and last are
    the same bytes.  ``wrapper="raw"``: (deflate stream, CRC-32 of the data) for a ZIP member;
    ``"zlib"``: the zlib stream (HDF5's gzip filter)."""
    block = 2**20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH) if prefix else b""
    one = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(nbytes, block)
    body = one * full + (c.compress(bytes(rest)) if rest else b"") + c.flush(zlib.Z_FINISH)
    crc, adler = zlib.crc32(prefix), zlib.adler32(prefix)
    zeros = bytes(block)
    for _ in range(full):
        crc, adler = zlib.crc32(zeros, crc), zlib.adler32(zeros, adler)
    crc, adler = zlib.crc32(bytes(rest), crc), zlib.adler32(bytes(rest), adler)
    stream = head + body
    if wrapper == "zlib":
        return b"\x78\xda" + stream + struct.pack(">I", adler)
    return stream, crc


def zero_bomb_member(nbytes, prefix=b""):
    stream, crc = deflated_zeros(nbytes, prefix)
    return RawMember(stream, zipfile.ZIP_DEFLATED, crc, len(prefix) + nbytes)


def edit_h5(data, edit):
    """The bytes of the HDF5 file `data` after ``edit(h5py.File)``."""
    import h5py

    buffer = io.BytesIO(data)
    with h5py.File(buffer, "a") as f:
        edit(f)
    return buffer.getvalue()


def chunk_bomb(f, where, chunk_bytes=2**30):
    """Replace dataset `where` by one of the same shape and values whose only chunk is
    `chunk_bytes` of zeros, gzip'ed (about 1/1000 of that on disk), ``maxshape=None``."""
    ds = f[where]
    shape, dtype, values = ds.shape, ds.dtype, ds[()]
    del f[where]
    rows = max(1, chunk_bytes // (dtype.itemsize * max(1, int(np.prod(shape[1:])))))
    chunks = (rows,) + tuple(shape[1:]) if shape else None
    new = f.create_dataset(where, shape=shape, dtype=dtype, maxshape=(None,) * len(shape), chunks=chunks,
                           compression="gzip")
    if not shape:
        return
    values = np.ascontiguousarray(values).tobytes()    # the chunk's first rows, then zeros (row-major)
    total = rows * int(np.prod(shape[1:])) * dtype.itemsize
    new.id.write_direct_chunk((0,) * len(shape), deflated_zeros(total - len(values), values, "zlib"))


# -- the child process -----------------------------------------------------------------------------
CHILD = r"""
import sys
sys.path.insert(0, {here!r})
import file_cases
file_cases.child_main({seeds!r}, {address_space!r}, {seconds!r})
"""


def _status():
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "VmSize"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def _reset_peak():
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                        # VmHWM := VmRSS (Linux 4.0+)


def _listing(directories):
    return {d: sorted(os.listdir(d)) for d in directories}


def _plugin_paths():
    try:
        from h5py import h5pl
    except ImportError:
        return None
    return [h5pl.get(i) for i in range(h5pl.size())]


class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _inputs(model):
    """Arrays for every input of `model`: batch BATCH, unknown sizes 3, fixed values."""
    rng = np.random.default_rng(5)
    shapes = [t.shape for t in model._input_tensors]
    dtype = model.layers[0].dtype if model.layers else "float32"
    arrays = [rng.standard_normal([BATCH] + [3 if d is None else d for d in s[1:]]).astype(dtype) for s in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


def _load(case, seeds):
    """(model or layers, predictions) of one case, loaded as its ``how`` says."""
    import minirnn as mr
    from minirnn.interop import torch_weights

    how = case["how"]
    if how in ("model", "trusted model"):
        model = mr.models.load_model(case["path"], safe_mode=how == "model")
    elif how.startswith("weights:"):
        model = ARCHITECTURES[how.partition(":")[2]]()
        model.load_weights(case["path"])
    elif how == "torch":
        layers = torch_weights.layers_from_torch(case["path"], mode="LSTM")
        model = mr.models.Sequential([mr.layers.Input(shape=(None, layers[0].cell.input_dim)), *layers])
    else:
        raise ValueError(how)
    if not getattr(model, "_input_tensors", None):         # a Sequential without an input: nothing to feed
        return model, None
    return model, model.predict(_inputs(model), verbose=0)


def _same(a, b):
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def child_main(seeds_dir, address_space, seconds):
    """Load each case of the JSON lines on stdin; print one JSON result line per case."""
    import resource
    import signal
    import warnings

    import h5py  # noqa: F401  (imported before the measurements, as a user's process would)
    import minirnn
    from minirnn.interop import keras_files, torch_weights  # noqa: F401

    # Kernels compile during the warm-up, not on the background thread while a case is measured
    # (that thread imports Numba's own dependencies, which no file asked for).
    minirnn.backend.compile_in_background(False)

    warnings.simplefilter("ignore")
    seeds = {}
    for name in sorted(os.listdir(seeds_dir)):          # warm-up: kernels compiled, modules imported
        how = _how_of(name)
        if how is not None:
            seeds[name] = _load({"path": os.path.join(seeds_dir, name), "how": how}, seeds)[1]
    work = tempfile.mkdtemp(prefix="minirnn-fuzz-cwd-")
    os.chdir(work)
    limit = _status()["VmSize"] + address_space
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    signal.signal(signal.SIGALRM, _alarm)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        watched = sorted({work, os.path.dirname(case["path"]), tempfile.gettempdir()})
        before = (dict(os.environ), _listing(watched), _plugin_paths(), set(sys.modules))
        result = {"id": case["id"], "path": case["path"], "size": os.path.getsize(case["path"]),
                  "json": json_bytes(case["path"])}
        result["limit"] = seconds + SECONDS_PER_JSON_MIB * result["json"] / 2**20
        _reset_peak()
        base = _status()["VmRSS"]
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, result["limit"])
        model = predictions = None
        try:
            model, predictions = _load(case, seeds)
            signal.setitimer(signal.ITIMER_REAL, 0)
            result["status"] = "loaded"
            reference = seeds.get(case.get("seed"))
            if case.get("neutral") and reference is not None:
                result["same_predictions"] = bool(_same(predictions, reference))
        except _Timeout:
            result["status"] = "timeout"
        except minirnn.ModelFileError as e:
            signal.setitimer(signal.ITIMER_REAL, 0)
            result["status"], result["message"] = "ModelFileError", str(e)[:2000]
        except BaseException as e:                       # noqa: B036  (reported, not hidden)
            signal.setitimer(signal.ITIMER_REAL, 0)
            result["status"], result["message"] = type(e).__name__, str(e)[:2000]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        result["seconds"] = time.perf_counter() - start
        result["growth"] = _status()["VmHWM"] - base
        del model, predictions                       # freed before the next case is measured
        environ, listing, plugins, modules = before
        effects = []
        if dict(os.environ) != environ:
            effects.append(f"environment changed: {sorted(set(os.environ.items()) ^ set(environ.items()))[:5]}")
        if _listing(watched) != listing:
            effects.append("files written: " + repr({d: sorted(set(v) ^ set(listing[d]))
                                                     for d, v in _listing(watched).items() if v != listing[d]}))
        if _plugin_paths() != plugins:
            effects.append(f"HDF5 plugin paths changed: {plugins} -> {_plugin_paths()}")
        foreign = sorted(m for m in set(sys.modules) - modules if not _allowed_module(m))
        if foreign:
            effects.append(f"modules imported: {foreign[:10]}")
        result["side_effects"] = effects
        print(json.dumps(result), flush=True)


def _allowed_module(name):
    top = name.partition(".")[0]
    return top in sys.stdlib_module_names or top in ("minirnn", "numpy", "h5py", "safetensors", "numba")


def _how_of(name):
    if name.endswith((".minirnn", ".keras")) or name == "legacy.h5":
        return "model"
    if name.endswith((".weights.npz", ".weights.h5")):
        return f"weights:{name.partition('.')[0]}"
    if name.endswith(".safetensors"):
        return "torch"
    return None


def run_cases(cases, seeds_dir, address_space=ADDRESS_SPACE, seconds=SECONDS, log=None, env=None):
    """{case id: result} of every case, loaded in child processes (a new one after a crash or a
    timeout the child could not report itself); `env`: variables added to the children's."""
    results, pending = {}, list(cases)
    private = tempfile.mkdtemp(prefix="minirnn-cases-tmp-")     # the children's temporary directory
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": private, **(env or {})}
    script = CHILD.format(here=HERE, seeds=os.path.abspath(seeds_dir), address_space=address_space, seconds=seconds)
    while pending:
        child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
        try:
            ready = child.stdout.readline()
            if not ready.strip().startswith('{"ready"'):
                child.kill()
                raise RuntimeError(f"the child did not start: {ready}{child.stderr.read()[-3000:]}")
            while pending:
                case = pending[0]
                child.stdin.write(json.dumps(case) + "\n")
                child.stdin.flush()
                line = _readline(child, 3 * (seconds + SECONDS_PER_JSON_MIB * 16) + 60)
                if line is None:
                    child.kill()
                    child.wait()
                    results[case["id"]] = {"id": case["id"], "path": case["path"], "status": "crashed",
                                           "message": child.stderr.read()[-2000:], "side_effects": [],
                                           "growth": 0, "seconds": 0, "size": os.path.getsize(case["path"]),
                                           "json": 0, "limit": seconds}
                    pending.pop(0)
                    break
                results[case["id"]] = json.loads(line)
                pending.pop(0)
                if log is not None:
                    log(results[case["id"]])
        finally:
            if child.poll() is None:
                child.stdin.close()
                child.wait(timeout=60)
    shutil.rmtree(private, ignore_errors=True)
    return results


def _readline(child, timeout):
    """A line from the child's stdout, or None if it died or said nothing for `timeout` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return None
    line = child.stdout.readline()
    return line or None


def problems(result, expect=None):
    """What is wrong with one result: anything but a load or a ModelFileError naming the file;
    memory growth past :func:`allowance`; more than its time limit (SECONDS, plus SECONDS_PER_JSON_MIB
    per MiB of JSON); a side effect; a neutral forgery
    that loads with other predictions.  `expect`: a regex the ModelFileError must match
    (``"loads"`` when the file must load)."""
    import re

    out = []
    status = result["status"]
    if status == "ModelFileError":
        message = result["message"]
        if result["path"] not in message:
            out.append(f"the error does not name the file: {message[:300]}")
        if "MemoryError" in message:
            out.append(f"ran out of memory (the limit of this harness), reported as: {message[:300]}")
        if expect == "loads":
            out.append(f"refused a file that should load: {message[:500]}")
        elif expect is not None and not re.search(expect, message):
            out.append(f"the error does not match {expect!r}: {message[:500]}")
    elif status == "loaded":
        if expect not in (None, "loads"):
            out.append(f"loaded, expected a ModelFileError matching {expect!r}")
        if result.get("same_predictions") is False:
            out.append("loaded with predictions other than the original's")
    else:
        out.append(f"{status}: {result.get('message', '')[:500]}")
    allowed = allowance(result["size"], result["json"])
    if result["growth"] > allowed:
        out.append(f"memory grew by {result['growth'] / 2**20:,.0f} MiB, more than the {allowed / 2**20:,.0f} MiB "
                   f"allowed for a file of {result['size']:,} bytes ({result['json']:,} of JSON)")
    if result["seconds"] > result["limit"]:
        out.append(f"took {result['seconds']:.1f} s, more than {result['limit']:.0f} s")
    out.extend(result["side_effects"])
    return out
