"""The fast path: fused Numba twins of the cells' reference time loops.

Each file here matches one cell file (``cells/lstm.py`` -> ``kernels/lstm.py``) and
registers its twins against that cell's reference loops (``@forward_loop.fused``):
the same equations, arguments and results, written as explicit loops over one
element at a time (which Numba vectorises) with the recurrent products added by
BLAS in place.  The numba backend (the default) compiles the twins; the numpy
backend runs the reference loops; tests/test_backends.py checks they agree.

    activations.py   f and f' one element at a time, a rational float32 tanh
    products.py      h_{t-1} U and dM U^T into buffers, the dropout masks in loops
    simple_rnn.py, lstm.py, gru.py   the twins
    embedding.py     Embedding's gradient scatter
    optimizers.py    SGD's momentum update

A new cell needs nothing here: without a twin its reference loops are compiled as
they are.
"""
from . import embedding, gru, lstm, optimizers, products, simple_rnn  # noqa: F401  (importing registers the twins)
