"""ModelCheckpoint keeps the best model in a .keras file; it is loaded back and evaluated."""
import numpy as np
import keras

rng = np.random.default_rng(8)
x = rng.normal(size=(40, 5, 2)).astype("float32")
y = x[:, -1, :1] - x[:, 0, 1:]
model = keras.Sequential([keras.Input((5, 2)), keras.layers.SimpleRNN(6), keras.layers.Dense(1)])
model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
checkpoint = keras.callbacks.ModelCheckpoint("best_model.keras", monitor="val_loss", save_best_only=True)
history = model.fit(x[:32], y[:32], validation_data=(x[32:], y[32:]), batch_size=8, epochs=4, shuffle=False,
                    verbose=0, callbacks=[checkpoint])
best = keras.models.load_model("best_model.keras")
RESULT = {"loss": history.history["loss"], "val_loss": history.history["val_loss"],
          "best": best.evaluate(x[32:], y[32:], verbose=0)}
