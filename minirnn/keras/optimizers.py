"""``keras.optimizers``: SGD (with momentum and nesterov), Adam, RMSprop.  Same as Keras, except:
no other optimizers and no ``schedules`` module (change the learning rate with
``keras.callbacks.LearningRateScheduler``)."""
from ..optimizers import SGD, Adam, Optimizer, RMSprop, deserialize, get, serialize

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get", "serialize", "deserialize"]
