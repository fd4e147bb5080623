"""The fused twin of layers/embedding.py's gradient scatter (np.add.at is ~10x slower on the
(batch * time, output_dim) rows of a text model): the same additions in the same order.  The
layer registers it (``rows_added.fused(rows_added_loop)``), so this module imports nothing above it."""


def rows_added_loop(table, idx, rows):
    """rows_added for Numba."""
    for k in range(idx.shape[0]):
        i = idx[k]
        for d in range(rows.shape[1]):
            table[i, d] += rows[k, d]
