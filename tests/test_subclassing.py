"""Keras 3's subclassing API: layers with add_weight and a traced call(), subclassed models,
both inside functional models and Sequential; checked against Keras itself (outputs and one SGD
step from copied weights) and against central differences (float64)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

import minirnn as mr  # noqa: E402
import minirnn.keras as mk  # noqa: E402


def make_linear(k):
    """The same custom layer written against `k` (keras or minirnn.keras)."""
    class Linear(k.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal")
            self.scale = self.add_weight(shape=(), initializer="ones", trainable=False)

        def call(self, inputs):
            h = k.ops.matmul(inputs, self.w) + self.b
            return k.ops.tanh(h) * self.scale + k.ops.square(inputs[:, :1]) / 2.0

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return Linear


def make_model(k):
    class Encoder(k.Model):
        def __init__(self, units=6, **kwargs):
            super().__init__(**kwargs)
            self.lstm = k.layers.LSTM(units, return_sequences=True, return_state=True)
            self.dense = k.layers.Dense(2)

        def call(self, x, training=False):
            seq, h, c = self.lstm(x)
            pooled = k.ops.mean(seq, axis=1)
            return self.dense(k.ops.concatenate([pooled, h * c], axis=-1))
    return Encoder


def one_step(k, model, x, y):
    model.compile(optimizer=k.optimizers.SGD(learning_rate=0.5), loss="mse")
    model.train_on_batch(x, y)
    return [np.asarray(w) for w in model.get_weights()]


def test_custom_layer_matches_keras_forward_and_sgd_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3)).astype("float32")
    y = rng.standard_normal((5, 4)).astype("float32")
    kl, ml = make_linear(keras)(4), make_linear(mk)(4)
    kl(x)
    ml(x)
    assert len(ml.weights) == len(kl.weights) == 3
    assert len(ml.trainable_weights) == 2 and len(ml.non_trainable_weights) == 1
    ml.set_weights([np.asarray(w) for w in kl.get_weights()])
    np.testing.assert_allclose(ml(x), np.asarray(kl(x)), rtol=1e-5, atol=1e-6)
    km = keras.Sequential([keras.Input((3,)), kl])
    mm = mk.Sequential([mk.Input((3,)), ml])
    for a, b in zip(one_step(mk, mm, x, y), one_step(keras, km, x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_subclassed_model_matches_keras_forward_and_sgd_step():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 3)).astype("float32")
    y = rng.standard_normal((4, 2)).astype("float32")
    km, mm = make_model(keras)(6), make_model(mk)(6)
    km(x)
    mm(x)
    assert [w.shape for w in mm.weights] == [tuple(w.shape) for w in km.weights]
    mm.set_weights([np.asarray(w) for w in km.get_weights()])
    np.testing.assert_allclose(mm(x), np.asarray(km(x)), rtol=1e-5, atol=1e-5)
    for a, b in zip(one_step(mk, mm, x, y), one_step(keras, km, x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_traced_layer_and_model_gradients_float64(float64):
    rng = np.random.default_rng(2)
    layer = make_linear(mk)(3)
    x = rng.standard_normal((4, 3))
    layer(x)
    mr.gradcheck(layer, x)
    model = make_model(mk)(3)
    xs = rng.standard_normal((2, 4, 3))
    model(xs)
    model.compile(optimizer="sgd", loss="mse")
    mr.gradcheck(model, xs, rng.standard_normal((2, 2)), loss="mse")


def test_call_without_training_argument_and_auto_config_round_trip(tmp_path):
    class Scale(mk.layers.Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):                 # no training=, no mask=
            return inputs * self.factor

    inp = mk.Input((None, 2))
    x = Scale(3.0)(inp)
    out = mk.layers.LSTM(2)(x)
    model = mk.Model(inp, out)
    data = np.ones((2, 3, 2), "float32")
    assert Scale(2.0).get_config()["factor"] == 2.0
    path2 = str(tmp_path / "m.minirnn")
    model.save(path2)
    again = mr.load_model(path2, custom_objects={"Scale": Scale})
    np.testing.assert_allclose(again.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)


def test_untraceable_operation_is_named():
    class Bad(mk.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],))

        def call(self, inputs):
            return np.tanh(inputs * self.w)

    model = mk.Sequential([mk.Input((3,)), Bad(name="bad")])
    model.compile("sgd", "mse")
    x = np.ones((2, 3), "float32")
    assert model.predict(x, verbose=0).shape == (2, 3)          # inference needs no trace
    with pytest.raises(TypeError, match=r"Layer 'bad' \(Bad\).*np\.tanh\(inputs \* self\.w\)"):
        model.fit(x, x, epochs=1, verbose=0)


def test_masks_ride_on_eager_and_symbolic_outputs():
    class Passing(mk.layers.Layer):
        supports_masking = True

        def call(self, inputs, mask=None):
            self.seen = mask
            return inputs * 1.0

    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    emb = mk.layers.Embedding(5, 2, mask_zero=True)
    out = emb(ids)
    np.testing.assert_array_equal(out._keras_mask, ids != 0)
    passing = Passing()
    y = passing(out)
    np.testing.assert_array_equal(passing.seen, ids != 0)
    np.testing.assert_array_equal(y._keras_mask, ids != 0)
    k_out = keras.layers.Embedding(5, 2, mask_zero=True)(ids)
    np.testing.assert_array_equal(out._keras_mask, np.asarray(k_out._keras_mask))


def test_custom_layer_in_keras_files_both_ways(tmp_path):
    class_body = {}
    for k in (keras, mk):
        class Scale(k.layers.Layer):
            def __init__(self, factor=1.0, **kwargs):
                super().__init__(**kwargs)
                self.factor = factor

            def build(self, input_shape):
                self.alpha = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="alpha")

            def call(self, inputs):
                return inputs * self.alpha * self.factor

            def get_config(self):
                return {**super().get_config(), "factor": self.factor}
        class_body[k] = Scale
    rng = np.random.default_rng(5)
    data = rng.standard_normal((2, 3, 2)).astype("float32")
    inp = mk.Input((3, 2))
    model = mk.Model(inp, mk.layers.LSTM(2)(class_body[mk](2.5)(inp)))
    model.layers[1].set_weights([np.array([0.5, -1.5], "float32")])
    path = str(tmp_path / "m.keras")
    model.save(path)
    theirs = keras.models.load_model(path, custom_objects={"Scale": class_body[keras]})
    np.testing.assert_allclose(np.asarray(theirs.predict(data, verbose=0)), model.predict(data, verbose=0),
                               rtol=1e-5, atol=1e-6)
    path2 = str(tmp_path / "k.keras")
    theirs.save(path2)
    ours = mk.models.load_model(path2, custom_objects={"Scale": class_body[mk]})
    np.testing.assert_allclose(ours.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)
    assert ours.layers[1].factor == 2.5


def make_wrapper(k):
    """A user's keras.layers.Wrapper subclass: the wrapped Dense, then a gate of the inputs."""
    class Gated(k.layers.Wrapper):
        def call(self, inputs):
            return self.layer(inputs) * k.ops.sigmoid(k.ops.sum(inputs, axis=-1, keepdims=True))
    return Gated


def test_wrapper_subclass_matches_keras_forward_sgd_step_and_config():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 5)).astype("float32")
    y = rng.standard_normal((4, 3, 2)).astype("float32")
    models = []
    for k in (keras, mk):
        gated = make_wrapper(k)(k.layers.Dense(2))
        models.append(k.Sequential([k.Input((3, 5)), k.layers.TimeDistributed(gated)]))
        assert isinstance(gated, k.layers.Wrapper) and isinstance(models[-1].layers[0], k.layers.Wrapper)
    models[1].set_weights([np.asarray(w) for w in models[0].get_weights()])
    np.testing.assert_allclose(models[1].predict(x, verbose=0), models[0].predict(x, verbose=0), atol=1e-6)
    for want, got in zip(one_step(keras, models[0], x, y), one_step(mk, models[1], x, y)):
        np.testing.assert_allclose(got, want, atol=1e-5)
    wrapper = models[1].layers[0].layer
    again = type(wrapper).from_config(wrapper.get_config())
    assert type(again.layer) is mk.layers.Dense and again.layer.units == 2
    with pytest.raises(ValueError, match="expects a layer to wrap"):
        make_wrapper(mk)("dense")
