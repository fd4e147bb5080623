"""Forecasting the next value of a noisy seasonal series with a GRU whose inputs are normalized by
LayerNormalization, an ELU head, the mean absolute error tracked as a metric, and the result
checked by hand with the metric functions."""
import numpy as np

import keras

rng = np.random.default_rng(3)
series = np.sin(np.arange(400) * 2 * np.pi / 24) + 0.1 * rng.normal(size=400)
window = 24
x = np.stack([series[k:k + window] for k in range(300)])[..., None].astype("float32")
y = series[window:window + 300, None].astype("float32")

model = keras.Sequential([
    keras.Input(shape=(window, 1)),
    keras.layers.LayerNormalization(axis=1),
    keras.layers.GRU(8, return_sequences=True),
    keras.layers.LayerNormalization(),
    keras.layers.GRU(8),
    keras.layers.Dense(8),
    keras.layers.Activation("elu"),
    keras.layers.Dense(1),
])
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.005), loss="mse", metrics=["mae"])
history = model.fit(x, y, batch_size=32, epochs=3, validation_split=0.25, verbose=0)
predictions = model.predict(x[-20:], verbose=0)
print("val_mae by epoch:", history.history["val_mae"])
print("last 20, mae:", float(np.mean(keras.metrics.mean_absolute_error(y[-20:], predictions))))
print("last 20, mape:", float(np.mean(keras.losses.mean_absolute_percentage_error(y[-20:], predictions))))
