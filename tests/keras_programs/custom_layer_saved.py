"""A registered custom layer with get_config, saved to .keras and loaded back."""
import numpy as np
import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="MyLayers")
class ScaledTanh(layers.Layer):
    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def build(self, input_shape):
        self.alpha = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="alpha")

    def call(self, inputs):
        return ops.tanh(inputs * self.alpha) * self.scale

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


rng = np.random.default_rng(14)
x = rng.normal(size=(32, 6, 2)).astype("float32")
y = rng.normal(size=(32, 1)).astype("float32")
inputs = keras.Input((6, 2))
h = ScaledTanh(2.0)(inputs)
h = layers.LSTM(5)(h)
model = keras.Model(inputs, layers.Dense(1)(h))
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="mse")
history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
model.save("scaled.keras")
restored = keras.models.load_model("scaled.keras", custom_objects={"ScaledTanh": ScaledTanh})
RESULT = {"loss": history.history["loss"], "restored": restored.predict(x[:4], verbose=0),
          "config": restored.layers[1].get_config()["scale"]}
