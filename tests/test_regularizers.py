"""Regularizers (losses added to the training loss, as Keras), constraints (applied after each
update), and the small layer API items Keras programs rely on; checked against Keras from copied
weights."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

import minirnn.keras as mk  # noqa: E402


def build(k):
    inp = k.Input((5, 3))
    h = k.layers.LSTM(4, return_sequences=True, kernel_regularizer=k.regularizers.l2(0.01),
                      recurrent_regularizer=k.regularizers.l1(0.02), bias_regularizer=k.regularizers.l1_l2(0.01, 0.03),
                      activity_regularizer=k.regularizers.L2(0.05), kernel_constraint=k.constraints.MaxNorm(0.3),
                      recurrent_constraint=k.constraints.UnitNorm(), implementation=2, use_cudnn=False)(inp)
    h = k.layers.GRU(3, bias_constraint=k.constraints.NonNeg(),
                     kernel_constraint=k.constraints.MinMaxNorm(0.1, 0.5, rate=0.7))(h)
    out = k.layers.Dense(2, kernel_regularizer="l2", kernel_constraint=k.constraints.NonNeg())(h)
    return k.Model(inp, out)


def test_penalties_and_constraints_match_keras_over_two_sgd_steps(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5, 3)).astype("float32")
    y = rng.standard_normal((6, 2)).astype("float32")
    km, mm = build(keras), build(mk)
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    km.compile(keras.optimizers.SGD(0.1), "mse")
    mm.compile(mk.optimizers.SGD(0.1), "mse")
    np.testing.assert_allclose(mm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0), rtol=1e-5)
    for _ in range(2):
        np.testing.assert_allclose(mm.train_on_batch(x, y), float(km.train_on_batch(x, y)), rtol=1e-5)
    for a, b in zip(mm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)
    # the settings survive minirnn's file and Keras's, both ways
    path = str(tmp_path / "m.minirnn")
    mm.save(path)
    again = mk.models.load_model(path)
    assert again.get_config() == mm.get_config()
    kpath = str(tmp_path / "m.keras")
    mm.save(kpath)
    loaded = keras.models.load_model(kpath)
    assert loaded.layers[1].kernel_regularizer.get_config() == {"l2": 0.01}
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), mm.evaluate(x, y, verbose=0), rtol=1e-5)


def test_weight_penalty_of_a_custom_layer_counts():
    class Scaled(mk.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     regularizer=mk.regularizers.l2(0.5), constraint=mk.constraints.NonNeg())

        def call(self, inputs):
            return inputs * self.w

    model = mk.Sequential([mk.Input((2,)), Scaled()])
    model.compile(mk.optimizers.SGD(0.1), "mse")
    x = np.ones((4, 2), "float32")
    # loss = mse(w - 1 = 0) + 0.5 * sum(w^2) = 1.0
    assert model.evaluate(x, x, verbose=0) == pytest.approx(1.0)
    model.train_on_batch(x, x)                          # dR/dw = w = 1: w -> 0.9
    np.testing.assert_allclose(model.get_weights()[0], [0.9, 0.9], rtol=1e-6)


def test_reset_state_supports_masking_and_float_ids():
    layer = mk.layers.Bidirectional(mk.layers.LSTM(2, stateful=True, return_sequences=True))
    x = np.ones((1, 3, 2), "float32")
    first = layer(x)
    assert not np.allclose(layer(x), first)
    layer.reset_state()
    np.testing.assert_allclose(layer(x), first)
    assert layer.supports_masking == keras.layers.Bidirectional(keras.layers.LSTM(2)).supports_masking is True
    lstm = mk.layers.LSTM(2, stateful=True)
    lstm(x)
    lstm.reset_state()
    assert lstm.states is None
    emb, k_emb = mk.layers.Embedding(5, 2), keras.layers.Embedding(5, 2)
    ids = np.array([[1.0, 2.7, 0.2]], "float32")
    k_emb(ids)
    emb(ids)
    emb.set_weights([np.asarray(w) for w in k_emb.get_weights()])
    np.testing.assert_allclose(emb(ids), np.asarray(k_emb(ids)))


def test_serialization_functions_round_trip():
    dense = mk.layers.Dense(3, kernel_regularizer=mk.regularizers.L1L2(0.1, 0.2))
    again = mk.layers.deserialize(mk.layers.serialize(dense))
    assert again.get_config()["kernel_regularizer"] == dense.get_config()["kernel_regularizer"]
    for obj in (mk.regularizers.L2(0.3), mk.constraints.MaxNorm(1.5), mk.initializers.Orthogonal(gain=2.0)):
        entry = mk.saving.serialize_keras_object(obj)
        assert type(mk.saving.deserialize_keras_object(entry)) is type(obj)
        # Keras reads what minirnn writes
        k_obj = keras.saving.deserialize_keras_object(entry)
        assert k_obj.get_config() == obj.get_config() or type(k_obj).__name__ == type(obj).__name__


def test_penalties_given_after_training_began_still_count(tmp_path):
    """A step skips looking for penalties only while none was ever given in the process: one
    given later (to a new layer, or to an existing weight) counts from the next step on."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np
        import minirnn.keras as mk
        from minirnn.layers.base import Layer

        x = np.random.default_rng(0).normal(size=(8, 5, 2)).astype("float32")
        y = x[:, -1, :1]
        plain = mk.Sequential([mk.Input((5, 2)), mk.layers.LSTM(3), mk.layers.Dense(1)])
        plain.compile(optimizer=mk.optimizers.SGD(0.0), loss="mse")
        plain.fit(x, y, epochs=1, verbose=0)
        assert not Layer.penalties_anywhere()

        class Scale(mk.layers.Layer):
            def build(self, shape):
                self.w = self.add_weight(shape=(shape[-1],), initializer="ones")
            def call(self, v):
                return v * self.w

        scaled = mk.Sequential([mk.Input((5, 2)), Scale(), mk.layers.LSTM(3), mk.layers.Dense(1)])
        scaled.compile(optimizer=mk.optimizers.SGD(0.5), loss="mse")
        scaled.fit(x, y, epochs=1, verbose=0)
        assert not Layer.penalties_anywhere()
        w = scaled.layers[0].w
        w[...] = -1.0
        w.constraint = mk.constraints.NonNeg()          # given to a weight that exists already
        assert Layer.penalties_anywhere()
        scaled.train_on_batch(x, y)
        assert (np.asarray(w) >= 0).all(), np.asarray(w)

        penalized = mk.Sequential([mk.Input((5, 2)), mk.layers.LSTM(3, kernel_regularizer=mk.regularizers.L2(0.5)),
                                   mk.layers.Dense(1)])
        penalized.compile(optimizer=mk.optimizers.SGD(0.0), loss="mse")
        penalized.set_weights(plain.get_weights())
        kernel = np.asarray(penalized.layers[0].get_weights()[0])
        expected = plain.evaluate(x, y, verbose=0) + 0.5 * float(np.sum(kernel.astype("float64") ** 2))
        np.testing.assert_allclose(penalized.train_on_batch(x, y), expected, rtol=1e-5)
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                       os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
