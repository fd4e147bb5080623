"""minirnn.fit_many: the same seeds give the same trained weights on every backend (the process pool,
Ray on a local 2-CPU instance, this process); a failing job reports its error and the others'
results are kept; workers load the kernels compiled here instead of compiling them again."""
import functools

import numpy as np
import pytest

import minirnn as mr
from minirnn.fits import FitJob, fit_many


def build(units=3, rate=0.01):
    model = mr.Sequential([mr.Input((None, 1)), mr.layers.GRU(units), mr.layers.Dropout(0.2), mr.layers.Dense(1)])
    model.compile(optimizer=mr.optimizers.Adam(rate), loss="mse", metrics=["mae"])
    return model


def series(seed, n=24, steps=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, 1)).astype("float32")
    return x, x.sum(axis=1)


def jobs():
    good = [FitJob(build, functools.partial(series, k), dict(epochs=2, batch_size=8), seed=k,
                   build_kwargs=dict(units=2 + k), evaluation=series(10 + k), name=f"series {k}") for k in range(3)]
    bad = FitJob(build, (np.zeros((4, 6, 2), "float32"), np.zeros((4, 1), "float32")), seed=5, name="wrong features")
    return good + [bad]


@pytest.fixture(scope="module", autouse=True)
def stop_workers():
    yield
    mr.fits.shutdown_pool()


@pytest.fixture(scope="module")
def reference():
    """The jobs run one after the other in this process."""
    return fit_many(jobs(), backend="serial", progress=False)


def assert_same(results, expected):
    assert [r.index for r in results] == list(range(len(expected)))
    for r, e in zip(results, expected):
        assert r.ok == e.ok and r.name == e.name and r.seed == e.seed
        if e.ok:
            assert r.history == e.history and r.metrics == e.metrics
            assert all(np.array_equal(a, b) for a, b in zip(r.weights, e.weights))


def test_serial_results(reference):
    *good, bad = reference
    for k, r in enumerate(good):
        assert r.ok and len(r.history["loss"]) == 2 and set(r.metrics) == {"loss", "mae"}
        assert r.weights[0].shape == (1, 3 * (2 + k))                  # GRU kernel of units 2 + k
        model = r.model()
        np.testing.assert_array_equal(model.evaluate(*series(10 + k), verbose=0)[0], r.metrics["loss"])
    assert not bad.ok and "InputLayer" in bad.error and "received (4, 6, 2)" in bad.error and bad.traceback
    with pytest.raises(ValueError, match="failed, so it has no weights"):
        bad.model()
    assert len({tuple(r.weights[-1]) for r in good}) == 3              # different seeds, different fits


def test_process_pool_gives_the_same_results(reference):
    seen = []
    results = fit_many(jobs(), workers=2, progress=lambda done, total, r: seen.append((done, total, r.name)))
    assert_same(results, reference)
    assert [d for d, _, _ in seen] == [1, 2, 3, 4] and {t for _, t, _ in seen} == {4}
    assert all(r.compiled == 0 for r in results)        # the kernels came from Numba's cache, warmed up here
    assert len({r.worker for r in results}) <= 2


def test_workers_take_this_process_settings(float64):
    results = fit_many(jobs()[:2], workers=2, progress=False)
    assert all(r.ok and all(w.dtype == np.float64 for w in r.weights) for r in results)


def test_process_pool_refuses_what_it_cannot_send():
    job = FitJob(lambda: build(), series(0), seed=0)
    with pytest.raises(ValueError, match="Fit job 0 .* its build .* cannot be sent to a worker process.*top-level"):
        fit_many([job])
    with pytest.raises(ValueError, match="backend must be one of"):
        fit_many([job], backend="threads")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        fit_many([job], workers=0)


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_results(reference, ray_instance):
    lam = FitJob(lambda: build(units=2), functools.partial(series, 0), dict(epochs=2, batch_size=8), seed=0,
                 evaluation=series(10), name="series 0")      # Ray ships a lambda; same job as the first
    results = fit_many(jobs() + [lam], backend="ray", workers=2, progress=False)
    assert_same(results, reference + [reference[0]])
    assert ray_instance.cluster_resources().get("CPU") == 2


def test_many_series_example():
    from example_loader import load_example

    example = load_example("many_series")
    out = example.main(["--series", "3", "--epochs", "1", "--backend", "serial"])
    assert [r.name for r in out["results"]] == ["series 0", "series 1", "series 2"]
    assert all(r.ok and np.isfinite(r.metrics["mae"]) for r in out["results"])
    s = example.make_series(1)                       # the naive forecast recomputed from the raw series
    split = int(example.LENGTH * (1 - example.VALID_FRACTION))
    scale = s[:split].std()
    targets = np.arange(split, example.LENGTH)
    np.testing.assert_allclose(out["naive_mae"][1], np.mean(np.abs(s[targets - 1] - s[targets])) / scale, rtol=1e-5)
