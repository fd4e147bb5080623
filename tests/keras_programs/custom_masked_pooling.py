"""A custom layer that consumes the mask (call(inputs, mask=None)) after Embedding(mask_zero=True)."""
import numpy as np
import keras
from keras import layers, ops


class MaskedMean(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return ops.sum(inputs * weights, axis=1) / ops.sum(weights, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


rng = np.random.default_rng(10)
x = rng.integers(1, 20, size=(32, 9)).astype("int32")
for k in range(32):
    x[k, 2 + k % 6:] = 0
y = (x[:, 0] % 3).astype("int32")
inputs = keras.Input((None,), dtype="int32")
h = layers.Embedding(20, 6, mask_zero=True)(inputs)
h = layers.GRU(6, return_sequences=True)(h)
h = MaskedMean()(h)
outputs = layers.Dense(3, activation="softmax")(h)
model = keras.Model(inputs, outputs)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"]}
