import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from minirnn import optimizers  # noqa: E402

SHAPES = [(3, 4), (4,), (2, 3, 2)]


def run_both(ours, theirs, dtype, steps=5, seed=0, lr_changes=None):
    """Apply the same random gradients with both optimizers; return both parameter lists."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    variables = [tf.Variable(p.copy()) for p in params]
    for step in range(steps):
        if lr_changes and step in lr_changes:
            ours.learning_rate = lr_changes[step]
            theirs.learning_rate = lr_changes[step]
        grads = [rng.normal(scale=2.0, size=shape).astype(dtype) for shape in SHAPES]
        ours.apply_gradients(params, grads)
        theirs.apply_gradients([(tf.constant(g), v) for g, v in zip(grads, variables)])
    return params, [v.numpy() for v in variables]


def assert_params_close(ours, theirs, dtype, rtol=None):
    rtol = rtol or (1e-5 if dtype == np.float32 else 1e-12)
    for p, v in zip(ours, theirs):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, v, rtol=rtol, atol=rtol)


# Keras rounds some hyperparameters (momentum, beta_1, rho, ...) to float32 even for
# float64 variables, so the float64 comparisons use values exact in float32.
EXACT_CONFIGS = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.125}),
    ("SGD", {"learning_rate": 0.0625, "momentum": 0.875}),
    ("SGD", {"learning_rate": 0.0625, "momentum": 0.875, "nesterov": True}),
    ("SGD", {"learning_rate": 0.0625, "momentum": 0.5, "clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.0625, "clipvalue": 0.5}),
    ("SGD", {"learning_rate": 0.0625, "momentum": 0.875, "global_clipnorm": 2.0}),
    ("Adam", {"learning_rate": 2**-7, "beta_1": 0.875, "beta_2": 1 - 2**-10, "epsilon": 2**-20}),
    ("RMSprop", {"learning_rate": 2**-7, "rho": 0.875, "momentum": 0.75}),
    ("RMSprop", {"learning_rate": 2**-7, "rho": 0.875, "centered": True}),
]
DEFAULT_CONFIGS = [("SGD", {"momentum": 0.9, "nesterov": True}), ("Adam", {}), ("RMSprop", {})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,config", EXACT_CONFIGS + DEFAULT_CONFIGS)
def test_matches_keras(name, config, dtype):
    theirs = getattr(keras.optimizers, name)(**config)
    # Keras keeps the learning rate in a float32 variable; start from the same number.
    learning_rate = float(keras.ops.convert_to_numpy(theirs.learning_rate))
    ours = getattr(optimizers, name)(**{**config, "learning_rate": learning_rate})
    rtol = 1e-6 if dtype == np.float64 and (name, config) in DEFAULT_CONFIGS else None
    assert_params_close(*run_both(ours, theirs, dtype), dtype, rtol)
    assert ours.iterations == 5


@pytest.mark.parametrize("config", [{}, {"momentum": 0.875}, {"momentum": 0.875, "nesterov": True}])
def test_learning_rate_change_takes_effect_next_step(config):
    ours = optimizers.SGD(learning_rate=0.125, **config)
    theirs = keras.optimizers.SGD(learning_rate=0.125, **config)
    changes = {2: 0.015625, 4: 0.25}  # exact in float32, where Keras stores it
    assert_params_close(*run_both(ours, theirs, np.float64, steps=6, lr_changes=changes), np.float64)
    assert ours.learning_rate == 0.25


def test_plain_sgd_rule_by_hand():
    param = np.array([1.0, -2.0], np.float64)
    opt = optimizers.SGD(learning_rate=0.5, momentum=0.9)
    opt.apply_gradients([param], [np.array([1.0, 1.0])])
    np.testing.assert_allclose(param, [0.5, -2.5])  # m = -0.5
    opt.apply_gradients([param], [np.array([0.0, 2.0])])
    np.testing.assert_allclose(param, [0.05, -3.95])  # m = 0.9 m - 0.5 g = [-0.45, -1.45]
    nesterov = optimizers.SGD(learning_rate=0.5, momentum=0.9, nesterov=True)
    param = np.array([1.0])
    nesterov.apply_gradients([param], [np.array([1.0])])
    np.testing.assert_allclose(param, [1.0 + 0.9 * -0.5 - 0.5])


def test_updates_in_place_and_keeps_slots_per_parameter():
    a, b = np.ones(3, np.float32), np.ones((2, 2), np.float64)
    a_before, b_before = a, b
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    opt.apply_gradients([a, b], [np.ones(3), np.ones((2, 2))])
    assert a is a_before and b is b_before
    assert a.dtype == np.float32 and b.dtype == np.float64
    slots = opt.variables()
    assert [s.shape for s in slots] == [(3,), (2, 2)]
    assert [s.dtype for s in slots] == [np.float32, np.float64]
    # Only b gets a gradient now: a keeps its value and its momentum.
    opt.apply_gradients([a, b], [None, np.ones((2, 2))])
    np.testing.assert_allclose(a, 0.9)
    np.testing.assert_allclose(b, 1 - 0.1 - (0.09 + 0.1))
    assert opt.iterations == 2


def test_callable_learning_rate_schedule_uses_iterations():
    opt = optimizers.SGD(learning_rate=lambda step: 0.1 * (step + 1))
    param = np.zeros(1)
    for _ in range(3):
        opt.apply_gradients([param], [np.ones(1)])
    np.testing.assert_allclose(param, [-(0.1 + 0.2 + 0.3)])


def test_argument_validation():
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate="fast")
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=0.0)
    opt = optimizers.SGD()
    with pytest.raises(ValueError, match="2 params but 1"):
        opt.apply_gradients([np.zeros(1), np.zeros(1)], [np.zeros(1)])
    with pytest.raises(ValueError, match="shape"):
        opt.apply_gradients([np.zeros(2)], [np.zeros(3)])
    opt.learning_rate = np.float32(0.5)
    assert isinstance(opt.learning_rate, float)


def test_get():
    sgd = optimizers.get("sgd")
    default = keras.optimizers.SGD()
    assert isinstance(sgd, optimizers.SGD)
    assert sgd.learning_rate == pytest.approx(float(default.learning_rate))
    assert sgd.momentum == default.momentum and sgd.nesterov == default.nesterov
    assert optimizers.get(sgd) is sgd
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert optimizers.get("Adam").learning_rate == pytest.approx(0.001)
    restored = optimizers.deserialize(optimizers.serialize(
        optimizers.SGD(learning_rate=0.3, momentum=0.9, nesterov=True, clipnorm=2.0)))
    assert (restored.learning_rate, restored.momentum, restored.nesterov, restored.clipnorm) == \
        (0.3, 0.9, True, 2.0)
    with pytest.raises(ValueError, match="'adagrad'.*sgd"):
        optimizers.get("adagrad")
