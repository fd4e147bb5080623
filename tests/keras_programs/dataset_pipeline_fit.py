"""A windowed dataset reshaped the tf.data way (unbatch, batch, skip, take) and used for fit and
evaluate; windows read with as_numpy_iterator."""
import numpy as np
import keras

series = (np.sin(np.arange(300) / 6) + 0.1 * np.cos(np.arange(300) / 2)).astype("float32")[:, None]
data = keras.utils.timeseries_dataset_from_array(series[:-8], series[8:, 0], sequence_length=8, batch_size=10)
data = data.unbatch().batch(16)
train, val = data.skip(3), data.take(3)
first_window = next(iter(val.as_numpy_iterator()))[0][0]
model = keras.Sequential([keras.Input((8, 1)), keras.layers.GRU(6), keras.layers.Dense(1)])
rng = np.random.default_rng(15)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
history = model.fit(train, validation_data=val, epochs=2, verbose=0)
RESULT = {"loss": history.history["loss"], "val_loss": history.history["val_loss"], "window": first_window}
