"""Every file format under the same bounds: each hostile file of the attack round on .keras, .h5,
.weights.h5, .minirnn, .weights.npz and .safetensors files, loaded in a child process with an
address-space limit and a time limit, must raise ModelFileError naming the file and the member or
field (or, where the file is legitimate, load), within the memory allowance and time of
tests/file_cases.py, with no side effect.  All files load in one batch of child processes."""
import io
import json
import shutil
import struct
import subprocess
import zipfile

import numpy as np
import pytest

import file_cases as fc

H5 = "model.weights.h5"


# -- forging ------------------------------------------------------------------------------------------
def members(path):
    return fc.zip_members(path)


def rezip(seed, target, replace=None, extra=()):
    """`seed`'s members with ``replace[name]`` swapped in (bytes, RawMember or a function of
    the old bytes), then `extra` members appended."""
    replace = replace or {}
    out = []
    for name, data in members(seed):
        new = replace.get(name, data)
        out.append((name, new(data) if callable(new) else new))
    with open(target, "wb") as f:
        f.write(fc.zip_bytes(out + list(extra)))
    return target


def config_of(path, name="config.json"):
    return json.loads(dict(members(path))[name])


def with_config(seed, target, edit, name="config.json"):
    config = config_of(seed, name)
    config = edit(config) or config
    return rezip(seed, target, {name: json.dumps(config).encode()})


def with_weights(seed, target, edit):
    """A .keras file (or a bare HDF5 file) whose weights went through ``edit(h5py.File)``."""
    if str(seed).endswith(".keras"):
        return rezip(seed, target, {H5: lambda data: fc.edit_h5(data, edit)})
    with open(seed, "rb") as f:
        data = f.read()
    with open(target, "wb") as f:
        f.write(fc.edit_h5(data, edit))
    return target


def keras_layers(config):
    return config["config"]["layers"]


def minirnn_layers(config):
    return config["model"]["config"]["layers"]


def dropout_chain(n, keras, reverse=True, calls_of_one=False):
    """A functional config: an Input then `n` Dropout layers in a chain (listed last first when
    `reverse`), or one Dropout called `n` times in a chain (``calls_of_one``)."""
    def ref(name, k=0):
        if keras:
            return {"args": [{"class_name": "__keras_tensor__",
                              "config": {"shape": [None, 2], "dtype": "float32", "keras_history": [name, k, 0]}}],
                    "kwargs": {}}
        return [[name, k, 0]]

    if keras:
        first = {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 2], "name": "x"},
                 "inbound_nodes": []}
    else:
        first = {"class_name": "InputLayer", "name": "x", "config": {"shape": [2], "name": "x"},
                 "inbound_nodes": []}
    if calls_of_one:
        calls = [ref("x")] + [ref("d", k) for k in range(n - 1)]
        layers = [first, {"class_name": "Dropout", "name": "d", "config": {"rate": 0.0, "name": "d"},
                          "inbound_nodes": calls}]
        output = ["d", n - 1, 0]
    else:
        layers = [first] + [{"class_name": "Dropout", "name": f"d{i}", "config": {"rate": 0.0, "name": f"d{i}"},
                             "inbound_nodes": [ref(f"d{i - 1}" if i else "x")]} for i in range(n)]
        if reverse:
            layers = [layers[0]] + layers[:0:-1]
        output = [f"d{n - 1}", 0, 0]
    body = {"name": "chain", "layers": layers, "input_layers": [["x", 0, 0]], "output_layers": [output]}
    if keras:
        return {"class_name": "Functional", "config": body}
    return {"format": "minirnn.model", "format_version": 1, "model": {"class_name": "Model", "config": body}}


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def empty_weights_h5():
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")
    return buffer.getvalue()


def empty_weights_npz(layers):
    """The weights of a model without weights: its layers [(name, class name)], in order."""
    entries = [{"name": name, "class_name": cls, "input_shape": None, "shapes": [], "dtypes": []}
               for name, cls in layers]
    manifest = json.dumps({"format": "minirnn.weights", "format_version": 1, "input_shape": [None, 2],
                           "layers": entries, "optimizer": None}).encode()
    buffer = io.BytesIO()
    np.savez(buffer, __manifest__=np.frombuffer(manifest, np.uint8))
    return buffer.getvalue()


