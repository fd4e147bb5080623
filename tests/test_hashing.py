"""FarmHash Fingerprint64 and SipHash-2-4 against TensorFlow's kernels; the Hashing layer and the
lookup layers' OOV buckets against Keras 3; vocabulary files kept as assets of saved models."""
import json
import os
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn.keras as mk  # noqa: E402
from minirnn.layers.string_hash import fingerprint64, hash_buckets, siphash64  # noqa: E402
from minirnn.saving import ModelFileError  # noqa: E402

WORDS = ["", "a", "A", "ab", "abc", "abcd", "omar", "stringer", "marlo", "wire", "skywalker", "[UNK]",
         "école", "Über-cool", "日本語のテキスト", "emoji 🙂 and more", "x" * 16, "y" * 17, "z" * 33, "w" * 64,
         "v" * 65, "u" * 128, "t" * 129, "-123", "0"]


def random_strings(seed=0):
    """Random bytes of every length 0..300 (each branch and block count of FarmHash, each tail
    length of SipHash) and random UTF-8 text."""
    rng = np.random.default_rng(seed)
    out = [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for n in range(301)]
    out += [bytes(rng.integers(0, 256, rng.integers(0, 300), dtype=np.uint8)) for _ in range(300)]
    alphabet = "aé日🙂 Z\t"
    out += ["".join(rng.choice(list(alphabet), rng.integers(0, 80))).encode("utf-8") for _ in range(100)]
    return out


def test_fingerprint64_is_tf_fingerprint():
    strings = random_strings() + [w.encode("utf-8") for w in WORDS]
    want = tf.fingerprint(tf.constant(strings)).numpy().view("<u8")[:, 0]     # farmhash64, little-endian
    np.testing.assert_array_equal(fingerprint64(strings), want)


@pytest.mark.parametrize("num_buckets", [1, 2, 3, 7, 1000, 2**31 - 1, 2**63 - 1])
def test_hash_bucket_fast_is_tf(num_buckets):
    strings = random_strings(1)
    want = tf.strings.to_hash_bucket_fast(tf.constant(strings), num_buckets).numpy()
    np.testing.assert_array_equal(hash_buckets(strings, num_buckets), want)
    np.testing.assert_array_equal(hash_buckets(WORDS, num_buckets),           # str hashed as UTF-8
                                  tf.strings.to_hash_bucket_fast(tf.constant(WORDS), num_buckets).numpy())


@pytest.mark.parametrize("key", [[137, 42], [133, 133], [0, 0], [2**63 - 1, 1], [-1, -2**63]])
@pytest.mark.parametrize("num_buckets", [4, 2**63 - 1])
def test_hash_bucket_strong_is_tf(key, num_buckets):
    strings = random_strings(2) + [w.encode("utf-8") for w in WORDS]
    want = tf.strings.to_hash_bucket_strong(tf.constant(strings), num_buckets, key=key).numpy()
    np.testing.assert_array_equal(hash_buckets(strings, num_buckets, key), want)


def test_siphash_reference_vector():
    """The SipHash paper's test vector (appendix A): key 00..0f, message 00..0e."""
    key = [int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little")]
    assert siphash64([bytes(range(15))], key)[0] == 0xa129ca6149be45e5


def test_numbers_are_hashed_as_their_decimal_text():
    values = [0, 7, -7, 100, 2**40, -2**63]
    want = tf.strings.to_hash_bucket_fast(tf.strings.as_string(tf.constant(values, tf.int64)), 1000).numpy()
    np.testing.assert_array_equal(hash_buckets(values, 1000), want)


# -- Hashing against Keras ------------------------------------------------------------------------
STRINGS = np.array([["omar", "stringer"], ["marlo", ""], ["wire", "skywalker"], ["école", "omar"]])
INTS = np.array([[0, 1], [2, 3], [-4, 100000], [7, 7]])


@pytest.mark.parametrize("output_mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("kwargs", [{}, {"mask_value": ""}, {"salt": [137, 42]}, {"salt": 133},
                                    {"mask_value": "", "salt": [1, 2]}])
