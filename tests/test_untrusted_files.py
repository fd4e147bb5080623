"""Model files as an attacker writes them: nothing runs, nothing is written, memory stays bounded,
and every bad file raises ModelFileError naming the file."""
import io
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minirnn as mr
from minirnn import ModelFileError
from minirnn.layers import LSTM, Dense, Input, Lambda
from minirnn.models import Sequential, load_model

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def x_data():
    return np.random.default_rng(0).standard_normal((3, 4, 2)).astype("float32")


def save_legit(directory):
    """A legitimate model file (a Lambda, an LSTM, a compiled metric) to forge others from."""
    mr.set_random_seed(0)
    model = Sequential([Input(shape=(None, 2)), Lambda(np.tanh), LSTM(3), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    path = directory / "legit.minirnn"
    model.save(path)
    return model, path


@pytest.fixture
def saved(tmp_path):
    return save_legit(tmp_path)


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory):
    return save_legit(tmp_path_factory.mktemp("legit"))


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path, files, compress_type=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data, compress_type=compress_type)
    return path


def forge(path, edit, name="hostile.minirnn"):
    """A copy of `path` whose config went through ``edit(config)``."""
    files = members(path)
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config)
    return write_zip(path.parent / name, files)


def lambda_config(config, k=1):
    return config["model"]["config"]["layers"][k]["config"]


def npz_with(path, change):
    """The model file's weights archive with ``change(dict of member bytes)`` applied."""
    files = members(path)
    inner = members_of_bytes(files["model.weights.npz"])
    change(inner)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in inner.items():
            if callable(data):
                data(archive, name)
            else:
                archive.writestr(name, data)
    files["model.weights.npz"] = buffer.getvalue()
    return files


def members_of_bytes(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


# -- named callables ---------------------------------------------------------------
CODE_PATHS = ["minirnn.backend:os.system", "numpy._core.numeric:builtins.exec",
              "minirnn.saving:importlib.import_module", "minirnn.backend:os.environ.update",
              "os:system", "builtins:exec", "numpy:ndarray.tofile", "numpy:full_like",
              "numpy.lib._format_impl:pickle.loads", "pickle:loads", "numpy>full_like",
              "numpy>ndarray.tofile", "minirnn>os.system", "Custom>system"]


@pytest.mark.parametrize("reference", CODE_PATHS)
def test_a_lambda_cannot_name_a_callable_outside_the_registry(saved, tmp_path, monkeypatch, reference):
    _, path = saved
    marker = tmp_path.parent / f"pwned-{os.getpid()}"
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a))   # were it reached, we would know
    monkeypatch.delenv("MINIRNN_PWNED", raising=False)
    environment = dict(os.environ)
    hostile = forge(path, lambda c: lambda_config(c).update(
        function=reference, arguments={"file": str(marker), "sep": ",", "format": "pwned",
                                       "MINIRNN_PWNED": "1"}))
    with pytest.raises(ModelFileError, match=r"hostile\.minirnn.*layer 'lambda\w*' \(Lambda\) field 'function'.*"
                                             r"not a registered function.*register_serializable"):
        load_model(hostile)
    assert not calls and not marker.exists() and dict(os.environ) == environment


def test_the_tofile_and_pickle_chains_fail_before_anything_happens(saved, tmp_path):
    """ndarray.tofile writing an attacker's file; full_like of pickle bytes into pickle.loads."""
    _, path = saved
    outside = tmp_path.parent / f"written-by-a-model-file-{os.getpid()}.pth"
    payload = pickle.dumps(outside)                     # any pickle: its loading is the exploit

    def chain(config):
        layers = config["model"]["config"]["layers"]
        tofile = json.loads(json.dumps(layers[1]))
        tofile["config"].update(name="tofile", function="numpy:ndarray.tofile",
                                arguments={"file": str(outside), "sep": ",", "format": "import os"})
        fill = json.loads(json.dumps(layers[1]))
        fill["config"].update(name="fill", function="numpy:full_like",
                              arguments={"fill_value": payload.decode("latin-1"), "dtype": "S200"})
        loads = json.loads(json.dumps(layers[1]))
        loads["config"].update(name="loads", function="numpy.lib._format_impl:pickle.loads")
        layers[1:2] = [tofile, fill, loads]

    with pytest.raises(ModelFileError, match=r"layer 'tofile' \(Lambda\) field 'function'"):
        load_model(forge(path, chain))
    assert not outside.exists()


