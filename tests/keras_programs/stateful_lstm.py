"""A stateful LSTM trained batch by batch over a long series, state reset each epoch."""
import numpy as np
import keras

batch, steps = 4, 5
rng = np.random.default_rng(12)
series = np.sin(np.arange(batch * steps * 6) / 4).astype("float32").reshape(batch, -1, 1)
model = keras.Sequential([keras.Input(batch_shape=(batch, steps, 1)), keras.layers.LSTM(6, stateful=True),
                          keras.layers.Dense(1)])
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="adam", loss="mse")
losses = []
for epoch in range(2):
    for k in range(0, series.shape[1] - steps - 1, steps):
        losses.append(float(model.train_on_batch(series[:, k:k + steps], series[:, k + steps])))
    model.layers[0].reset_states()
RESULT = {"loss": losses}
