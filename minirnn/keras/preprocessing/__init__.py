"""``keras.preprocessing``: ``sequence.pad_sequences`` and ``timeseries_dataset_from_array`` (see
:mod:`minirnn.keras.utils`).  Same as Keras, except: no image or text loaders."""
from ...data import timeseries_dataset_from_array
from . import sequence

__all__ = ["sequence", "timeseries_dataset_from_array"]
