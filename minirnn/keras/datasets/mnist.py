"""``keras.datasets.mnist``: handwritten digits, uint8 (28, 28)."""
from ...keras_datasets import load_mnist as load_data

__all__ = ["load_data"]
