"""Weight regularizers, an activity regularizer and constraints on a stacked LSTM."""
import numpy as np
import keras
from keras import layers, regularizers, constraints

rng = np.random.default_rng(11)
x = rng.normal(size=(32, 6, 3)).astype("float32")
y = rng.normal(size=(32, 1)).astype("float32")
model = keras.Sequential([
    keras.Input((6, 3)),
    layers.LSTM(8, return_sequences=True, kernel_regularizer=regularizers.l2(1e-2),
                recurrent_regularizer=regularizers.l1(1e-3), kernel_constraint=constraints.MaxNorm(1.0)),
    layers.LSTM(4, activity_regularizer=regularizers.l2(1e-2), bias_constraint=constraints.NonNeg()),
    layers.Dense(1, kernel_regularizer=regularizers.l1_l2(l1=1e-3, l2=1e-3)),
])
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"]}
