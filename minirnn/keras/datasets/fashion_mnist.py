"""``keras.datasets.fashion_mnist``: clothing images, uint8 (28, 28)."""
from ...keras_datasets import load_fashion_mnist as load_data

__all__ = ["load_data"]
