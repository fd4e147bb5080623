"""Forecasting with timeseries_dataset_from_array used the tf.data way (the Keras weather example's
pattern): take(1) to read the shapes, map to reshape the targets, prefetch, fit."""
import numpy as np
import keras

t = np.arange(400, dtype="float32")
series = np.stack([np.sin(t / 8), np.cos(t / 13)], axis=1).astype("float32")
past, future = 12, 3
x_part, y_part = series[:-(past + future)], series[past + future - 1:-1, 0]
dataset = keras.utils.timeseries_dataset_from_array(x_part, y_part, sequence_length=past, batch_size=32,
                                                    shuffle=False)
for batch in dataset.take(1):
    inputs, targets = batch
shapes = [list(inputs.numpy().shape), list(targets.numpy().shape)]
dataset = dataset.map(lambda x, y: (x, y[:, None])).prefetch(2)
inp = keras.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(8)(inp)
outputs = keras.layers.Dense(1)(lstm_out)
model = keras.Model(inputs=inp, outputs=outputs)
rng = np.random.default_rng(7)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
history = model.fit(dataset, epochs=2, verbose=0)
RESULT = {"loss": history.history["loss"], "shapes": shapes, "batches": int(dataset.cardinality())}
