"""``keras.utils``: ``timeseries_dataset_from_array``, ``set_random_seed``, ``PyDataset`` (also
as its old name ``Sequence``).  Same as Keras, except: ``timeseries_dataset_from_array`` returns
a minirnn dataset (re-iterable NumPy batches, with ``len()``), not a ``tf.data.Dataset``;
``PyDataset`` ignores ``workers`` / ``use_multiprocessing`` (batches load in the training thread)."""
from ..data import timeseries_dataset_from_array
from ..utils import PyDataset, set_random_seed

Sequence = PyDataset

__all__ = ["timeseries_dataset_from_array", "set_random_seed", "PyDataset", "Sequence"]