@pytest.mark.parametrize("data", ["strings", "strings_column", "ints", "floats"])
def test_hashing_matches_keras(output_mode, kwargs, data):
    x = {"strings": STRINGS, "strings_column": STRINGS[:, :1], "ints": INTS, "floats": INTS + 0.75}[data]
    if data in ("ints", "floats") and "mask_value" in kwargs:
        kwargs = dict(kwargs, mask_value=7)
    if output_mode == "one_hot" and x.shape[-1] != 1:
        x = x[:, 0]
    theirs = keras.layers.Hashing(num_bins=5, output_mode=output_mode, **kwargs)(tf.constant(x))
    mine = mk.layers.Hashing(num_bins=5, output_mode=output_mode, **kwargs)(x)
    theirs = np.asarray(theirs)
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    np.testing.assert_array_equal(mine, theirs)


def test_hashing_lists_and_rank_one():
    for x in (["A", "B", "C", "D", "E"], [["A"], ["B"], ["C"]], [1, 2, 3]):
        for mode in ("int", "multi_hot", "count"):
            want = np.asarray(keras.layers.Hashing(num_bins=3, output_mode=mode)(x))
            np.testing.assert_array_equal(mk.layers.Hashing(num_bins=3, output_mode=mode)(x), want)


# -- the lookup layers' OOV buckets against Keras -------------------------------------------------
OOV_WORDS = np.array([["a", "zz", "b"], ["yy", "c", "école"], ["x", "", "q"], ["[UNK]", "abc", "日本"]])


@pytest.mark.parametrize("num_oov_indices", [2, 3, 5])
@pytest.mark.parametrize("kwargs", [{}, {"mask_token": ""}, {"salt": [137, 42]}, {"salt": 9},
                                    {"output_mode": "multi_hot"}, {"output_mode": "count", "salt": 3}])
def test_string_lookup_oov_buckets_match_keras(num_oov_indices, kwargs):
    args = dict(vocabulary=["a", "b", "c"], num_oov_indices=num_oov_indices, **kwargs)
    theirs = np.asarray(keras.layers.StringLookup(**args)(tf.constant(OOV_WORDS)))
    mine = mk.layers.StringLookup(**args)(OOV_WORDS)
    np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("num_oov_indices", [2, 4, 5])
@pytest.mark.parametrize("kwargs", [{}, {"oov_method": "farmhash"}, {"oov_method": "farmhash", "salt": [137, 42]},
                                    {"oov_method": "farmhash", "mask_token": 0},
                                    {"oov_method": "farmhash", "output_mode": "count"}])
def test_integer_lookup_oov_buckets_match_keras(num_oov_indices, kwargs):
    x = np.array([[10, 20, 100], [200, 0, -7], [300, 30, 12345678901]])
    args = dict(vocabulary=[10, 20, 30], num_oov_indices=num_oov_indices, **kwargs)
    theirs = np.asarray(keras.layers.IntegerLookup(**args)(tf.constant(x)))
    mine = mk.layers.IntegerLookup(**args)(x)
    np.testing.assert_array_equal(mine, theirs)


def test_text_vectorization_with_hashed_oov_buckets_is_keras_lookup():
    texts = np.array(["the cat sat", "a dog ran far", "cat cat zebra"])
    theirs = keras.layers.TextVectorization(vocabulary=["the", "cat"])(tf.constant(texts))
    np.testing.assert_array_equal(mk.layers.TextVectorization(vocabulary=["the", "cat"])(texts), np.asarray(theirs))


# -- files ----------------------------------------------------------------------------------------
def hashing_model(lib):
    inputs = lib.Input(shape=(2,), dtype="string")
    return lib.Model(inputs, lib.layers.Hashing(num_bins=7, salt=[5, 6], mask_value="", name="h")(inputs))


