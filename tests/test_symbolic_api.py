"""Symbolic attributes and arguments as Keras programs use them: model.input / layer.output
(seq2seq inference models), symbolic mask= and initial_state= (and their .keras form both
ways), integer and string inputs."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

import minirnn.keras as mk  # noqa: E402


def seq2seq(k, latent=4, n_in=3, n_out=5):
    enc_in = k.Input((None, n_in))
    _, h, c = k.layers.LSTM(latent, return_state=True)(enc_in)
    dec_in = k.Input((None, n_out))
    dec_seq, _, _ = k.layers.LSTM(latent, return_sequences=True, return_state=True)(dec_in, initial_state=[h, c])
    out = k.layers.Dense(n_out, activation="softmax")(dec_seq)
    return k.Model([enc_in, dec_in], out)


def inference_models(k, model, latent=4):
    """The Keras seq2seq example's inference models, built from the trained model's attributes."""
    encoder_inputs = model.input[0]
    _, state_h, state_c = model.layers[2].output
    encoder = k.Model(encoder_inputs, [state_h, state_c])
    decoder_inputs = model.input[1]
    h_in, c_in = k.Input((latent,)), k.Input((latent,))
    decoder_lstm = model.layers[3]
    seq, h, c = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    out = model.layers[4](seq)
    decoder = k.Model([decoder_inputs, h_in, c_in], [out, h, c])
    return encoder, decoder


def test_seq2seq_inference_models_from_input_and_output_match_keras(tmp_path):
    rng = np.random.default_rng(0)
    km, mm = seq2seq(keras), seq2seq(mk)
    assert [type(layer).__name__ for layer in mm.layers] == [type(layer).__name__ for layer in km.layers]
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    src = rng.standard_normal((2, 6, 3)).astype("float32")
    tgt = rng.standard_normal((2, 4, 5)).astype("float32")
    np.testing.assert_allclose(mm.predict([src, tgt], verbose=0), km.predict([src, tgt], verbose=0), atol=1e-5)
    k_enc, k_dec = inference_models(keras, km)
    m_enc, m_dec = inference_models(mk, mm)
    states = m_enc.predict(src, verbose=0)
    for a, b in zip(states, k_enc.predict(src, verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(m_dec.predict([tgt[:, :1]] + states, verbose=0),
                    k_dec.predict([tgt[:, :1]] + [np.asarray(s) for s in states], verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # initial_state= in a .keras file, both ways
    path = str(tmp_path / "s2s.keras")
    mm.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict([src, tgt], verbose=0),
                               mm.predict([src, tgt], verbose=0), atol=1e-5)
    path2 = str(tmp_path / "k.keras")
    km.save(path2)
    np.testing.assert_allclose(mk.models.load_model(path2).predict([src, tgt], verbose=0),
                               km.predict([src, tgt], verbose=0), atol=1e-5)


def masked(k):
    x = k.Input((None, 2))
    m = k.Input((None,), dtype="bool")
    y = k.layers.GRU(3, return_sequences=True)(x, mask=m)
    return k.Model([x, m], k.layers.Dense(1)(y))


def test_symbolic_mask_matches_keras_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    km, mm = masked(keras), masked(mk)
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    expected = km.predict([x, mask], verbose=0)
    np.testing.assert_allclose(mm.predict([x, mask], verbose=0), expected, atol=1e-5)
    path = str(tmp_path / "m.keras")
    mm.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict([x, mask], verbose=0), expected, atol=1e-5)
    path2 = str(tmp_path / "k.keras")
    km.save(path2)
    np.testing.assert_allclose(mk.models.load_model(path2).predict([x, mask], verbose=0), expected, atol=1e-5)
    path3 = str(tmp_path / "m.minirnn")
    mm.save(path3)
    np.testing.assert_allclose(mk.models.load_model(path3).predict([x, mask], verbose=0), expected, atol=1e-5)
    mm.compile("sgd", "mse")
    km.compile(keras.optimizers.SGD(0.1), "mse")
    mm.compile(mk.optimizers.SGD(0.1), "mse")
    y = rng.standard_normal((3, 5, 1)).astype("float32")
    mm.train_on_batch([x, mask], y)
    km.train_on_batch([x, mask], y)
    for a, b in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)


def test_symbolic_keras_mask_and_layer_attributes():
    ids = mk.Input((None,), dtype="int32")
    emb = mk.layers.Embedding(10, 4, mask_zero=True)
    x = emb(ids)
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    lstm = mk.layers.LSTM(3)
    y = lstm(x)
    assert y._keras_mask is None                     # the LSTM consumes the mask
    assert lstm.input is x and lstm.output is y and emb.input is ids
    model = mk.Model(ids, y)
    assert model.input is ids and model.output is y
    k_ids = keras.Input((None,), dtype="int32")
    k_x = keras.layers.Embedding(10, 4, mask_zero=True)(k_ids)
    assert k_x._keras_mask is not None and getattr(keras.layers.LSTM(3)(k_x), "_keras_mask", None) is None


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_inputs_end_to_end_and_in_keras_files(tmp_path, dtype):
    rng = np.random.default_rng(2)

    def build(k):
        inp = k.Input((5,), dtype=dtype)
        return k.Model(inp, k.layers.Dense(1)(k.layers.LSTM(4)(k.layers.Embedding(10, 3)(inp))))
    km, mm = build(keras), build(mk)
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    ids = rng.integers(0, 10, (6, 5)).astype(dtype)
    mm.compile("adam", "mse")
    mm.fit(ids, np.zeros((6, 1)), epochs=1, verbose=0)
    path = str(tmp_path / "int.keras")
    mm.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.inputs[0].dtype == dtype
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), mm.predict(ids, verbose=0), atol=1e-5)
    path2 = str(tmp_path / "back.keras")
    loaded.save(path2)
    again = mk.models.load_model(path2)
    assert again.inputs[0].dtype == dtype
    for a, b in zip(again.get_weights(), mm.get_weights()):
        np.testing.assert_array_equal(a, b)


VOCABULARY = ["the", "cat", "sat", "mat"]
TEXT = [["the", "cat", "sat"], ["a", "mat", ""], ["cat", "cat", "the"]]


def words():
    """TEXT as Keras takes it: a tf.string tensor (its predict refuses NumPy string arrays)."""
    import tensorflow as tf
    return tf.constant(TEXT)


def string_model(k):
    """Input(dtype="string") read by a StringLookup, then Embedding, GRU and Dense."""
    inp = k.Input((3,), dtype="string")
    ids = k.layers.StringLookup(vocabulary=VOCABULARY)(inp)
    h = k.layers.GRU(4)(k.layers.Embedding(len(VOCABULARY) + 1, 3)(ids))
    return k.Model(inp, k.layers.Dense(1)(h))


def test_string_inputs_end_to_end_and_in_keras_files(tmp_path):
    import tensorflow as tf
    km, mm = string_model(keras), string_model(mk)
    assert mm.inputs[0].dtype == km.inputs[0].dtype == "string"
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    want = km.predict(words(), verbose=0)
    for text in (np.array(TEXT), np.array(TEXT, dtype=object), np.array(TEXT, dtype=bytes), tf.constant(TEXT)):
        np.testing.assert_allclose(mm.predict(text, verbose=0), want, rtol=1e-5, atol=1e-6)
    y = np.array([[1.0], [-1.0], [0.5]], "float32")
    for m in (km, mm):
        m.compile(keras.optimizers.SGD(0.1) if m is km else mk.optimizers.SGD(0.1), "mse")
    theirs = km.fit(words(), y, batch_size=3, epochs=2, shuffle=False, verbose=0).history["loss"]
    ours = mm.fit(np.array(TEXT), y, batch_size=3, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    for a, b in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    mm.save(tmp_path / "ours.keras")
    loaded = keras.models.load_model(tmp_path / "ours.keras")
    assert loaded.inputs[0].dtype == "string"
    np.testing.assert_allclose(loaded.predict(words(), verbose=0), mm.predict(np.array(TEXT), verbose=0),
                               rtol=1e-5, atol=1e-6)
    km.save(tmp_path / "theirs.keras")
    again = mk.models.load_model(tmp_path / "theirs.keras")
    assert again.inputs[0].dtype == "string"
    np.testing.assert_allclose(again.predict(np.array(TEXT), verbose=0), km.predict(words(), verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_string_input_reaches_a_custom_layer():
    """A custom layer on Input(dtype="string") that looks words up with a StringLookup it holds,
    as Keras programs write it (keras.ops has no string operations)."""
    def build(k):
        class Words(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.lookup = k.layers.StringLookup(vocabulary=VOCABULARY)

            def call(self, inputs):
                return self.lookup(inputs)

        inp = k.Input((3,), dtype="string")
        return k.Model(inp, k.layers.Dense(1)(k.layers.Flatten()(k.layers.Embedding(5, 2)(Words()(inp)))))
    km, mm = build(keras), build(mk)
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    np.testing.assert_allclose(mm.predict(np.array(TEXT), verbose=0), km.predict(words(), verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", ["Dense", "Embedding", "LSTM"])
def test_a_string_tensor_into_a_numeric_layer_is_refused(layer):
    """Keras builds the model and fails at its first predict; minirnn says so while it is built."""
    def call(k):
        made = {"Dense": lambda: k.layers.Dense(2), "Embedding": lambda: k.layers.Embedding(5, 2),
                "LSTM": lambda: k.layers.LSTM(2)}[layer]()
        inp = k.Input((3,) if layer != "LSTM" else (3, 1), dtype="string")
        return k.Model(inp, made(inp))
    import tensorflow as tf
    with pytest.raises(Exception):                   # noqa: B017  its error depends on Keras's backend
        call(keras).predict(tf.constant([["1", "2", "3"]] if layer != "LSTM" else [[["1"], ["2"], ["3"]]]),
                            verbose=0)
    with pytest.raises(ValueError, match=rf"\({layer}\) takes numbers, received a string tensor of shape "
                                         rf"\(None, 3.*StringLookup, TextVectorization"):
        call(mk)


def test_a_custom_layer_with_tf_strings_ops_on_a_string_input_like_keras():
    """A Keras program on the TensorFlow backend may read text with tf.strings in a custom call:
    minirnn hands the call NumPy strings, which TensorFlow's ops take (inference only: no weights
    come before it)."""
    import tensorflow as tf

    def build(k):
        class Lengths(k.layers.Layer):
            def call(self, inputs):
                return tf.cast(tf.strings.length(inputs), "float32")[:, :, None]

        inp = k.Input((3,), dtype="string")
        return k.Model(inp, k.layers.Dense(2)(Lengths()(inp)))
    km, mm = build(keras), build(mk)
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    want = km.predict(words(), verbose=0)
    np.testing.assert_allclose(mm.predict(np.array(TEXT), verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(mm.predict(words(), verbose=0), want, rtol=1e-6)
