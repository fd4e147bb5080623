"""``keras.utils``: ``timeseries_dataset_from_array``, ``pad_sequences``, ``set_random_seed``,
``PyDataset`` (also as its old name ``Sequence``).  Same as Keras, except:
``timeseries_dataset_from_array`` returns a minirnn dataset (re-iterable NumPy batches, with
``len()``), not a ``tf.data.Dataset``; ``PyDataset`` ignores ``workers`` / ``use_multiprocessing``
(batches load in the training thread); ``pad_sequences`` pads numbers only, not strings."""
from ..data import pad_sequences, timeseries_dataset_from_array
from ..utils import PyDataset, set_random_seed

Sequence = PyDataset

__all__ = ["timeseries_dataset_from_array", "pad_sequences", "set_random_seed", "PyDataset", "Sequence"]
