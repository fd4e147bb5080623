"""A small image classifier (the MNIST convnet's shape on synthetic 12x12 images): Conv2D,
BatchNormalization, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, a ReLU with a cap;
saved as .keras and loaded back."""
import numpy as np

import keras
from keras import layers

rng = np.random.default_rng(5)
n = 64
labels = rng.integers(0, 3, n)
images = rng.random((n, 12, 12, 1)).astype("float32") * 0.3
for k, label in enumerate(labels):
    images[k, 2 + 3 * label:5 + 3 * label, :, 0] += 0.7          # a bright band whose row is the class

model = keras.Sequential([
    keras.Input(shape=(12, 12, 1)),
    layers.Conv2D(8, kernel_size=(3, 3)),
    layers.BatchNormalization(),
    layers.ReLU(max_value=6.0),
    layers.MaxPooling2D(pool_size=(2, 2)),
    layers.Conv2D(8, kernel_size=(3, 3), padding="same", activation="relu"),
    layers.AveragePooling2D(pool_size=(2, 2)),
    layers.GlobalAveragePooling2D(),
    layers.Dense(3, activation="softmax"),
])
model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
              metrics=["accuracy"])
model.fit(images, labels, batch_size=16, epochs=4, validation_split=0.25, verbose=0)
model.save("images.keras")
reloaded = keras.models.load_model("images.keras")
score = reloaded.evaluate(images, labels, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
