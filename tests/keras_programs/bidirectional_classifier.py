"""Text-classification shape: Embedding, Bidirectional LSTM, Dense sigmoid (the IMDB example's model)."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(9)
x = rng.integers(1, 30, size=(40, 10)).astype("int32")
x[::3, 7:] = 0
y = (x[:, 0] > 15).astype("float32")[:, None]
inputs = keras.Input(shape=(None,), dtype="int32")
h = layers.Embedding(30, 8, mask_zero=True)(inputs)
h = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(h)
h = layers.Bidirectional(layers.LSTM(4))(h)
outputs = layers.Dense(1, activation="sigmoid")(h)
model = keras.Model(inputs, outputs)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"], "accuracy": history.history["accuracy"]}