def test_lambda_arguments_stay_data(saved):
    _, path = saved
    with pytest.raises(ModelFileError, match=r"layer 'lambda\w*' \(Lambda\) field 'arguments'"):
        load_model(forge(path, lambda c: lambda_config(c).update(arguments=["os.system"])))
    # A registered function with data arguments is fine, and the data is passed as given.
    loaded = load_model(forge(path, lambda c: lambda_config(c).update(function="numpy>clip",
                                                                      arguments={"a_min": -0.5, "a_max": 0.5})))
    assert loaded.layers[0].function is np.clip and loaded.layers[0].arguments == {"a_min": -0.5, "a_max": 0.5}
    x = x_data()
    assert np.array_equal(loaded.layers[0](x), np.clip(x, -0.5, 0.5))


def test_a_metric_cannot_be_bound_to_os_system(saved, monkeypatch):
    _, path = saved
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a))
    hostile = forge(path, lambda c: c["compile_config"]["metrics"][0].update(function="minirnn.backend:os.system"))
    with pytest.raises(ModelFileError, match=r"compile_config metric 'mae'.*not a registered function"):
        load_model(hostile)
    assert not calls
    assert not load_model(hostile, compile=False).compiled     # the architecture alone still loads


def test_optimizer_and_loss_classes_come_from_the_registry(saved):
    _, path = saved
    for field, ref in (("optimizer", "os:system"), ("loss", "minirnn.saving:importlib.import_module")):
        hostile = forge(path, lambda c: c["compile_config"][field].update(class_name="X", ref=ref))
        with pytest.raises(ModelFileError, match=rf"compile_config field '{field}': unknown {field} class 'X'"):
            load_model(hostile)
        # A registered object of another kind is refused too.
        hostile = forge(path, lambda c: c["compile_config"][field].update(class_name="X",
                                                                          registered_name="numpy>tanh"))
        with pytest.raises(ModelFileError, match=rf"unknown {field} class 'X'"):
            load_model(hostile)


def test_a_python_function_in_a_file_runs_only_with_safe_mode_off(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "ran"
    source = f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]"
    hostile = forge(path, lambda c: lambda_config(c).update(function={
        "class_name": "__python_function__",
        "config": {"name": "<lambda>", "module": "not_a_module", "source": source}}))
    with pytest.raises(ModelFileError, match="saved as source code.*safe_mode=True refuses.*custom_objects"):
        load_model(hostile)
    assert not marker.exists()
    assert load_model(hostile, custom_objects={"<lambda>": np.tanh}).layers[0].function is np.tanh
    load_model(hostile, safe_mode=False)                 # the explicit "I trust this file"
    assert marker.exists()


