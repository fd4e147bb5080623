"""Text classification with TextVectorization, Embedding and a bidirectional LSTM, the texts turned
into integer sequences before the model (the tf.data way of the Keras example)."""
import numpy as np

import keras
from keras import layers

rng = np.random.default_rng(1)
positive = ["great", "wonderful", "loved", "excellent", "moving", "superb"]
negative = ["boring", "awful", "hated", "dull", "terrible", "weak"]
filler = ["the", "movie", "was", "plot", "acting", "and", "a", "film", "really", "story"]


def review(label):
    words = list(rng.choice(filler, size=rng.integers(4, 10)))
    words += list(rng.choice(positive if label else negative, size=rng.integers(1, 3)))
    rng.shuffle(words)
    return " ".join(words).capitalize() + rng.choice([".", "!", "..."])


labels = rng.integers(0, 2, 80)
texts = np.array([review(label) for label in labels])

max_features = 40
sequence_length = 12
vectorize_layer = layers.TextVectorization(max_tokens=max_features, output_mode="int",
                                           output_sequence_length=sequence_length)
vectorize_layer.adapt(texts)
print("vocabulary:", vectorize_layer.get_vocabulary()[:8])

x = vectorize_layer(texts)
x = keras.ops.convert_to_numpy(x)
x_train, y_train, x_val, y_val = x[:64], labels[:64], x[64:], labels[64:]

inputs = keras.Input(shape=(sequence_length,), dtype="int64")
h = layers.Embedding(max_features, 8, mask_zero=True)(inputs)
h = layers.Bidirectional(layers.LSTM(6))(h)
h = layers.Dense(8)(h)
h = layers.LeakyReLU()(h)
predictions = layers.Dense(1, activation="sigmoid")(h)
model = keras.Model(inputs, predictions)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=3, batch_size=16, verbose=0)
print(model.evaluate(x_val, y_val, verbose=0))
probabilities = model.predict(x_val, verbose=0)
print("bce by hand:", float(np.mean(keras.losses.binary_crossentropy(y_val[:, None], probabilities))))
