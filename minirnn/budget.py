"""What loading a file may make minirnn allocate: one budget of bytes, charged as the file's
model is made.

    with budget.limited(nbytes, error):     a load (see minirnn.saving.readers.building_limited)
        ...                                 weights, layers, graph nodes and every layer's output
                                            shape are charged; going past `nbytes` raises
                                            error(requested, remaining, what) before anything
                                            is allocated

Outside a ``limited`` block nothing is counted.  What is charged:

* a weight, its bytes (``initializers``);
* a layer, :data:`LAYER_BYTES`, and each call of a layer a functional config lists,
  :data:`NODE_BYTES` (charged as the config is read, so a config of a million calls is refused
  after the first few thousand; both about twice what they take in CPython);
* the output of every call (graph node, inputs included) for a batch of one, its bytes with
  every other unknown size (the steps) counted as :data:`UNKNOWN_SIZE`: what predicting one
  sequence of three steps costs, and a third of what a ``Lambda`` probing its output shape
  (on batches of 2 and 3) allocates.
"""
import contextlib
import math
import threading

import numpy as np

LAYER_BYTES = 2048
NODE_BYTES = 1024
UNKNOWN_SIZE = 3

_state = threading.local()


class OverBudget(ValueError):
    """What a file asks for beyond the budget of its load."""


@contextlib.contextmanager
def limited(nbytes, error):
    """Within the block, charges may take `nbytes` in all; one that would go past it raises
    ``error(requested_bytes, remaining_bytes, what)``."""
    previous = getattr(_state, "budget", None)
    _state.budget = [int(nbytes), error]
    try:
        yield
    finally:
        _state.budget = previous


def active():
    return getattr(_state, "budget", None) is not None


def charge(nbytes, what):
    """Take `nbytes` from the budget of the load in progress (if any), or raise its error."""
    budget = getattr(_state, "budget", None)
    if budget is not None:
        if nbytes > budget[0]:
            raise budget[1](nbytes, budget[0], what)
        budget[0] -= nbytes


def describe(nbytes):
    return f"{nbytes:,} bytes" if nbytes < 2**20 else f"{nbytes / 2**20:,.1f} MiB"


def shape_bytes(shape, dtype, batch=False):
    """Bytes of an array of `shape`, ``None`` sizes counted as :data:`UNKNOWN_SIZE`; with
    `batch`, the first axis is a batch and an unknown one counts as 1."""
    sizes = [UNKNOWN_SIZE if d is None else max(int(d), 0) for d in shape]
    if batch and shape and shape[0] is None:
        sizes[0] = 1
    # Text tensors (dtype "string") hold one reference per element.
    itemsize = np.dtype(object if dtype in ("string", "str") else dtype).itemsize
    return math.prod(sizes) * itemsize
