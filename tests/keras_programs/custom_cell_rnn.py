"""The MinimalRNNCell of the keras.layers.RNN docs, trained."""
import numpy as np
import keras
from keras import layers, ops


class MinimalRNNCell(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        prev_output = states[0]
        h = ops.matmul(inputs, self.kernel)
        output = ops.tanh(h + ops.matmul(prev_output, self.recurrent_kernel))
        return output, [output]


rng = np.random.default_rng(2)
x = rng.normal(size=(32, 7, 3)).astype("float32")
y = np.tanh(x[:, -3:, :].sum(axis=(1, 2)))[:, None].astype("float32")
inputs = keras.Input((None, 3))
h = layers.RNN(MinimalRNNCell(6))(inputs)
outputs = layers.Dense(1)(h)
model = keras.Model(inputs, outputs)
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer="rmsprop", loss="mse")
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
RESULT = {"loss": history.history["loss"]}
