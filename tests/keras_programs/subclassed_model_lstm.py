"""A subclassed model with an LSTM, trained with fit (the Keras guide's pattern)."""
import numpy as np
import keras
from keras import layers


class Forecaster(keras.Model):
    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.lstm = layers.LSTM(units, return_sequences=True)
        self.pool = layers.GlobalAveragePooling1D()
        self.head = layers.Dense(1)

    def call(self, inputs, training=False):
        x = self.lstm(inputs)
        return self.head(self.pool(x))


rng = np.random.default_rng(1)
x = rng.normal(size=(48, 6, 2)).astype("float32")
y = x.sum(axis=(1, 2))[:, None].astype("float32")
model = Forecaster(8)
model(x[:1])
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"], "mae": history.history["mae"], "pred": model.predict(x[:4], verbose=0)}
