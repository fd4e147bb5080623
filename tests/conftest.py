"""Shared fixtures: global numeric settings restored after each test that changes them."""
import pytest

from minirnn import backend


@pytest.fixture
def restore_numerics():
    """Restore the kernel backend and floatx after the test, whatever it sets."""
    previous_backend, previous_floatx = backend.backend(), backend.floatx()
    yield
    backend.set_backend(previous_backend)
    backend.set_floatx(previous_floatx)


@pytest.fixture
def numpy_backend(restore_numerics):
    backend.set_backend("numpy")
    yield "numpy"


@pytest.fixture
def numba_backend(restore_numerics):
    backend.set_backend("numba")
    yield "numba"


@pytest.fixture
def float64(restore_numerics):
    """Layers created in the test default to float64."""
    backend.set_floatx("float64")
    yield "float64"