# -- bounded reads -----------------------------------------------------------------
def run_child(code):
    """(peak resident MB, seconds, result) of `code` run in a fresh Python."""
    script = textwrap.dedent("""
        import resource, sys, time
        import minirnn
        start = time.perf_counter()
        try:
        {body}
            result = "loaded"
        except minirnn.ModelFileError as e:
            result = "ModelFileError: " + str(e)[:300]
        except BaseException as e:
            result = "OTHER " + type(e).__name__ + ": " + str(e)[:300]
        seconds = time.perf_counter() - start
        # The peak of this process's own memory: ru_maxrss would also count the parent's, as it
        # was when this process was forked from it (Linux keeps it across exec).
        with open("/proc/self/status") as f:
            peak = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")]
        print((peak or [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss])[0] / 1024, seconds)
        print(result)
    """).format(body=textwrap.indent(textwrap.dedent(code), " " * 4))
    env = {**os.environ, "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    first, result = done.stdout.strip().splitlines()[-2:]
    megabytes, seconds = map(float, first.split())
    return megabytes, seconds, result


def fast_deflate(name):
    """A ZipInfo for a deflated member compressed at level 1 (bombs of zeros build fast)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    setattr(info, "compress_level" if hasattr(zipfile.ZipInfo, "compress_level") else "_compresslevel", 1)
    return info


def bomb_member(nbytes, prefix=b""):
    """A writer of a deflated member: `prefix`, then `nbytes` zeros (about 1/200 of that on disk)."""
    def write(archive, name):
        with archive.open(fast_deflate(name), "w", force_zip64=True) as f:
            f.write(prefix)
            chunk = bytes(2**22)
            for _ in range(nbytes // len(chunk)):
                f.write(chunk)
    return write


def hostile_files(path):
    """{name: (file, what the error must say)} of files built to exhaust memory or time."""
    out = {}
    files = npz_with(path, lambda inner: inner.update({"bomb.npy": bomb_member(384 * 2**20)}))
    out["unused npz member: 384 MB of zeros"] = (write_zip(path.parent / "bomb1.minirnn", files), None)

    header = npy_bytes(np.zeros((2, 12), "float32"))[:128]
    files = npz_with(path, lambda inner: inner.update({"layers/1/0.npy": bomb_member(384 * 2**20, header)}))
    out["used member with 384 MB after its data"] = (write_zip(path.parent / "bomb2.minirnn", files),
                                                     "longer than its header")

    big = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), "float32"))
    big["shape"] = (100_000, 200_000)                   # 80 GB
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, big)
    files = npz_with(path, lambda inner: inner.update({"layers/1/0.npy": buffer.getvalue() + bytes(64)}))
    out["an 80 GB shape claim"] = (write_zip(path.parent / "claim.minirnn", files), "shape")

    files = members(path)
    config = json.loads(files["config.json"])
    text = json.dumps(config)
    with zipfile.ZipFile(path.parent / "spaces.minirnn", "w") as archive:
        with archive.open(fast_deflate("config.json"), "w", force_zip64=True) as f:
            f.write(text[:-1].encode())
            chunk = b" " * 2**22
            for _ in range(128):                          # 512 MB of whitespace, ~2.5 MB on disk
                f.write(chunk)
            f.write(b"}")
        archive.writestr("model.weights.npz", files["model.weights.npz"])
    out["512 MB of whitespace in config.json"] = (path.parent / "spaces.minirnn", "more than")

    config["model"]["config"]["layers"][2]["config"]["units"] = 40000
    files["config.json"] = json.dumps(config)
    out["units=40000"] = (write_zip(path.parent / "units.minirnn", files), "layer 'lstm\\w*' \\(LSTM\\).*MiB")

    config = json.loads(members(path)["config.json"])
    config["model"]["config"]["layers"][0]["config"]["shape"] = [None, 20000, 20000]   # probed by the Lambda
    for entry in config["model"]["config"]["layers"][1:]:
        entry.pop("build_config", None)
    files["config.json"] = json.dumps(config)
    out["an Input of 400 M elements per sample"] = (write_zip(path.parent / "input.minirnn", files),
                                                     r"layer 'input_layer\w*' \(InputLayer\) fields 'batch_size' and 'shape'")
    return out


def test_bombs_cost_little_memory_and_time(saved):
    _, path = saved
    for what, (hostile, message) in hostile_files(path).items():
        code = f"minirnn.models.load_model({str(hostile)!r})"
        megabytes, seconds, result = run_child(code)
        assert megabytes < 300 and seconds < 10, (what, megabytes, seconds, result)
        if message is None:                              # unused members are never read: it loads
            assert result == "loaded", (what, result)
        else:
            assert result.startswith("ModelFileError:") and str(hostile) in result, (what, result)
            assert re.search(message, result), (what, result)


def test_a_bzip2_member_is_refused_unread(saved):
    _, path = saved
    hostile = write_zip(path.parent / "bz2.minirnn", members(path), zipfile.ZIP_BZIP2)
    with pytest.raises(ModelFileError, match=r"bz2\.minirnn.*member 'config\.json'.*compression method"):
        load_model(hostile)


# -- every bad file is a ModelFileError ------------------------------------------------
def corrupt_cases(path):
    files = members(path)
    raw = path.read_bytes()
    config = json.loads(files["config.json"])
    deep = "[" * 100_000 + "]" * 100_000

    def with_config(text):
        return write_zip(path.parent / "c.minirnn", {**files, "config.json": text})

    def config_edit(edit):
        return forge(path, edit, "e.minirnn")

    def npz_edit(change):
        return write_zip(path.parent / "n.minirnn", npz_with(path, change))

    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF                        # inside the weights: the CRC check fails
    yield "truncated zip", _write(path.parent / "t.minirnn", raw[: len(raw) // 2]), "damaged"
    yield "flipped byte", _write(path.parent / "f.minirnn", bytes(flipped)), "damaged"
    yield "not a zip", _write(path.parent / "x.minirnn", b"hello"), "damaged"
    yield "non-UTF-8 config", with_config(b"\xff\xfe{}"), "not UTF-8"
    yield "invalid JSON", with_config(b"{'model': 1}"), "not valid JSON"
    yield "NaN in JSON", with_config(json.dumps({**config, "x": float("nan")}).encode()), "not valid JSON"
    yield "nesting too deep", with_config(deep.encode()), "nested deeper"
    yield "missing member", write_zip(path.parent / "m.minirnn", {"config.json": files["config.json"]}), \
        "member 'model.weights.npz': missing"
    yield "missing array", npz_edit(lambda inner: inner.pop("layers/1/1.npy")), "array 'layers/1/1': missing"
    yield "wrong shape", npz_edit(lambda inner: inner.update({"layers/1/0.npy": npy_bytes(np.zeros((3, 12), "f4"))})), \
        r"array 'layers/1/0': an array of shape \(3, 12\), expected \(2, 12\)"
    yield "strings as weights", npz_edit(lambda inner: inner.update(
        {"layers/1/0.npy": npy_bytes(np.full((2, 12), "1.0"))})), "only numeric arrays"
    yield "object weights", npz_edit(lambda inner: inner.update({"layers/1/0.npy": _object_npy()})), \
        "only numeric arrays"
    yield "wrong count", config_edit(lambda c: c["model"]["config"]["layers"][3]["config"].update(use_bias=False)), \
        "expects 1 weight arrays"
    yield "layer dtype", config_edit(lambda c: lambda_config(c, 2).update(dtype="object")), \
        "field 'dtype': expected one of"
    yield "unknown class", config_edit(lambda c: c["model"]["config"]["layers"][2].update(
        class_name="Evil", registered_name="Custom>Evil")), r"layer 'lstm\w*' \(Evil\): unknown layer class"
    yield "unknown keyword", config_edit(lambda c: lambda_config(c, 2).update(evil=1)), \
        r"layer 'lstm\w*' \(LSTM\).*evil"
    yield "bad build shape", config_edit(lambda c: c["model"]["config"]["layers"][2].update(
        build_config={"input_shape": "x"})), "build_config"
    yield "format", config_edit(lambda c: c.update(format="other")), "field 'format'"
    yield "model not a dict", config_edit(lambda c: c.update(model=[1])), "field 'model'"
    yield "manifest not JSON", npz_edit(lambda inner: inner.update(
        {"__manifest__.npy": npy_bytes(np.frombuffer(b"{", np.uint8))})), "array '__manifest__'"
    yield "manifest layers", npz_edit(lambda inner: inner.update({"__manifest__.npy": npy_bytes(np.frombuffer(
        json.dumps({"format": "minirnn.weights", "format_version": 1, "layers": 5}).encode(), np.uint8))})), \
        "manifest field 'layers'"
    yield "slots iterations", npz_edit(lambda inner: inner.update({"__manifest__.npy": _manifest_with(
        inner, lambda m: m["optimizer"].update(iterations="many"))})), "iterations"


def _write(path, data):
    path.write_bytes(data)
    return path


def _object_npy():
    """A .npy whose header says dtype object (a pickle would follow)."""
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 12), "f4"))
    header["descr"] = "|O"
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + pickle.dumps([0] * 24)


def _manifest_with(inner, edit):
    manifest = json.loads(np.load(io.BytesIO(inner["__manifest__.npy"])).tobytes())
    edit(manifest)
    return npy_bytes(np.frombuffer(json.dumps(manifest).encode(), np.uint8))


def test_every_bad_file_raises_model_file_error_naming_the_file(saved):
    _, path = saved
    for what, bad, message in corrupt_cases(path):
        with pytest.raises(ModelFileError) as error:
            load_model(bad)
        assert str(bad) in str(error.value), what
        assert re.search(message, str(error.value)), (what, str(error.value))


def test_load_weights_reads_bad_weights_files_safely(saved, tmp_path):
    model, path = saved
    weights = tmp_path / "w.weights.npz"
    model.save_weights(weights)
    inner = members(weights)
    inner["layers/1/0.npy"] = npy_bytes(np.full((2, 12), "1.0"))
    bad = write_zip(tmp_path / "bad.weights.npz", inner)
    with pytest.raises(ModelFileError, match=r"bad\.weights\.npz', array 'layers/1/0'.*only numeric"):
        model.load_weights(bad)
    with pytest.raises(ModelFileError, match=r"damaged"):
        model.load_weights(_write(tmp_path / "t.weights.npz", weights.read_bytes()[:100]))


# -- random corruption -------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    mr.set_random_seed(1)
    model = Sequential([Input(shape=(None, 2)), LSTM(2), Dense(1)])
    path = tmp_path_factory.mktemp("corrupt") / "m.minirnn"
    model.save(path)
    return path.read_bytes(), model.predict(x_data())


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_a_corrupted_file_loads_identically_or_raises_model_file_error(small_file, tmp_path_factory, data):
    raw, expected = small_file
    damaged = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(raw) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[:data.draw(st.integers(0, len(damaged)))]
    path = tmp_path_factory.mktemp("c") / "d.minirnn"
    path.write_bytes(bytes(damaged))
    try:
        model = load_model(path)
    except ModelFileError as e:
        assert str(path) in str(e)
        return
    assert np.array_equal(model.predict(x_data()), expected)


def leaves(value, path=()):
    """Every (path, value) of a JSON document, containers included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from leaves(item, path + (key,))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                           | st.text(max_size=5) | st.sampled_from(["float64", "numpy>tanh", "minirnn>LSTM"]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=3), max_leaves=5)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_config_field_replaced_loads_or_raises_model_file_error(saved_once, data):
    _, path = saved_once
    config = json.loads(members(path)["config.json"])
    where, _ = data.draw(st.sampled_from(list(leaves(config))[1:]))
    replacement = data.draw(JSON_VALUES)

    def edit(c):
        target = c
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = replacement

    try:
        load_model(forge(path, edit, "field.minirnn"))
    except ModelFileError as e:
        assert "field.minirnn" in str(e)