def write_graph(target, config):
    """A .keras or .minirnn file of a weightless graph config."""
    text = json.dumps(config, separators=(",", ":")).encode()
    if str(target).endswith(".keras"):
        files = [("config.json", fc.RawMember.of(text, zipfile.ZIP_DEFLATED)), (H5, empty_weights_h5())]
    else:
        entries = config["model"]["config"]["layers"]             # model.layers of a chain: in order
        layers = sorted(((e["name"], e["class_name"]) for e in entries),
                        key=lambda item: -1 if item[0] == "x" else int(item[0][1:] or 0))
        files = [("config.json", fc.RawMember.of(text, zipfile.ZIP_DEFLATED)),
                 ("model.weights.npz", empty_weights_npz(layers))]
    with open(target, "wb") as f:
        f.write(fc.zip_bytes(files))
    return target


def safetensors_file(target, tensors, header_edit=None, raw_header=None):
    """A .safetensors file: 8-byte little-endian header length, JSON header, data."""
    header, data, offset = {}, b"", 0
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(payload)]}
        data += payload
        offset += len(payload)
    if header_edit:
        header_edit(header)
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(target, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return target


def lstm_tensors(dtype="F32", cast=np.float32):
    rng = np.random.default_rng(0)
    shapes = {"weight_ih_l0": (12, 2), "weight_hh_l0": (12, 3), "bias_ih_l0": (12,), "bias_hh_l0": (12,)}
    return {k: (dtype, list(s), rng.standard_normal(s).astype(cast).tobytes()) for k, s in shapes.items()}


def bf16(shape):
    values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()


# -- the hostile files ----------------------------------------------------------------------------------
BOMB = 256 * 2**20    # bytes a bomb inflates to: twice the harness's allowance, 128 times the budget
HOSTILE = {}          # id -> (build(seeds, tmp) -> path, expected, how, neutral)


def hostile(id, expect, how="model", neutral=False):
    """Register the builder of one hostile file; `expect` is a regex the ModelFileError must
    match, None for any ModelFileError or a load, "loads" for a file that must load."""
    def register(build):
        assert id not in HOSTILE, id
        HOSTILE[id] = (build, expect, how, neutral)
        return build
    return register


def seed(seeds, name):
    return seeds[name].path


# Memory: a member decompressing to 1 GiB, budgeted by its compressed size.
def member_bomb(seeds, tmp):
    target = tmp / "member_bomb.keras"
    if not target.exists():
        h5 = dict(members(seed(seeds, "sequential.keras")))[H5]
        rezip(seed(seeds, "sequential.keras"), target, {H5: fc.zero_bomb_member(BOMB, h5)})
    return target


hostile("keras weights member: valid HDF5 then 256 MiB of zeros", r"member 'model\.weights\.h5'.*more than")(
    member_bomb)
hostile("the same through load_weights", r"member 'model\.weights\.h5'.*more than", how="weights:sequential")(
    member_bomb)

# HDF5 chunks: the right shape, one 256 MiB gzip chunk.
for _name, _where in (("legacy.h5", "model_weights/lstm/lstm/lstm_cell/recurrent_kernel:0"),
                      ("sequential.keras", "layers/lstm/cell/vars/1"),
                      ("sequential.weights.h5", "layers/lstm/cell/vars/1")):
    @hostile(f"HDF5 chunk bomb in {_name}", rf"'{_where}'.*chunk", how=fc._how_of(_name))
    def _(seeds, tmp, name=_name, where=_where):
        return with_weights(seed(seeds, name), tmp / f"chunk_bomb_{name}", lambda f: fc.chunk_bomb(f, where, BOMB))


@hostile("registered_name minirnn>Sequential: Input 20000 -> Dense 20000", r"huge.*MiB")
def _(seeds, tmp):
    def edit(config):
        inner = {"class_name": "Sequential", "registered_name": "minirnn>Sequential", "config": {
            "name": "inner", "layers": [
                {"class_name": "InputLayer", "config": {"shape": [20000], "name": "inner_input"}},
                {"class_name": "Dense", "config": {"units": 20000, "name": "huge"}}]}}
        keras_layers(config).insert(1, inner)
    return with_config(seed(seeds, "sequential.keras"), tmp / "registered.keras", edit)


@hostile("Keras Input batch_shape [null, 8000, 10000] then a Lambda", r"input_layer.*8000")
def _(seeds, tmp):
    def edit(config):
        layers = keras_layers(config)
        layers[0]["config"]["batch_shape"] = [None, 8000, 10000]
        layers[1:1] = [{"class_name": "Lambda", "config": {"name": "probe", "function": {
            "class_name": "function", "config": "tanh", "registered_name": "numpy>tanh"}}}]
    return with_config(seed(seeds, "sequential.keras"), tmp / "input_lambda.keras", edit)


def repeat_model(tmp, suffix):
    """A legitimate file with a RepeatVector(2)."""
    import minirnn as mr
    from minirnn.layers import LSTM, Dense, GlobalAveragePooling1D, Input, RepeatVector

    target = tmp / f"repeat{suffix}"
    if not target.exists():
        mr.set_random_seed(0)
        mr.models.Sequential([Input(shape=(None, 2), name="input_layer"), LSTM(3, name="lstm"),
                              RepeatVector(2, name="repeat_vector"), GlobalAveragePooling1D(name="pooling"),
                              Dense(1, name="dense")], name="sequential").save(target)
    return target


for _suffix in (".minirnn", ".keras"):
    hostile(f"RepeatVector(2) {_suffix} (legitimate)", "loads")(
        lambda seeds, tmp, suffix=_suffix: repeat_model(tmp, suffix))

    @hostile(f"RepeatVector(10**8) {_suffix}", r"repeat_vector.*RepeatVector")
    def _(seeds, tmp, suffix=_suffix):
        def edit(config):
            layers = keras_layers(config) if suffix == ".keras" else minirnn_layers(config)
            layers[2]["config"].update(n=10**8)
            for entry in layers[3:]:
                entry.pop("build_config", None)
        return with_config(repeat_model(tmp, suffix), tmp / f"repeat_huge{suffix}", edit)

# Graph size and shape, each config under the 16 MiB limit: 20k layers listed last first; one
# layer called 900k times (120k in Keras's longer form); one layer called 50k times, each call on
# the previous one's output (a chain 50 times deeper than Python's recursion limit).  Refused by
# the budget; loaded in linear time, without recursion, when trusted (safe_mode=False).
GRAPHS = {".minirnn": {"reverse": 20_000, "calls": 900_000, "chain": 50_000},
          ".keras": {"reverse": 20_000, "calls": 120_000, "chain": 50_000}}
for _suffix, _sizes in GRAPHS.items():
    def _graph(kind, suffix=_suffix):
        def build(seeds, tmp):
            target = tmp / f"{kind}{suffix}"
            if not target.exists():
                keras, n = suffix == ".keras", GRAPHS[suffix][kind]
                write_graph(target, dropout_chain(n, keras, reverse=kind == "reverse", calls_of_one=kind != "reverse"))
            return target
        return build
    _n = {k: f"{v:,}" for k, v in _sizes.items()}
    hostile(f"{_n['reverse']} layers in reverse order {_suffix}", r"budget|MiB")(_graph("reverse"))
    hostile(f"{_n['reverse']} layers in reverse order {_suffix}, safe_mode=False", "loads", how="trusted model")(
        _graph("reverse"))
    hostile(f"one layer called {_n['calls']} times {_suffix}", r"budget|MiB")(_graph("calls"))
    hostile(f"a chain of {_n['chain']} calls {_suffix}", r"budget|MiB")(_graph("chain"))
    hostile(f"a chain of {_n['chain']} calls {_suffix}, safe_mode=False", "loads", how="trusted model")(
        _graph("chain"))


# An input of another rank than the layer was built for (found by tools/fuzz_files.py): refused at
# load, as a call on arrays would be, not at predict.
hostile("an Input of rank 4 feeding an LSTM built for rank 3, .minirnn", "rank 3")(lambda seeds, tmp: with_config(
    seed(seeds, "sequential.minirnn"), tmp / "rank4.minirnn",
    lambda c: minirnn_layers(c)[0]["config"].update(shape=[None, 2, 2])))
hostile("an Input of rank 4 feeding a GRU built for rank 3, .keras", r"rank 3|\(batch, time, features\)")(
    lambda seeds, tmp: with_config(seed(seeds, "functional.keras"), tmp / "rank4.keras",
    lambda c: keras_layers(c)[0]["config"].update(batch_shape=[None, 4, 2, 2])))


# Silent acceptance.
@hostile("two config.json members in a .keras file", r"member 'config\.json'.*more than once")
def _(seeds, tmp):
    path = seed(seeds, "sequential.keras")
    other = config_of(path)
    keras_layers(other)[1]["config"]["units"] = 4
    return rezip(path, tmp / "two_configs.keras", extra=[("config.json", json.dumps(other).encode())])


@hostile("two weight members in a .minirnn file", r"member 'model\.weights\.npz'.*more than once")
def _(seeds, tmp):
    path = seed(seeds, "sequential.minirnn")
    inner = fc.zip_members(dict(members(path))["model.weights.npz"])
    zeros = [(n, d if n == "__manifest__.npy" else npy_bytes(np.zeros_like(np.load(io.BytesIO(d))))) for n, d in inner]
    return rezip(path, tmp / "two_weights.minirnn", extra=[("model.weights.npz", fc.zip_bytes(zeros))])


@hostile("an array twice in the weights archive", r"layers/0/0.*more than once")
def _(seeds, tmp):
    path = seed(seeds, "sequential.minirnn")
    inner = fc.zip_members(dict(members(path))["model.weights.npz"])
    return rezip(path, tmp / "two_arrays.minirnn",
                 {"model.weights.npz": fc.zip_bytes(inner + [("layers/0/0.npy", dict(inner)["layers/0/0.npy"])])})


for _id, _shape in (("batch_shape [null, -5]", [None, -5]), ("batch_shape [null, null, 0]", [None, None, 0])):
    hostile(_id, "batch_shape")(lambda seeds, tmp, shape=_shape: with_config(
        seed(seeds, "sequential.keras"), tmp / f"shape{len(shape)}.keras",
        lambda c: keras_layers(c)[0]["config"].update(batch_shape=shape)))
for _id, _states in (("an odd inbound_states", [5]), ("inbound_states for calls that are not there", [0, 1]),
                     ("inbound_states a string", "1")):
    hostile(_id, "inbound_states")(lambda seeds, tmp, states=_states: with_config(
        seed(seeds, "functional.minirnn"), tmp / f"states{len(states)}{type(states).__name__}.minirnn",
        lambda c: minirnn_layers(c)[2].update(inbound_states=states)))


@hostile("a dtype policy naming os.system", r"lstm.*dtype")
def _(seeds, tmp):
    def edit(config):
        keras_layers(config)[1]["config"]["dtype"] = {
            "module": "os", "class_name": "system", "config": {"name": "float32"}, "registered_name": "os>system"}
    return with_config(seed(seeds, "sequential.keras"), tmp / "policy.keras", edit)


# Type confusion in Keras configs.
CONFUSIONS = {
    "a layer entry that is an int": lambda c: keras_layers(c).__setitem__(1, 7),
    "metrics a dict": lambda c: c["compile_config"].update(metrics={"a": 1}),
    "compile_config a list": lambda c: c.update(compile_config=[1, 2]),
    "batch_shape a string": lambda c: keras_layers(c)[0]["config"].update(batch_shape="None, 5"),
    "layers a dict": lambda c: c["config"].update(layers={"a": 1}),
    "config a list": lambda c: c.update(config=[1]),
    "loss a number": lambda c: c["compile_config"].update(loss=3),
    "optimizer config a list": lambda c: c["compile_config"]["optimizer"].update(config=[1]),
    "units a string": lambda c: keras_layers(c)[1]["config"].update(units="3"),
    "initializer config a string": lambda c: keras_layers(c)[1]["config"]["kernel_initializer"].update(config="x"),
    "build_config a list": lambda c: keras_layers(c)[1].update(build_config=[1]),
    "a layer config a list": lambda c: keras_layers(c)[2].update(config=[1]),
}
FUNCTIONAL_CONFUSIONS = {
    "inbound_nodes a dict": lambda c: keras_layers(c)[2].update(inbound_nodes={"args": 1}),
    "keras_history of one item": lambda c: keras_layers(c)[2]["inbound_nodes"][0]["args"][0]["config"].update(
        keras_history=["a"]),
    "keras_history naming no layer": lambda c: keras_layers(c)[2]["inbound_nodes"][0]["args"][0]["config"].update(
        keras_history=["nowhere", 0, 0]),
    "output_layers a number": lambda c: c["config"].update(output_layers=5),
    "an input listed twice": lambda c: c["config"]["input_layers"].insert(0, c["config"]["input_layers"][0]),
    "input_layers with a node index of -1": lambda c: c["config"].update(input_layers=[["a", -1, 0], ["b", 0, 0]]),
}
for _k, (_what, _edit) in enumerate(CONFUSIONS.items()):
    hostile(f"Keras config: {_what}", r"config\.json|the model config")(
        lambda seeds, tmp, k=_k, edit=_edit: with_config(seed(seeds, "sequential.keras"), tmp / f"confused{k}.keras",
                                                         edit))
hostile("Keras config: loss an empty list", "compile_config")(lambda seeds, tmp: with_config(
    seed(seeds, "sequential.keras"), tmp / "empty_loss.keras", lambda c: c["compile_config"].update(loss=[])))
for _k, (_what, _edit) in enumerate(FUNCTIONAL_CONFUSIONS.items()):
    hostile(f"Keras functional config: {_what}", r"config\.json|the model config")(
        lambda seeds, tmp, k=_k, edit=_edit: with_config(seed(seeds, "functional.keras"), tmp / f"fconfused{k}.keras",
                                                         edit))


# Damaged containers.
@hostile("a .keras file with a damaged central directory", r"central\.keras")
def _(seeds, tmp):
    raw = open(seed(seeds, "sequential.keras"), "rb").read()
    start = raw.rindex(b"PK\x01\x02")
    target = tmp / "central.keras"
    target.write_bytes(raw[:start] + b"\x00" * 8 + raw[start + 8:])
    return target


@hostile("a truncated .keras file", r"truncated\.keras")
def _(seeds, tmp):
    target = tmp / "truncated.keras"
    target.write_bytes(open(seed(seeds, "sequential.keras"), "rb").read()[:-30])
    return target


for _name in ("legacy.h5", "sequential.weights.h5"):
    for _k in range(12):
        @hostile(f"{_name}, bit flip {_k}", None, how=fc._how_of(_name))
        def _(seeds, tmp, name=_name, k=_k):
            data = bytearray(open(seed(seeds, name), "rb").read())
            rng = np.random.default_rng(1000 * len(name) + k)
            position = int(rng.integers(min(len(data), 4096)))     # headers and metadata
            data[position] ^= 1 << int(rng.integers(8))
            target = tmp / f"flip{k}_{name}"
            target.write_bytes(bytes(data))
            return target


def claim_length(data, name, length=2**30):
    """HDF5 bytes whose (version 1) attribute message `name` says its first variable-length
    string is `length` bytes long: HDF5 allocates and clears that much before it reads it."""
    at = data.index(name.encode() + b"\x00")
    version, _, name_size, dt_size, ds_size = struct.unpack_from("<BBHHH", data, at - 8)
    assert version == 1 and data[at + -(-name_size // 8) * 8] & 0x0F == 9        # a variable-length type
    values = at + sum(-(-n // 8) * 8 for n in (name_size, dt_size, ds_size))
    return data[:values] + struct.pack("<I", length) + data[values + 4:]


for _name, _attribute in (("legacy.h5", "training_config"), ("legacy.h5", "layer_names")):
    @hostile(f"{_name} whose {_attribute} claims a string of 1 GiB", rf"{_attribute}.*claimed")
    def _(seeds, tmp, name=_name, attribute=_attribute):
        target = tmp / f"claim_{attribute}.h5"
        target.write_bytes(claim_length(open(seed(seeds, name), "rb").read(), attribute))
        return target


# Registered names that are not layer classes.
for _k, _name in enumerate(["minirnn>LSTMCell", "minirnn>ops.add", "minirnn.losses>MeanSquaredError",
                            "numpy>tanh", "minirnn>Merge", "minirnn>_Extremum", "minirnn>Model"]):
    for _suffix, _layers_of in ((".keras", keras_layers), (".minirnn", minirnn_layers)):
        @hostile(f"registered_name {_name} {_suffix}", r"'dense'")
        def _(seeds, tmp, name=_name, suffix=_suffix, layers_of=_layers_of, k=_k):
            def edit(c):
                layers_of(c)[-1].update(registered_name=name, class_name=name.rpartition(">")[2])
            return with_config(seed(seeds, f"sequential{suffix}"), tmp / f"registered{k}{suffix}", edit)


# safetensors.
def _tensors(name, change=None, header_edit=None, raw=None):
    def build(seeds, tmp):
        tensors = lstm_tensors()
        if change:
            change(tensors)
        return safetensors_file(tmp / f"{name}.safetensors", tensors, header_edit, raw)
    return build


def _all(dtype, payload):
    return lambda t: t.update({k: (dtype, v[1], payload(v[1])) for k, v in t.items()})


hostile("safetensors: a header that is not JSON", "header", how="torch")(_tensors("garbage", raw=b"{not json"))
hostile("safetensors: a header length past the end", None, how="torch")(
    lambda seeds, tmp: (tmp / "length.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}") and
    tmp / "length.safetensors")
hostile("safetensors: BF16 tensors (legitimate)", "loads", how="torch")(_tensors("bf16", _all("BF16", bf16)))
hostile("safetensors: F8_E4M3 tensors", "F8_E4M3", how="torch")(
    _tensors("f8", _all("F8_E4M3", lambda shape: bytes(int(np.prod(shape))))))
hostile("safetensors: a dtype that is an object", "weight_ih_l0", how="torch")(
    _tensors("dtype_object", header_edit=lambda h: h["weight_ih_l0"].update(dtype={"F32": 1})))
hostile("safetensors: a 0-d weight", "weight_ih_l0", how="torch")(
    _tensors("scalar", lambda t: t.update(weight_ih_l0=("F32", [], bytes(4)))))
hostile("safetensors: data_offsets outside the data", "weight_hh_l0", how="torch")(
    _tensors("offsets", header_edit=lambda h: h["weight_hh_l0"].update(data_offsets=[0, 10**9])))
hostile("safetensors: a shape that does not match its bytes", "weight_hh_l0", how="torch")(
    _tensors("shape", header_edit=lambda h: h["weight_hh_l0"].update(shape=[100000, 100000])))
hostile("safetensors: a bias of the wrong size", "bias_hh_l0", how="torch")(
    _tensors("bias", lambda t: t.update(bias_hh_l0=("F32", [7], bytes(28)))))
hostile("safetensors: a weight of rank 3", "weight_hh_l0", how="torch")(
    _tensors("rank3", lambda t: t.update(weight_hh_l0=("F32", [12, 3, 1], t["weight_hh_l0"][2]))))
hostile("safetensors: no weight_ih_l0", "weight_ih_l0.*missing", how="torch")(
    _tensors("no_input_weight", lambda t: t.pop("weight_ih_l0")))
hostile("safetensors: integer weights (legitimate)", "loads", how="torch")(
    _tensors("int", lambda t: t.update(weight_ih_l0=("I64", [12, 2], bytes(8 * 24)))))


# HDF5 filters.
def _rewrite(dataset_options, name):
    def build(seeds, tmp):
        def edit(f):
            where = "layers/lstm/cell/vars/1"
            values = f[where][()]
            del f[where]
            f.create_dataset(where, data=values, **dataset_options)
        return with_weights(seed(seeds, "sequential.keras"), tmp / f"{name}.keras", edit)
    return build


def unknown_filter(f, where="layers/lstm/cell/vars/1"):
    """Store `where` through filter 32015, which no library in this process has: made as an lzf
    dataset, its pipeline message patched to name 32015 as mandatory (see patch_filter)."""
    values = f[where][()]
    del f[where]
    ds = f.create_dataset(where, shape=values.shape, dtype=values.dtype, chunks=values.shape, compression="lzf")
    ds.id.write_direct_chunk((0,) * values.ndim, values.tobytes(), 0)


def patch_filter(data):
    """HDF5 bytes with the lzf filter entry (id 32000, name length 8, optional) renamed to filter
    32015, mandatory: its reader must then find a plugin library for 32015."""
    entry = b"\x00\x7d\x08\x00\x01\x00"
    assert data.count(entry) == 1
    return data.replace(entry, b"\x0f\x7d\x08\x00\x00\x00")


PLUGIN = r"""
#include <stdio.h>
#include <time.h>
__attribute__((constructor)) static void loaded(void) {     /* a new file at every load */
    char name[4096];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(name, sizeof name, "%s-%ld-%ld", MARKER, (long)now.tv_sec, (long)now.tv_nsec);
    FILE *f = fopen(name, "w");
    if (f) { fputs("an HDF5 plugin library was loaded", f); fclose(f); }
}
int H5PLget_plugin_type(void) { return 0; }
const void *H5PLget_plugin_info(void) { return 0; }
"""


def plugin_directory(tmp):
    """A directory holding ``libzstd-filter.so``, an HDF5 plugin that writes a file
    ``plugin-was-loaded-<time>`` beside the hostile files whenever it is loaded (HDF5 unloads a
    library that is not the plugin it looks for; a C compiler is needed to make it)."""
    directory = tmp / "plugins"
    if not directory.exists():
        directory.mkdir()
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            pytest.fail("making the HDF5 plugin library of this test needs a C compiler (cc)")
        (directory / "plugin.c").write_text(PLUGIN)
        subprocess.run([compiler, "-shared", "-fPIC", f'-DMARKER="{tmp / "plugin-was-loaded"}"', "-o",
                        str(directory / "libzstd-filter.so"), str(directory / "plugin.c")], check=True)
    return directory


@hostile("an unknown HDF5 filter (32015), a plugin for it on HDF5_PLUGIN_PATH", r"vars/1.*filter")
def _(seeds, tmp):
    plugin_directory(tmp)
    target = tmp / "filter.keras"
    rezip(seed(seeds, "sequential.keras"), target,
          {H5: lambda data: patch_filter(fc.edit_h5(data, unknown_filter))})
    return target


@hostile("a .h5 file that is not HDF5, a plugin on HDF5_PLUGIN_PATH", r"garbage\.h5")
def _(seeds, tmp):
    plugin_directory(tmp)          # HDF5 1.14 looks for a plugin that can open a file it cannot
    target = tmp / "garbage.h5"
    target.write_bytes(b"this is not an HDF5 file" * 100)
    return target


@hostile("an unknown HDF5 filter in a .weights.h5 file", r"vars/1.*filter", how="weights:sequential")
def _(seeds, tmp):
    plugin_directory(tmp)
    target = tmp / "filter.weights.h5"
    with open(seed(seeds, "sequential.weights.h5"), "rb") as f:
        target.write_bytes(patch_filter(fc.edit_h5(f.read(), unknown_filter)))
    return target


hostile("lzf, a filter outside gzip, shuffle and fletcher32", r"vars/1.*filter")(
    _rewrite(dict(compression="lzf"), "lzf"))
hostile("gzip, shuffle and fletcher32 (legitimate)", "loads", neutral=True)(
    _rewrite(dict(compression="gzip", shuffle=True, fletcher32=True), "gzip"))


@hostile("a 144-byte chunk whose gzip stream inflates to 60 MiB", r"vars/1.*chunk")
def _(seeds, tmp):
    def edit(f):
        where = "layers/lstm/cell/vars/1"
        values = f[where][()]
        del f[where]
        ds = f.create_dataset(where, shape=values.shape, dtype=values.dtype, chunks=values.shape, compression="gzip")
        ds.id.write_direct_chunk((0, 0), fc.deflated_zeros(60 * 2**20, values.tobytes(), "zlib"))
    return with_weights(seed(seeds, "sequential.keras"), tmp / "inflate.keras", edit)


# -- running them ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, request):
    """The result of every selected hostile file, all loaded in one batch of child processes."""
    selected = {item.callspec.params["id"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_hostile_file"}
    tmp = tmp_path_factory.mktemp("bounds")
    seeds_dir = tmp / "seeds"
    seeds_dir.mkdir()
    seeds = fc.write_seeds(seeds_dir)
    cases = []
    for id, (build, _, how, neutral) in HOSTILE.items():
        if id in selected:
            cases.append({"id": id, "path": str(build(seeds, tmp)), "how": how, "neutral": neutral})
    env = {"HDF5_PLUGIN_PATH": str(plugin_directory(tmp))}      # as a user's environment may have it
    return fc.run_cases(cases, seeds_dir, env=env)


@pytest.mark.parametrize("id", list(HOSTILE))
def test_hostile_file(outcomes, id):
    expect = HOSTILE[id][1]
    result = outcomes[id]
    found = fc.problems(result, expect)
    assert not found, found
