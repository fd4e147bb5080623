"""Structure-aware mutation of model files, as hypothesis strategies: a mutated file is a
legitimate file (tests/file_cases.py's seeds) with one to three edits of its structure.

    JSON (config.json, model_config / training_config, the weights manifest, the safetensors
    header):  replace a field by another JSON value, duplicate it, drop it, resize it
    ZIP archives (.minirnn, .keras, .weights.npz, the weights inside a .minirnn):  drop,
    duplicate, replace, truncate or rename a member, change its compression, add a member, a
    bomb of zeros
    HDF5 (.h5, .weights.h5, the weights inside a .keras):  replace a dataset (shape, dtype,
    values, storage: chunks, filters, links), drop or duplicate it, groups likewise, replace or
    drop an attribute
    safetensors:  dtypes, shapes, offsets, the header's length, duplicate keys, truncation
    bytes:  flipped bits, truncation

``draw_case(data, seed, directory, number)`` writes one mutated file of `seed` and returns its case
(``neutral`` when no edit can change what the file means, so it must predict exactly what its
seed predicts when it loads).
"""
import io
import json
import os
import struct
import zipfile

import numpy as np
from hypothesis import strategies as st

import file_cases as fc

NAMES = ["numpy>tanh", "minirnn>LSTM", "minirnn>Sequential", "minirnn>Dense", "minirnn>ops.add", "os>system",
         "Custom>X", "LSTM", "Dense", "InputLayer", "Sequential", "Functional", "__keras_tensor__", "float64",
         "float16", "int32", "tanh", "relu", "Adam", "MeanSquaredError", "mae", "__lambda__",
         "__python_function__"]
SCALARS = (st.none() | st.booleans() | st.sampled_from([0, 1, -1, 2, 3, 7, 2**31, 2**63, -2**40, 10**9, 10**6])
           | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=6) | st.sampled_from(NAMES))
SHAPES = st.lists(st.none() | st.integers(-3, 10) | st.sampled_from([10**5, 10**8, 2**31]), max_size=4)
JSON = st.recursive(SCALARS | SHAPES, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["config", "class_name", "name"]),
                                      inner, max_size=3), max_leaves=6)


# -- JSON -----------------------------------------------------------------------------------------
def paths(value, path=()):
    """Every (path, value) of a JSON document, containers included."""
    out, stack = [], [(path, value)]
    while stack:
        p, v = stack.pop()
        out.append((p, v))
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
        stack.extend((p + (k,), item) for k, item in items)
    return out


def mutate_json(data, document):
    """(document after one edit, what was done); never changes `document` in place."""
    document = json.loads(json.dumps(document))
    everything = paths(document)
    where, value = data.draw(st.sampled_from(everything[1:] or everything), label="json path")
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    key = where[-1] if where else None
    kind = data.draw(st.sampled_from(["replace", "duplicate", "drop", "resize"]), label="json edit")
    if key is None:
        return data.draw(JSON), "replace the document"
    if kind == "replace":
        parent[key] = data.draw(JSON, label="json value")
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(key, json.loads(json.dumps(parent[key])))
    elif kind == "duplicate":
        other = data.draw(st.sampled_from(list(parent)) | st.text(max_size=6), label="json key")
        parent[other] = json.loads(json.dumps(parent[key]))
    elif kind == "drop":
        del parent[key]
    elif isinstance(value, bool) or value is None:
        parent[key] = not value
    elif isinstance(value, (int, float)):
        parent[key] = value * data.draw(st.sampled_from([0, -1, 2, 10, 1000, 10**6]), label="factor")
    elif isinstance(value, str):
        parent[key] = value * data.draw(st.integers(0, 50), label="repeat")
    else:
        times = data.draw(st.integers(0, 40), label="repeat")
        parent[key] = (value * times) if isinstance(value, list) else {f"{k}{i}": v for i in range(times)
                                                                        for k, v in value.items()}
    return document, f"{kind} json {'/'.join(map(str, where))}"


