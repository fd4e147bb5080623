"""StringLookup, IntegerLookup and TextVectorization against Keras 3 (same inputs, same outputs)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402
from minirnn import layers as L  # noqa: E402

TEXTS = ["The cat sat on the mat.", "A dog; a CAT!", "the end", "Über-cool ÉCOLE, école... été?",
         "dogs and cats and DOGS", "tab\tseparated\nlines  and   spaces"]


def same(mine, theirs):
    theirs = theirs.numpy() if hasattr(theirs, "numpy") else np.asarray(theirs)
    mine = np.asarray(mine)
    assert mine.shape == theirs.shape, f"shape {mine.shape} != Keras's {theirs.shape}"
    if theirs.dtype.kind == "S" or theirs.dtype.kind == "O":
        theirs = np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object])(theirs)
        assert mine.tolist() == theirs.tolist()
    elif theirs.dtype.kind == "f":
        assert mine.dtype == np.float32
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    else:
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs)


def vocab(layer):
    return [v.item() if hasattr(v, "item") else v for v in layer.get_vocabulary()]


# -- TextVectorization ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {},
    {"max_tokens": 8},
    {"output_sequence_length": 5},
    {"max_tokens": 6, "output_sequence_length": 12},
    {"standardize": "lower"},
    {"standardize": "strip_punctuation"},
    {"standardize": None},
    {"split": "character", "max_tokens": 12},
    {"ngrams": 2},
    {"ngrams": (1, 3), "max_tokens": 20},
    {"output_mode": "multi_hot"},
    {"output_mode": "count", "max_tokens": 7},
    {"output_mode": "tf_idf"},
    {"output_mode": "multi_hot", "max_tokens": 10, "pad_to_max_tokens": True},
])
def test_text_vectorization_adapt_and_call_match_keras(kwargs):
    k, m = keras.layers.TextVectorization(**kwargs), L.TextVectorization(**kwargs)
    k.adapt(TEXTS)
    m.adapt(TEXTS)
    assert vocab(m) == vocab(k)
    assert m.vocabulary_size() == k.vocabulary_size()
    queries = ["the dog and the cat", "unknown words only", "École été, the END!", ""]
    same(m(queries), k(queries))
    same(m(np.array(queries)[:, None]), k(np.array(queries)[:, None]))


def test_text_vectorization_inputs_like_keras():
    k, m = keras.layers.TextVectorization(), L.TextVectorization()
    k.adapt(np.array(TEXTS)[:, None])                # (batch, 1) arrays
    m.adapt(np.array(TEXTS)[:, None])
    assert vocab(m) == vocab(k)
    same(m("a scalar text of the cat"), k("a scalar text of the cat"))
    same(m(np.array([b"bytes the", b"cat"])), k(np.array([b"bytes the", b"cat"])))
    same(m(tf.constant(["from a tf tensor, the cat"])), k(tf.constant(["from a tf tensor, the cat"])))


def test_text_vectorization_adapts_on_datasets_and_generators():
    k = keras.layers.TextVectorization(max_tokens=9)
    k.adapt(tf.data.Dataset.from_tensor_slices(TEXTS).batch(2))
    m1, m2, m3 = (L.TextVectorization(max_tokens=9) for _ in range(3))
    m1.adapt(tf.data.Dataset.from_tensor_slices(TEXTS).batch(2))
    m2.adapt(TEXTS[k:k + 2] for k in range(0, len(TEXTS), 2))
    m3.adapt(tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).repeat(), steps=3)
    assert vocab(m1) == vocab(m2) == vocab(m3) == vocab(k)


def test_text_vectorization_given_vocabulary_like_keras():
    words = ["cat", "the", "dog", "mat"]
    k, m = (lib.layers.TextVectorization(vocabulary=words, output_sequence_length=4) for lib in (keras, mk))
    assert vocab(m) == vocab(k) == ["", "[UNK]"] + words
    same(m(["The dog, the bird"]), k(["The dog, the bird"]))
    with pytest.raises(ValueError, match="after setting a static vocabulary"):
        m.adapt(TEXTS)


def test_text_vectorization_feeds_an_embedding_model_like_keras():
    """The tf.data way: texts vectorized in the pipeline, integer sequences into Embedding + LSTM."""
    rng = np.random.default_rng(0)

    def build(lib):
        vectorize = lib.layers.TextVectorization(max_tokens=30, output_sequence_length=8)
        vectorize.adapt(TEXTS)
        model = lib.Sequential([lib.Input(shape=(8,)), lib.layers.Embedding(30, 4, mask_zero=True),
                                lib.layers.LSTM(3), lib.layers.Dense(1)])
        return vectorize, model
    (kv, km), (mv, mm) = build(keras), build(mk)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in km.get_weights()]
    km.set_weights(weights)
    mm.set_weights(weights)
    ids_k, ids_m = kv(TEXTS).numpy(), mv(TEXTS)
    np.testing.assert_array_equal(ids_m, ids_k)
    np.testing.assert_allclose(mm.predict(ids_m, verbose=0), km.predict(ids_k, verbose=0), atol=1e-5)


# -- StringLookup / IntegerLookup ------------------------------------------------------------------
DATA = np.array([["a", "b", "b", "c"], ["c", "b", "a", "d"], ["e", "b", "zz", "a"]])


@pytest.mark.parametrize("kwargs", [
    {}, {"max_tokens": 4}, {"mask_token": "a"}, {"num_oov_indices": 0, "max_tokens": 6}, {"oov_token": "?"},
    {"output_mode": "one_hot"}, {"output_mode": "multi_hot"}, {"output_mode": "count", "mask_token": "b"},
    {"output_mode": "tf_idf"}, {"output_mode": "count", "max_tokens": 8, "pad_to_max_tokens": True},
])
def test_string_lookup_matches_keras(kwargs):
    k, m = keras.layers.StringLookup(**kwargs), L.StringLookup(**kwargs)
    k.adapt(DATA)
    m.adapt(DATA)
    assert vocab(m) == vocab(k)
    queries = [np.array([["a", "e", "q"], ["b", "b", "c"]]), np.array(["c", "d"])]
    if kwargs.get("output_mode", "int") != "one_hot" and kwargs.get("num_oov_indices") != 0:
        queries.append(np.array([["b"], ["zz"]]))
    for q in queries:
        if kwargs.get("num_oov_indices") == 0:
            q = np.where(np.isin(q, vocab(k)), q, "a")
        same(m(q), k(q))


def test_string_lookup_invert_matches_keras():
    words = ["x", "y", "z"]
    for kwargs in ({}, {"mask_token": "M"}):
        k = keras.layers.StringLookup(vocabulary=words, invert=True, **kwargs)
        m = L.StringLookup(vocabulary=words, invert=True, **kwargs)
        ids = np.array([[0, 1, 2], [3, 4, 9]])
        same(m(ids), k(ids))


@pytest.mark.parametrize("kwargs", [
    {}, {"num_oov_indices": 3}, {"mask_token": 0}, {"max_tokens": 4}, {"output_mode": "multi_hot"},
    {"oov_token": -7, "output_mode": "count"},
])
def test_integer_lookup_matches_keras(kwargs):
    data = np.array([[5, 7, 7, 9], [12, 7, 5, 0], [9, 9, 9, 3]])
    k, m = keras.layers.IntegerLookup(**kwargs), L.IntegerLookup(**kwargs)
    k.adapt(data)
    m.adapt(data)
    assert vocab(m) == vocab(k)
    q = np.array([[5, 100, 0], [-4, 9, 13]])
    same(m(q), k(q))


def test_integer_lookup_vocabulary_and_invert_like_keras():
    k = keras.layers.IntegerLookup(vocabulary=[12, 36, 1138], num_oov_indices=2)
    m = L.IntegerLookup(vocabulary=[12, 36, 1138], num_oov_indices=2)
    assert vocab(m) == vocab(k)
    same(m(np.array([12, 13, 14, 1138, -3])), k(np.array([12, 13, 14, 1138, -3])))
    ki, mi = (lib.layers.IntegerLookup(vocabulary=[12, 36], invert=True) for lib in (keras, mk))
    same(mi(np.array([0, 1, 2, 5])), ki(np.array([0, 1, 2, 5])))


def test_lookup_vocabulary_file_and_tf_idf_weights(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("the\ncat\nsat\n", encoding="utf-8")
    for lib in (keras, mk):
        layer = lib.layers.StringLookup(vocabulary=str(path))
        assert vocab(layer) == ["[UNK]", "the", "cat", "sat"]
    k = keras.layers.StringLookup(vocabulary=["a", "b", "c"], idf_weights=[0.5, 1.0, 2.0], output_mode="tf_idf")
    m = L.StringLookup(vocabulary=["a", "b", "c"], idf_weights=[0.5, 1.0, 2.0], output_mode="tf_idf")
    q = np.array([["a", "b", "a"], ["z", "c", "c"]])
    same(m(q), k(q))


def test_lookups_like_keras_on_lists_files_and_one_dimensional_adapt(tmp_path):
    """A 1-D adapt batch is one document per token (tf_idf); invert on a list of indices; an
    IntegerLookup vocabulary file; an OOV token inside the vocabulary when not inverting."""
    for make in (lambda lib: lib.layers.IntegerLookup(output_mode="tf_idf"),
                 lambda lib: lib.layers.StringLookup(output_mode="tf_idf")):
        k, m = make(keras), make(mk)
        data = [1, 1, 1, 2, 2, 3] if isinstance(m, L.IntegerLookup) else ["a", "a", "a", "b", "b", "c"]
        k.adapt(data)
        m.adapt(data)
        same(m(data[::2]), k(data[::2]))
    same(L.StringLookup(vocabulary=["a", "b"], invert=True)([1, 2, 0]),
         keras.layers.StringLookup(vocabulary=["a", "b"], invert=True)([1, 2, 0]))
    path = tmp_path / "ints.txt"
    path.write_text("10\n20\n30\n", encoding="utf-8")
    q = np.array([10, 20, 30, 999])
    same(L.IntegerLookup(vocabulary=str(path))(q), keras.layers.IntegerLookup(vocabulary=str(path))(q))
    k, m = (lib.layers.IntegerLookup(vocabulary=[1, 2, 3], oov_token=1, mask_token=0) for lib in (keras, mk))
    assert vocab(m) == vocab(k)
    same(m(np.array([0, 1, 3, 7])), k(np.array([0, 1, 3, 7])))


def test_text_vectorization_functions_no_split_and_string_models_like_keras():
    """Standardize/split functions returning TensorFlow strings; split=None; a string Input of
    shape (1,) given (batch,) texts; a Sequential built by its first call on texts."""
    def dashes(t):
        return tf.strings.regex_replace(t, "-", " ")

    def bars(t):
        return tf.strings.split(t, sep="|")
    for kwargs, texts in (({"standardize": dashes}, ["foo-bar baz"]), ({"split": bars}, ["foo|bar", "bar"]),
                          ({"split": None}, [["foo"], ["bar"], ["unknown"]])):
        k, m = (lib.layers.TextVectorization(vocabulary=["foo", "bar", "baz"], **kwargs) for lib in (keras, mk))
        same(m(texts), k(texts))
    texts = np.array(["foo bar", "bar baz", "baz bada boom"])
    models = {}
    for lib in (keras, mk):
        layer = lib.layers.TextVectorization(output_mode="tf_idf", ngrams=2)
        layer.adapt(texts)
        models[lib] = lib.Sequential([lib.layers.Input(dtype="string", shape=(1,)), layer])
    same(models[mk](texts), models[keras](texts))
    built = {}
    for lib in (keras, mk):
        layer = lib.layers.TextVectorization(max_tokens=10, output_sequence_length=3)
        layer.set_vocabulary(["baz", "bar", "foo"])
        built[lib] = lib.Sequential([layer])
    same(built[mk](np.array([["foo qux bar"], ["qux baz"]])), built[keras](np.array([["foo qux bar"], ["qux baz"]])))


@pytest.mark.parametrize("make, message", [
    (lambda: L.StringLookup(max_tokens=1), "max_tokens must be an integer greater than 1"),
    (lambda: L.StringLookup(output_mode="nope"), "output_mode must be one of"),
    (lambda: L.StringLookup(invert=True, output_mode="count"), "must be 'int' when invert"),
    (lambda: L.StringLookup(vocabulary=["a", "a"]), r"repeated terms \['a'\]"),
    (lambda: L.StringLookup(vocabulary=["a", "[UNK]"], invert=True), "reserved oov_token"),
    (lambda: L.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3), "larger than max_tokens=3"),
    (lambda: L.StringLookup(pad_to_max_tokens=True), "needs max_tokens"),
    (lambda: L.TextVectorization(output_mode="count", output_sequence_length=3), "output_sequence_length"),
    (lambda: L.TextVectorization(ragged=True), "ragged=True is not supported"),
    (lambda: L.TextVectorization(split="words"), "split must be"),
])
def test_bad_arguments_name_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs():
    layer = L.StringLookup(vocabulary=["a"], num_oov_indices=0, name="lk")
    with pytest.raises(ValueError, match=r"Layer 'lk' \(StringLookup\): when num_oov_indices=0 all inputs "
                                         r"should be in the vocabulary, found OOV values \['b'\]"):
        layer(np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"\(IntegerLookup\) expects integers, received 1.5"):
        L.IntegerLookup(vocabulary=[1, 2])(np.array([1.5]))
    with pytest.raises(ValueError, match=r"\(TextVectorization\) expects strings, received dtype float"):
        L.TextVectorization()(np.zeros(3))
    with pytest.raises(ValueError, match=r"rank 1 or have a last axis of 1, received shape \(2, 2\)"):
        L.TextVectorization()(np.array([["a", "b"], ["c", "d"]]))
    # several OOV indices: unknown strings hashed into them as Keras does (tests/test_hashing.py)
    x = np.array(["z", "a", "y", "x"])
    same(L.StringLookup(vocabulary=["a"], num_oov_indices=2)(x),
         keras.layers.StringLookup(vocabulary=["a"], num_oov_indices=2)(x))


def test_configs_round_trip_with_the_vocabulary():
    tv = L.TextVectorization(max_tokens=12, output_sequence_length=6, ngrams=2)
    tv.adapt(TEXTS)
    again = L.TextVectorization.from_config(tv.get_config())
    assert again.get_vocabulary() == tv.get_vocabulary()
    np.testing.assert_array_equal(again(TEXTS), tv(TEXTS))
    again.adapt(["fresh words fresh"])                    # a learned vocabulary may be learned again
    assert again.get_vocabulary() == ["", "[UNK]", "fresh", "words fresh", "words", "fresh words"]
    for layer in (L.StringLookup(output_mode="tf_idf"), L.IntegerLookup(mask_token=0)):
        layer.adapt(DATA if isinstance(layer, L.StringLookup) else np.array([[1, 2, 2], [0, 3, 3]]))
        again = type(layer).from_config(layer.get_config())
        assert again.get_vocabulary() == layer.get_vocabulary()
        q = DATA if isinstance(layer, L.StringLookup) else np.array([[1, 0, 7]])
        np.testing.assert_array_equal(again(q), layer(q))


def test_minirnn_file_keeps_the_vocabulary(tmp_path):
    lookup = L.IntegerLookup(max_tokens=5)
    lookup.adapt(np.array([4, 4, 8, 8, 8, 15, 16, 23]))
    model = mr.Sequential([mr.Input(shape=(3,)), lookup, L.Embedding(5, 2)])
    model.save(tmp_path / "m.minirnn")
    loaded = mr.load_model(tmp_path / "m.minirnn")
    assert loaded.layers[0].get_vocabulary() == lookup.get_vocabulary()
    x = np.array([[4, 8, 99], [16, 15, 4]])
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_integer_lookup_in_keras_files_both_ways(tmp_path):
    """Keras writes an adapted vocabulary as assets/<layer>/vocabulary.txt; minirnn writes it in the
    config (has_input_vocabulary=False, so it may be adapted again), which Keras reads as well."""
    ids = np.array([[4, 8, 8], [15, 16, 23], [4, 4, 42]])
    theirs = keras.Sequential([keras.Input(shape=(3,)), keras.layers.IntegerLookup(max_tokens=6),
                               keras.layers.Embedding(6, 2)])
    theirs.layers[0].adapt(ids)
    theirs.save(tmp_path / "k.keras")
    ours = mr.load_model(tmp_path / "k.keras")
    assert vocab(ours.layers[0]) == vocab(theirs.layers[0]) == [-1, 4, 8, 42, 23, 16]
    np.testing.assert_array_equal(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0))
    ours.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert vocab(again.layers[0]) == vocab(ours.layers[0])
    np.testing.assert_array_equal(again.predict(ids, verbose=0), ours.predict(ids, verbose=0))
    again.layers[0].adapt(np.array([7, 7, 9]))                # Keras may adapt it again, as minirnn may
    ours.layers[0].adapt(np.array([7, 7, 9]))
    assert vocab(again.layers[0]) == vocab(ours.layers[0]) == [-1, 7, 9]
