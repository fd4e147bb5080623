"""Padded integer sequences, Embedding(mask_zero=True), an LSTM that skips the padding
(the Keras guide "Understanding masking & padding")."""
import numpy as np
import keras
from keras import layers

raw_inputs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]] * 8
padded = keras.utils.pad_sequences(raw_inputs, padding="post")
ids = (padded % 50).astype("int32")
labels = (np.arange(len(ids)) % 2).astype("float32")[:, None]
embedding = layers.Embedding(input_dim=50, output_dim=8, mask_zero=True)
masked_output = embedding(ids)
mask_seen = np.asarray(masked_output._keras_mask)
inputs = keras.Input((None,), dtype="int32")
x = layers.Embedding(input_dim=50, output_dim=8, mask_zero=True)(inputs)
x = layers.LSTM(8)(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
rng = np.random.default_rng(4)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(ids, labels, batch_size=8, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"], "mask": mask_seen.astype(float).tolist()}