# -- ZIP ------------------------------------------------------------------------------------------
def mutate_zip(data, raw, inner):
    """(archive bytes after one edit, what was done, neutral); `inner(name, bytes)` mutates a
    member's contents structurally (None when there is nothing inside it to mutate)."""
    files = fc.zip_members(raw)
    if not files:
        raise ValueError("an empty archive")
    names = [n for n, _ in files]
    k = data.draw(st.integers(0, len(files) - 1), label="member")
    name, content = files[k]
    kind = data.draw(st.sampled_from(["inside", "inside", "inside", "drop", "duplicate", "truncate", "garbage",
                                      "rename", "deflate", "method", "extra", "bomb", "reorder"]), label="zip edit")
    neutral = False
    if kind == "inside":
        new, what = inner(name, content)
        if new is None:
            kind, what = "garbage", None
        else:
            files[k] = (name, new)
            return fc.zip_bytes(files), f"{name}: {what}", False
    if kind == "drop":
        del files[k]
    elif kind == "duplicate":
        copy = inner(name, content)[0] if data.draw(st.booleans(), label="changed copy") else content
        files.insert(data.draw(st.integers(0, len(files)), label="at"), (name, copy if copy is not None else content))
    elif kind == "truncate":
        files[k] = (name, content[:data.draw(st.integers(0, max(0, len(content) - 1)), label="length")])
    elif kind == "garbage":
        files[k] = (name, data.draw(st.binary(max_size=64), label="bytes"))
    elif kind == "rename":
        files[k] = (data.draw(st.sampled_from(names + ["x", "config.json ", "../config.json", "a/b.npy"]),
                              label="name"), content)
    elif kind == "deflate":
        method = data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]), label="method")
        files[k] = (name, fc.RawMember.of(content, method))
        neutral = True
    elif kind == "method":
        raw_member = fc.RawMember.of(content)
        raw_member.method = data.draw(st.sampled_from([1, 9, 12, 14, 93, 99]), label="method id")
        files[k] = (name, raw_member)
    elif kind == "extra":
        files.append((data.draw(st.sampled_from(["extra.bin", "assets/x", "variables.h5"]), label="extra"),
                      data.draw(st.binary(max_size=32), label="bytes")))
        neutral = True
    elif kind == "bomb":
        size = data.draw(st.sampled_from([2**20, 2**24, 2**26]), label="bomb size")
        files[k] = (name, fc.zero_bomb_member(size, content if data.draw(st.booleans(), label="prefix") else b""))
    elif kind == "reorder":
        files.reverse()
        neutral = True
    return fc.zip_bytes(files), f"{kind} member {name}", neutral


# -- HDF5 -----------------------------------------------------------------------------------------
def _objects(f):
    import h5py

    found = []
    f.visititems(lambda name, obj: found.append((name, isinstance(obj, h5py.Dataset))))
    return found


DTYPES = ["f2", "f4", "f8", "i1", "i8", "u2", "?", "S8", "c8", [("a", "f4"), ("b", "i4")], "O"]