def test_hashing_keras_files_both_ways(tmp_path):
    x = STRINGS[:, :2]
    mine = hashing_model(mk)
    mine.save(tmp_path / "mine.keras")
    theirs = keras.saving.load_model(tmp_path / "mine.keras")
    want = np.asarray(theirs(tf.constant(x)))
    np.testing.assert_array_equal(mine.predict(x, verbose=0), want)
    theirs = hashing_model(keras)
    theirs.save(tmp_path / "theirs.keras")
    again = mk.saving.load_model(tmp_path / "theirs.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), np.asarray(theirs(tf.constant(x))))
    mine.save(tmp_path / "mine.minirnn")
    np.testing.assert_array_equal(mk.saving.load_model(tmp_path / "mine.minirnn").predict(x, verbose=0), want)


def vocabulary_file(tmp_path, terms=("a", "b", "c")):
    path = tmp_path / "vocabulary.txt"
    path.write_text("\n".join(terms) + "\n", encoding="utf-8")
    return str(path)


def lookup_model(lib, kind, path):
    if kind == "text":
        inputs = lib.Input(shape=(1,), dtype="string")
        layer = lib.layers.TextVectorization(vocabulary=path, name="index")
    else:
        inputs = lib.Input(shape=(3,), dtype="string")
        layer = lib.layers.StringLookup(vocabulary=path, oov_token="[OOV]", mask_token="[MASK]",
                                        num_oov_indices=2, name="index")
    return lib.Model(inputs, layer(inputs))


@pytest.mark.parametrize("kind", ["lookup", "text"])
def test_vocabulary_file_kept_as_an_asset_both_ways(tmp_path, kind):
    x = np.array([["a b zz q"]]) if kind == "text" else np.array([["a", "zz", "c"], ["q", "[MASK]", "b"]])
    path = vocabulary_file(tmp_path)
    mine = lookup_model(mk, kind, path)
    assert mine.get_layer("index").get_config()["vocabulary"] is None          # as Keras: not in the config
    theirs = lookup_model(keras, kind, path)
    want = np.asarray(theirs(tf.constant(x)))
    np.testing.assert_array_equal(mine.predict(x, verbose=0), want)
    os.remove(path)                                 # from here on, the vocabulary comes from the files
    mine.save(tmp_path / "mine.keras")
    mine.save(tmp_path / "mine.minirnn")
    theirs.save(tmp_path / "theirs.keras")
    assert any(name.endswith("/vocabulary.txt") for name in zipfile.ZipFile(tmp_path / "mine.minirnn").namelist())
    for name in ("mine.keras", "mine.minirnn", "theirs.keras"):
        again = mk.saving.load_model(tmp_path / name)
        np.testing.assert_array_equal(again.predict(x, verbose=0), want, err_msg=name)
    keras_again = keras.saving.load_model(tmp_path / "mine.keras")
    np.testing.assert_array_equal(np.asarray(keras_again(tf.constant(x))), want)
    # saved again after loading, the vocabulary stays an asset
    mk.saving.load_model(tmp_path / "mine.minirnn").save(tmp_path / "again.minirnn")
    np.testing.assert_array_equal(mk.saving.load_model(tmp_path / "again.minirnn").predict(x, verbose=0), want)


def rewrite(src, dst, change):
    """A copy of the archive `src` with `change({name: bytes})` applied."""
    with zipfile.ZipFile(src) as z:
        members = {name: z.read(name) for name in z.namelist()}
    change(members)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


@pytest.mark.parametrize("suffix", [".keras", ".minirnn"])
def test_a_config_never_names_a_vocabulary_file_to_read(tmp_path, suffix):
    (tmp_path / "secret").mkdir()
    secret = vocabulary_file(tmp_path / "secret", ["secret", "terms"])
    model = lookup_model(mk, "lookup", vocabulary_file(tmp_path, ["a", "b"]))
    model.save(tmp_path / f"m{suffix}")

    def point_at_secret(members):
        assert b'"vocabulary": null' in members["config.json"]
        members["config.json"] = members["config.json"].replace(b'"vocabulary": null',
                                                                b'"vocabulary": ' + json.dumps(secret).encode())
    rewrite(tmp_path / f"m{suffix}", tmp_path / f"bad{suffix}", point_at_secret)
    with pytest.raises(ModelFileError, match="vocabulary.*expected a list of terms or null"):
        mk.saving.load_model(tmp_path / f"bad{suffix}")


@pytest.mark.parametrize("suffix", [".keras", ".minirnn"])
def test_vocabulary_assets_are_bounded_and_needed(tmp_path, suffix):
    model = lookup_model(mk, "lookup", vocabulary_file(tmp_path))
    model.save(tmp_path / f"m{suffix}")
    with zipfile.ZipFile(tmp_path / f"m{suffix}") as z:
        asset = next(name for name in z.namelist() if name.endswith("vocabulary.txt"))

    def bomb(members):                    # 40 MB of terms in a few kB: refused before it is inflated
        members[asset] = b"[MASK]\n[OOV]\n[OOV]\n" + b"a\n" * 20_000_000
    rewrite(tmp_path / f"m{suffix}", tmp_path / f"bomb{suffix}", bomb)
    with pytest.raises(ModelFileError, match="vocabulary.txt"):
        mk.saving.load_model(tmp_path / f"bomb{suffix}")
    rewrite(tmp_path / f"m{suffix}", tmp_path / f"none{suffix}", lambda members: members.pop(asset))
    with pytest.raises(ModelFileError, match="missing: layer 'index' .*keeps its vocabulary there"):
        mk.saving.load_model(tmp_path / f"none{suffix}")


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"num_bins": 0}, "num_bins.*Received: num_bins=0"),
    ({"num_bins": None}, "cannot be `None`"),
    ({"num_bins": 3, "salt": "pepper"}, "salt.*tuple of size 2.*Received: salt='pepper'"),
    ({"num_bins": 3, "salt": [1, 2, 3]}, "tuple of size 2"),
    ({"num_bins": 3, "output_mode": "tf_idf"}, "output_mode.*Received: output_mode='tf_idf'"),
    ({"num_bins": 3, "dtype": "float32"}, "should be an integer type.*Received: dtype='float32'"),
    ({"num_bins": 3, "output_mode": "count", "sparse": True}, "sparse=True is not supported"),
])
def test_hashing_bad_arguments_name_the_layer(kwargs, message):
    with pytest.raises(ValueError, match=f"Layer 'bad' \\(Hashing\\): .*{message}"):
        mk.layers.Hashing(name="bad", **kwargs)


