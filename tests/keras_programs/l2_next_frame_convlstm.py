"""Next-frame video prediction with ConvLSTM2D (the Keras example's model on moving squares):
stacked ConvLSTM2D layers with BatchNormalization, a Conv3D with a sigmoid, binary cross-entropy."""
import numpy as np

import keras
from keras import layers

rng = np.random.default_rng(2)
n, frames, size = 12, 5, 10
dataset = np.zeros((n, frames + 1, size, size, 1), "float32")
for k in range(n):
    row, col = rng.integers(1, size - 4, 2)
    drow, dcol = rng.choice([-1, 1], 2)
    for f in range(frames + 1):
        r, c = np.clip(row + drow * f, 0, size - 3), np.clip(col + dcol * f, 0, size - 3)
        dataset[k, f, r:r + 3, c:c + 3, 0] = 1.0


def create_shifted_frames(data):
    return data[:, 0:data.shape[1] - 1, :, :], data[:, 1:data.shape[1], :, :]


x_train, y_train = create_shifted_frames(dataset[:9])
x_val, y_val = create_shifted_frames(dataset[9:])

inp = layers.Input(shape=(None, *x_train.shape[2:]))
x = layers.ConvLSTM2D(filters=6, kernel_size=(3, 3), padding="same", return_sequences=True,
                      activation="relu")(inp)
x = layers.BatchNormalization()(x)
x = layers.ConvLSTM2D(filters=6, kernel_size=(1, 1), padding="same", return_sequences=True,
                      activation="relu")(x)
x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
model = keras.models.Model(inp, x)
model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())

model.fit(x_train, y_train, batch_size=3, epochs=3, validation_data=(x_val, y_val), verbose=0)
new_prediction = model.predict(np.expand_dims(x_val[0], axis=0), verbose=0)
print("predicted frames:", new_prediction.shape)