def mutate_h5(data, raw):
    """(HDF5 bytes after one edit, what was done)."""
    import h5py

    record = []

    def edit(f):
        objects = _objects(f)
        if not objects:
            raise ValueError("an empty HDF5 file")
        name, is_dataset = data.draw(st.sampled_from(objects), label="hdf5 object")
        target = f[name]
        if data.draw(st.integers(0, 3), label="attribute?") == 0 and len(target.attrs):
            attr = data.draw(st.sampled_from(sorted(target.attrs)), label="attribute")
            kind = data.draw(st.sampled_from(["drop", "number", "strings", "json", "huge"]), label="attr edit")
            record.append(f"{kind} attribute {name}@{attr}")
            value = target.attrs[attr]
            del target.attrs[attr]
            if kind == "number":
                target.attrs[attr] = data.draw(st.integers(-5, 5), label="value")
            elif kind == "strings":
                target.attrs[attr] = [s.encode() for s in data.draw(st.lists(st.text(max_size=8), max_size=4))]
            elif kind == "json" and isinstance(value, (str, bytes)):
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                try:
                    document = json.loads(text)
                except ValueError:
                    document = text
                mutated, what = mutate_json(data, document)
                record.append(what)
                target.attrs[attr] = json.dumps(mutated)
            elif kind == "huge":
                target.attrs[attr] = np.zeros(data.draw(st.sampled_from([10**4, 10**5, 2 * 10**5])), "u1")
            return
        kinds = ["drop", "duplicate", "group", "soft link"]
        if is_dataset:
            kinds += ["shape", "dtype", "values", "storage", "storage", "chunk bomb", "scalar", "external link"]
        kind = data.draw(st.sampled_from(kinds), label="hdf5 edit")
        record.append(f"{kind} {name}")
        if kind == "duplicate":
            where = data.draw(st.sampled_from([n for n, _ in objects if n != name] + ["extra"]), label="copy to")
            if where in f:
                del f[where]
            f.copy(target, where)
            return
        if kind == "soft link":
            del f[name]
            f[name] = h5py.SoftLink("/" + data.draw(st.sampled_from([n for n, _ in objects]), label="link to"))
            return
        if kind == "external link":
            del f[name]
            f[name] = h5py.ExternalLink("/etc/hostname", "/x")
            return
        if kind in ("drop", "group"):
            del f[name]
            if kind == "group":
                f.create_group(name)
            return
        values = target[()]
        if kind == "chunk bomb":
            fc.chunk_bomb(f, name, data.draw(st.sampled_from([2**20, 2**24, 2**26]), label="chunk bytes"))
            return
        del f[name]
        if kind == "shape":
            shape = tuple(max(0, d + data.draw(st.sampled_from([-1, 1, 5]), label="delta")) for d in values.shape)
            if data.draw(st.booleans(), label="add axis"):
                shape += (1,)
            f.create_dataset(name, shape=shape, dtype=values.dtype)
        elif kind == "dtype":
            dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
            dtype = h5py.string_dtype() if dtype == "O" else np.dtype(dtype)
            f.create_dataset(name, shape=values.shape, dtype=dtype)
        elif kind == "values":
            special = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e30, 0.0]), label="value")
            f.create_dataset(name, data=np.full(values.shape, special, values.dtype))
        elif kind == "scalar":
            f.create_dataset(name, data=np.float32(1.0))
        else:
            options = data.draw(st.fixed_dictionaries({}, optional={
                "compression": st.sampled_from(["gzip", "lzf", 4, 32015]), "shuffle": st.booleans(),
                "fletcher32": st.booleans(), "scaleoffset": st.sampled_from([0, 2]),
                "maxshape": st.just(True), "chunks": st.sampled_from([True, "ones"])}), label="storage")
            if values.ndim == 0:
                options = {}
            if options.get("maxshape"):
                options["maxshape"] = (None,) * values.ndim
            if options.get("chunks") == "ones":
                options["chunks"] = (1,) * values.ndim
            if options.get("compression") == 32015:
                options["allow_unknown_filter"] = True
            if values.dtype.kind != "f" or options.get("compression") == 4:
                options.pop("scaleoffset", None)
            record.append(str(options))
            try:
                f.create_dataset(name, data=values, **options)
            except (ValueError, TypeError, OSError):          # a combination h5py will not write
                f.create_dataset(name, data=values)

    return fc.edit_h5(raw, edit), "; ".join(record)


# -- safetensors ----------------------------------------------------------------------------------
def mutate_safetensors(data, raw):
    (length,) = struct.unpack("<Q", raw[:8])
    header, body = json.loads(raw[8:8 + length]), raw[8 + length:]
    kind = data.draw(st.sampled_from(["dtype", "shape", "offsets", "json", "length", "duplicate key", "truncate",
                                      "metadata"]), label="safetensors edit")
    names = sorted(k for k in header if k != "__metadata__") if isinstance(header, dict) else []
    if not names:
        raise ValueError("no tensors")
    name = data.draw(st.sampled_from(names), label="tensor")
    text = None
    if kind == "dtype":
        header[name]["dtype"] = data.draw(st.sampled_from(["F16", "BF16", "F64", "I8", "U8", "BOOL", "F8_E5M2",
                                                            "F8_E4M3", "I64", "X", 7]), label="dtype")
    elif kind == "shape":
        header[name]["shape"] = data.draw(SHAPES, label="shape")
    elif kind == "offsets":
        header[name]["data_offsets"] = data.draw(st.lists(st.integers(-5, 10**6) | st.sampled_from([2**64, 2**63]),
                                                          max_size=3), label="offsets")
    elif kind == "json":
        header = mutate_json(data, header)[0]
    elif kind == "metadata":
        header["__metadata__"] = data.draw(JSON, label="metadata")
    elif kind == "duplicate key":
        text = json.dumps(header)[:-1] + ", " + json.dumps({name: header[name]})[1:]
    if text is None:
        text = json.dumps(header)
    encoded = text.encode() if isinstance(text, str) else text
    head = struct.pack("<Q", len(encoded))
    if kind == "length":
        head = struct.pack("<Q", data.draw(st.sampled_from([0, 1, len(encoded) - 1, len(encoded) + 1, 2**40,
                                                            2**64 - 1]), label="length"))
    out = head + encoded + body
    if kind == "truncate":
        out = out[:data.draw(st.integers(0, len(out) - 1), label="length")]
    return out, f"{kind} {name}"


