"""``keras.ops``: see :mod:`minirnn.ops` (the same functions).  Same as Keras, except: only the
ops listed there, and results are NumPy arrays."""
from ..ops import *              # noqa: F401,F403
from ..ops import __all__        # noqa: F401
