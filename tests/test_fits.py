"""minirnn.fit_many: the same seeds give the same trained weights on every backend (the process pool,
Ray on a local 2-CPU instance, Dask on a local 2-process cluster, this process); a failing job
reports its error and the others' results are kept; workers load the kernels compiled here instead
of compiling them again; a job may build and fit a Keras model, in a process of its own."""
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


def last_output(model):
    """A job's score: the model's forecast of a fixed input, as numbers."""
    out = np.asarray(model.predict(np.ones((1, 6, 1), "float32"), verbose=0)).reshape(-1)
    return {"forecast": float(out[0])}


def keras_build(units=3):
    import keras

    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((6, 1)), keras.layers.GRU(units), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


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
    for r in results:
        assert r.ok, r.traceback
        assert all(w.dtype == np.float64 for w in r.weights)


def test_score_and_fit_time():
    job = FitJob(build, functools.partial(series, 0), dict(epochs=2, batch_size=8), seed=0, score=last_output)
    result, = fit_many([job], backend="serial", progress=False)
    assert set(result.metrics) == {"loss", "mae", "forecast"}
    expected = result.model().predict(np.ones((1, 6, 1), "float32"), verbose=0)[0, 0]
    assert result.metrics["forecast"] == pytest.approx(float(expected), rel=1e-6)
    assert 0 < result.fit_seconds <= result.seconds


def test_a_fresh_process_per_job_and_a_keras_job(reference):
    """jobs_per_worker=1: each job in a process of its own; a job whose build makes a Keras model
    trains it there, as it trains here."""
    keras_job = FitJob(keras_build, functools.partial(series, 0), dict(epochs=2, batch_size=8), seed=0,
                       evaluation=series(10), score=last_output, name="keras")
    results = fit_many(jobs()[:2] + [keras_job], workers=2, jobs_per_worker=1, progress=False, warm_up=False)
    assert_same(results[:2], reference[:2])
    assert len({r.worker for r in results}) == 3
    here, = fit_many([keras_job], backend="serial", progress=False)
    keras_result = results[2]
    assert keras_result.ok and set(keras_result.metrics) == {"loss", "mae", "forecast"}
    for a, b in zip(keras_result.weights, here.weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for key in ("loss", "mae", "forecast"):
        assert keras_result.metrics[key] == pytest.approx(here.metrics[key], rel=1e-5)


def test_process_pool_refuses_what_it_cannot_send():
    job = FitJob(lambda: build(), series(0), seed=0)
    with pytest.raises(ValueError, match="Fit job 0 .* its build .* cannot be sent to a worker process.*top-level"):
        fit_many([job])
    schedule = FitJob(build, series(0), dict(callbacks=[mr.callbacks.LearningRateScheduler(lambda epoch: 0.1)]))
    with pytest.raises(ValueError, match="Fit job 0 .* its fit_kwargs .* cannot be sent"):
        fit_many([schedule])
    with pytest.raises(ValueError, match="jobs_per_worker is for backend 'process' or 'ray'"):
        fit_many([job], backend="serial", jobs_per_worker=1)
    with pytest.raises(ValueError, match="jobs_per_worker must be a positive integer"):
        fit_many([job], jobs_per_worker=0)
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


def test_dask_gives_the_same_results(reference):
    distributed = pytest.importorskip("distributed")
    lam = FitJob(lambda: build(units=2), functools.partial(series, 0), dict(epochs=2, batch_size=8), seed=0,
                 evaluation=series(10), name="series 0")      # cloudpickle ships a lambda; same job as the first
    results = fit_many(jobs() + [lam], backend="dask", workers=2, progress=False)
    assert_same(results, reference + [reference[0]])
    client = mr.fits._dask_clients[(None, 2)][1]
    assert isinstance(client, distributed.Client) and len(client.scheduler_info()["workers"]) == 2
    assert all(r.compiled == 0 for r in results if r.ok)
    mr.fits.shutdown_pool()
    assert client.status == "closed" and not mr.fits._dask_clients


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
