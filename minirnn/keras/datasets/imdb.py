"""``keras.datasets.imdb``: movie reviews as word-index sequences, labels 0/1."""
from ...keras_datasets import imdb_word_index as get_word_index
from ...keras_datasets import load_imdb as load_data

__all__ = ["load_data", "get_word_index"]
