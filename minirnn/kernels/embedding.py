"""The fused twin of Embedding's gradient scatter (minirnn/scatter.py): the same additions in
the same order."""
from ..scatter import rows_added


@rows_added.fused
def rows_added_loop(table, idx, rows):
    """rows_added for Numba."""
    for k in range(idx.shape[0]):
        i = idx[k]
        for d in range(rows.shape[1]):
            table[i, d] += rows[k, d]
