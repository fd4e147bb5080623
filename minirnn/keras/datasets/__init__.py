"""``keras.datasets``: ``imdb``, ``reuters``, ``mnist``, ``fashion_mnist``, ``boston_housing``, each
with ``load_data`` as Keras has it (the same files, checksums and conventions; see
minirnn/keras_datasets.py), downloaded once into ``~/.keras/datasets``.  Same as Keras, except:
CIFAR-10/100 are not there (their files are Python pickles, which minirnn does not load);
offline, the error says where to put the file."""
from . import boston_housing, fashion_mnist, imdb, mnist, reuters

__all__ = ["imdb", "reuters", "mnist", "fashion_mnist", "boston_housing"]
