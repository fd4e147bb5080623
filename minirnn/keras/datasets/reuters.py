"""``keras.datasets.reuters``: newswires as word-index sequences, 46 topic labels."""
from ...keras_datasets import REUTERS_LABELS
from ...keras_datasets import load_reuters as load_data
from ...keras_datasets import reuters_word_index as get_word_index


def get_label_names():
    """The 46 topic names, by label."""
    return REUTERS_LABELS


__all__ = ["load_data", "get_word_index", "get_label_names"]
