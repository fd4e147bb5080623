"""Embedding's gradient scatter: dL/dE[i] = sum of dy over every position where x == i.

The NumPy reference is here, below the layers; its compiled twin is in kernels/embedding.py
(np.add.at is ~10x slower on the (batch * time, output_dim) rows of a text model)."""
import numpy as np

from .backend import kernel


@kernel(bitwise=True)
def rows_added(table, idx, rows):
    """table[idx[k]] += rows[k] for every k in order (repeated ids add up), in place."""
    np.add.at(table, idx, rows)
