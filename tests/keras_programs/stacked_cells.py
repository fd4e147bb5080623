"""RNN over a list of cells (Keras stacks them at every step)."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(3)
x = rng.normal(size=(32, 6, 3)).astype("float32")
y = rng.normal(size=(32, 2)).astype("float32")
cells = [layers.LSTMCell(6), layers.GRUCell(4)]
inputs = keras.Input((6, 3))
h = layers.RNN(cells)(inputs)
model = keras.Model(inputs, layers.Dense(2)(h))
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"]}
