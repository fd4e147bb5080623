"""``keras.utils``: ``timeseries_dataset_from_array``, ``pad_sequences``, ``set_random_seed``,
``PyDataset`` (also as its old name ``Sequence``), ``get_file``, ``plot_model`` and ``model_to_dot``.
Same as Keras, except: ``plot_model`` draws with Matplotlib when Graphviz is not installed
(Keras needs pydot and Graphviz), and ``model_to_dot`` returns the DOT text, not a pydot graph;
``timeseries_dataset_from_array`` returns a minirnn dataset (re-iterable NumPy batches, with
``len()``), not a ``tf.data.Dataset``; ``PyDataset`` ignores ``workers`` / ``use_multiprocessing``
(batches load in the training thread); ``pad_sequences`` pads numbers only, not strings."""
from ..data import pad_sequences, timeseries_dataset_from_array
from ..downloads import get_file
from ..utils import PyDataset, set_random_seed
from ..visualization import model_to_dot, plot_model

Sequence = PyDataset

__all__ = ["timeseries_dataset_from_array", "pad_sequences", "set_random_seed", "PyDataset", "Sequence", "get_file",
           "plot_model", "model_to_dot"]
