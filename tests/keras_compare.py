"""minirnn's arrays against Keras's, for the layer tests that compare the two."""
import numpy as np


def close(mine, ref, tol=2e-5, what=""):
    """Assert `mine` has Keras's shape and is within `tol` times the largest magnitude of `ref`
    (at least 1) of it, element by element."""
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, f"{what}: shape {mine.shape} != Keras's {ref.shape}"
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    np.testing.assert_allclose(mine, ref, rtol=0, atol=tol * scale, err_msg=what)
