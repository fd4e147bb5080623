"""Masking(0.0) in front of a GRU returning sequences, a per-step Dense and a masked loss."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(5)
x = rng.normal(size=(24, 8, 3)).astype("float32")
for k in range(24):
    x[k, 3 + k % 5:] = 0.0
y = np.cumsum(x, axis=1)[..., :1].astype("float32")
model = keras.Sequential([keras.Input((8, 3)), layers.Masking(mask_value=0.0),
                          layers.GRU(6, return_sequences=True), layers.TimeDistributed(layers.Dense(1))])
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="mse")
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"]}
