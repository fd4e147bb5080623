"""Time-series classification from scratch (the Keras example's model): three Conv1D blocks with
BatchNormalization and ReLU, global average pooling, softmax; the best model kept by
ModelCheckpoint as an .h5 file and evaluated after loading.  Synthetic series stand in for FordA."""
import numpy as np

import keras

rng = np.random.default_rng(0)
n, steps = 96, 40
t = np.linspace(0, 4 * np.pi, steps)
y = rng.integers(0, 2, n)
x = np.sin(t[None, :] * (1 + y[:, None])) + 0.3 * rng.normal(size=(n, steps))
x = x[..., None].astype("float32")
x_train, y_train, x_test, y_test = x[:72], y[:72], x[72:], y[72:]
num_classes = len(np.unique(y_train))


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])

callbacks = [
    keras.callbacks.ModelCheckpoint("best_model.h5", save_best_only=True, monitor="val_loss"),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.0001),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, verbose=1),
]
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
history = model.fit(x_train, y_train, batch_size=16, epochs=4, callbacks=callbacks, validation_split=0.2,
                    verbose=0)

model = keras.models.load_model("best_model.h5")
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print("Test accuracy", test_acc)
print("Test loss", test_loss)
