"""``keras.preprocessing.sequence``: ``pad_sequences``.  Same as Keras, except: numbers only."""
from ...data import pad_sequences

__all__ = ["pad_sequences"]