# -- bytes ----------------------------------------------------------------------------------------
def mutate_bytes(data, raw):
    raw = bytearray(raw or b"\x00")
    flips = data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=3), label="positions")
    for position in flips:
        raw[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    if data.draw(st.integers(0, 4), label="truncate?") == 0:
        raw = raw[:data.draw(st.integers(0, len(raw)), label="length")]
    return bytes(raw), f"flip bits {flips}"


# -- one case -------------------------------------------------------------------------------------
def _inner(data, name, content):
    """Mutate what a ZIP member holds, by its kind."""
    if name.endswith(".json"):
        try:
            document = json.loads(content)
        except ValueError:
            return None, None
        mutated, what = mutate_json(data, document)
        return json.dumps(mutated).encode(), what
    if name.endswith(".h5"):
        try:
            return mutate_h5(data, content)
        except (OSError, ValueError, KeyError, TypeError) as e:     # content no longer HDF5
            return None, f"({type(e).__name__})"
    if name.endswith(".npz"):
        try:
            return mutate_zip(data, content, lambda n, c: _inner(data, n, c))[:2]
        except Exception as e:                       # no longer an archive
            return None, f"({type(e).__name__})"
    if name.endswith(".npy"):
        try:
            return _inner_npy(data, name, content)
        except Exception as e:                       # no longer an array
            return None, f"({type(e).__name__})"
    return None, None


def _inner_npy(data, name, content):
    if name == "__manifest__.npy":
        text = bytes(np.load(io.BytesIO(content)))
        mutated, what = mutate_json(data, json.loads(text))
        array = np.frombuffer(json.dumps(mutated).encode(), np.uint8)
    else:
        array = np.load(io.BytesIO(content))
        what = data.draw(st.sampled_from(["shape", "dtype", "header"]), label="npy edit")
        if what == "shape":
            extra = (1,) if data.draw(st.booleans(), label="add axis") else ()
            array = np.zeros(tuple(d + 1 for d in array.shape) + extra, array.dtype)
        elif what == "dtype":
            array = array.astype(data.draw(st.sampled_from(["f2", "f8", "i4", "u1", "?", "c8"]), label="dtype"))
        else:
            return content[:10] + data.draw(st.binary(min_size=1, max_size=20), label="header") + content[30:], "header"
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue(), f"npy {what}"


def draw_case(data, seed, directory, number):
    """Write one mutated file of `seed` into `directory`; its case (see tests/file_cases.py)."""
    with open(seed.path, "rb") as f:
        raw = f.read()
    edits, neutral = [], True
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        structural = data.draw(st.integers(0, 9), label="structural?") > 0
        if structural and seed.name.endswith((".minirnn", ".keras", ".npz")):
            try:
                raw, what, same = mutate_zip(data, raw, lambda n, c: _inner(data, n, c))
            except Exception:                       # an earlier edit broke the container: edit bytes

                raw, what, same = mutate_bytes(data, raw) + (False,)
        elif structural and seed.name.endswith(".h5"):
            try:
                (raw, what), same = mutate_h5(data, raw), False
            except Exception:
                raw, what, same = mutate_bytes(data, raw) + (False,)
        elif structural and seed.name.endswith(".safetensors"):
            try:
                (raw, what), same = mutate_safetensors(data, raw), False
            except Exception:
                raw, what, same = mutate_bytes(data, raw) + (False,)
        else:
            raw, what, same = mutate_bytes(data, raw) + (False,)
        edits.append(what)
        neutral = neutral and same
    path = os.path.join(directory, f"case{number:06d}-{seed.name}")
    with open(path, "wb") as f:
        f.write(raw)
    return {"id": f"{number}", "path": os.path.abspath(path), "how": seed.how, "neutral": neutral,
            "seed": seed.name, "edits": edits}


def draw_cases(seeds, directory, count, derandomize=False, start=0):
    """`count` mutated files, an equal share of each seed's (in turn), drawn by hypothesis (no
    shrinking: the files are run later, in child processes)."""
    from hypothesis import HealthCheck, Phase, given, settings

    cases, names = [], sorted(seeds)
    for k, name in enumerate(names):
        share = count // len(names) + (k < count % len(names))
        mine = []

        @settings(max_examples=share, database=None, deadline=None, derandomize=derandomize,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def draw(data):
            if len(mine) < share:
                mine.append(draw_case(data, seeds[name], directory, start + len(cases) + len(mine)))

        while len(mine) < share:        # hypothesis may stop early when it thinks it has seen enough
            before = len(mine)
            draw()
            if len(mine) == before:
                break
        cases += mine
    return cases
