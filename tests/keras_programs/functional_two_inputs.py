"""Two inputs, a shared GRU encoder, a symbolic mask input, and a sub-model made from
layer.input / layer.output."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(13)
a = rng.normal(size=(24, 7, 2)).astype("float32")
b = rng.normal(size=(24, 7, 2)).astype("float32")
m = np.ones((24, 7), bool)
m[:, 5:] = False
y = (a[:, :5].sum(axis=(1, 2)) - b.sum(axis=(1, 2)))[:, None].astype("float32")
in_a, in_b = keras.Input((7, 2), name="a"), keras.Input((7, 2), name="b")
in_m = keras.Input((7,), dtype="bool", name="mask")
encoder = layers.GRU(5)
ha = encoder(in_a, mask=in_m)
hb = encoder(in_b)
merged = layers.Concatenate()([ha, hb])
out = layers.Dense(1)(merged)
model = keras.Model([in_a, in_b, in_m], out)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
history = model.fit([a, b, m], y, batch_size=8, epochs=3, shuffle=False, verbose=0)
dense = model.layers[-1]
head = keras.Model(model.input, dense.input)
RESULT = {"loss": history.history["loss"], "features": head.predict([a[:3], b[:3], m[:3]], verbose=0)}
