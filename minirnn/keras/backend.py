"""``keras.backend``: ``clear_session``, ``floatx``, ``set_floatx``, ``epsilon``.  Same as Keras,
except: ``clear_session`` only restarts the automatic layer and model names (there is no graph or
device memory to free)."""
from ..backend import floatx, set_floatx
from ..layers.base import clear_session
from ..losses import EPSILON


def epsilon():
    """The fuzz factor that keeps probabilities away from 0 and 1 in the losses (1e-7)."""
    return EPSILON


__all__ = ["clear_session", "floatx", "set_floatx", "epsilon"]
