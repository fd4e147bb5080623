"""``keras.datasets.boston_housing``: 13 features per town, median price."""
from ...keras_datasets import load_boston_housing as load_data

__all__ = ["load_data"]