def test_hashing_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"Layer 'h' \(Hashing\) expects strings or numbers"):
        mk.layers.Hashing(num_bins=3, name="h")(np.array([[1 + 2j]]))


def test_lookup_bad_hash_arguments_name_the_layer(tmp_path):
    with pytest.raises(ValueError, match=r"Layer 'l' \(IntegerLookup\): oov_method must be 'floormod' or "
                                         r"'farmhash', received 'md5'"):
        mk.layers.IntegerLookup(vocabulary=[1], num_oov_indices=2, oov_method="md5", name="l")
    with pytest.raises(ValueError, match=r"Layer 'l' \(IntegerLookup\): salt can only be used when "
                                         r"oov_method='farmhash'"):
        mk.layers.IntegerLookup(vocabulary=[1], num_oov_indices=2, salt=3, name="l")
    with pytest.raises(ValueError, match=r"Layer 's' \(StringLookup\): .*salt.*Received: salt=\[1\]"):
        mk.layers.StringLookup(vocabulary=["a"], num_oov_indices=2, salt=[1], name="s")
    with pytest.raises(ValueError, match=r"Layer 's' \(StringLookup\): the vocabulary file .* does not exist"):
        mk.layers.StringLookup(vocabulary=str(tmp_path / "missing.txt"), name="s")
    with pytest.raises(ValueError, match=r"Layer 's' \(StringLookup\): output_mode 'tf_idf' does not support "
                                         r"loading a vocabulary from a file"):
        mk.layers.StringLookup(vocabulary=vocabulary_file(tmp_path), output_mode="tf_idf", idf_weights=[1, 1, 1],
                               name="s")


def test_unbuilt_sequential_of_lookups_keras_files_both_ways(tmp_path):
    """Keras saves a Sequential of weightless layers before it knows its input shape."""
    x = np.array([["a", "q"], ["c", "zz"]])
    path = vocabulary_file(tmp_path)
    mine = mk.Sequential([mk.layers.StringLookup(vocabulary=path, name="index"), mk.layers.Hashing(num_bins=3)])
    theirs = keras.Sequential([keras.layers.StringLookup(vocabulary=path, name="index"),
                               keras.layers.Hashing(num_bins=3)])
    os.remove(path)
    want = np.asarray(theirs(tf.constant(x)))
    mine.save(tmp_path / "mine.keras")
    theirs.save(tmp_path / "theirs.keras")
    for name in ("mine.keras", "theirs.keras"):
        np.testing.assert_array_equal(mk.saving.load_model(tmp_path / name).predict(x, verbose=0), want)
    np.testing.assert_array_equal(np.asarray(keras.saving.load_model(tmp_path / "mine.keras")(tf.constant(x))), want)
    with pytest.raises(ValueError, match="has not been built"):       # layers with weights need the shape
        mk.Sequential([mk.layers.Dense(2)]).save(tmp_path / "dense.keras")
