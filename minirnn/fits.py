"""Many independent fits at once: one model per series, per seed, per grid point.

    def build(units=16):                         # top-level (importable): worker processes find it by name
        model = mr.Sequential([mr.Input((None, 1)), mr.layers.GRU(units), mr.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model

    jobs = [mr.FitJob(build, (x_k, y_k), dict(epochs=20, batch_size=32), seed=k) for k, (x_k, y_k) in ...]
    results = mr.fit_many(jobs)                               # a local process pool, one job per core
    results = mr.fit_many(jobs, backend="ray")                # Ray: a local instance, or address="ray://..."
    results = mr.fit_many(jobs, backend="dask")               # Dask: a LocalCluster, or address="tcp://..."
    model = results[0].model()                                # rebuilt with the trained weights

A job is ``build(**build_kwargs)`` (a compiled model), its data ``(x, y)`` (or a function returning
it, called in the worker), ``fit`` keyword arguments and a seed.  Each job runs as

    set_random_seed(seed); model = build(**build_kwargs); model.fit(x, y, **fit_kwargs); score(model)

in a worker that gives it one core (``parallel.set_large_work_threads(1)``: the jobs are the
parallelism) and this process's kernel backend and floatx, so a job's numbers depend only on the job, not on the backend, the worker or the
jobs before it: the same seeds give the same weights on the pool, on Ray, on Dask and in this process.
Each :class:`FitResult` holds the history, the metrics (``evaluate`` on the job's evaluation data,
else the last epoch's logs; with those of ``score(model)``, a function of the job's own), the
trained weights, the time taken, or the error of a job that failed; the others' results are kept.
``build`` is any code that returns an object with Keras's ``fit``/``evaluate``/``get_weights``:
a Keras model built there trains in the worker as well (a study that sets threads or imports
another library per job asks for a fresh process per job: ``jobs_per_worker=1``).

Compiled kernels: before the workers start, this process fits the first job for one batch, which
compiles its kernels into Numba's on-disk cache; the workers (same machine, same
``NUMBA_CACHE_DIR``, passed on to Ray's workers too) load them from there instead of compiling
(``FitResult.compiled`` counts the kernels a worker still had to compile).  On a cluster, point
``NUMBA_CACHE_DIR`` at a shared directory, or each node compiles once.

Backends: ``"process"`` (default; ``concurrent.futures`` with spawned processes, kept for the next
call until :func:`shutdown_pool`; ``build`` and a data function must be importable top-level
functions, not lambdas or local functions, since processes find them by name), ``"ray"``
(``ray.init(address)``: an existing cluster, or a local instance with ``workers`` CPUs started
here and left running for the next call; Ray's cloudpickle also ships lambdas), ``"dask"``
(``dask.distributed``: ``Client(address)`` of a running scheduler, or a ``LocalCluster`` of
`workers` one-thread processes started here and kept like the pool; cloudpickle too),
``"serial"`` (in this process, one after the other: for debugging).
"""
import concurrent.futures
import contextlib
import multiprocessing
import os
import pickle
import random
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from . import parallel, utils

BACKENDS = ("process", "ray", "dask", "serial")


@dataclass
class FitJob:
    """One fit: ``build(**build_kwargs)`` returns a compiled model; ``data`` is ``(x, y)`` or a function
    returning it; ``evaluation`` (optional) the same, for :attr:`FitResult.metrics`; ``score``
    (optional) ``score(model) -> {name: number}``, run after the fit, adds to the metrics."""
    build: object
    data: object
    fit_kwargs: dict = field(default_factory=dict)
    seed: int = 0
    build_kwargs: dict = field(default_factory=dict)
    evaluation: object = None
    name: str = None
    score: object = None


@dataclass
class FitResult:
    """What one job produced: ``history`` (``model.history.history``), ``metrics``, ``weights``
    (``model.get_weights()``), ``seconds`` (the whole job), ``fit_seconds`` (``fit`` alone),
    ``compiled`` (kernels the worker compiled), ``worker`` (its process id); or ``error`` and
    ``traceback`` when the job failed."""
    index: int
    name: str
    seed: int
    history: dict = None
    metrics: dict = None
    weights: list = None
    seconds: float = 0.0
    fit_seconds: float = 0.0
    compiled: int = 0
    worker: int = 0
    error: str = None
    traceback: str = None
    job: FitJob = field(default=None, repr=False)

    @property
    def ok(self):
        return self.error is None

    def model(self):
        """The job's model rebuilt with the trained weights."""
        if not self.ok:
            raise ValueError(f"Fit job {self.index} ({self.name}) failed, so it has no weights: {self.error}")
        with _seeded(self.seed):
            model = self.job.build(**self.job.build_kwargs)
        model.set_weights(self.weights)
        return model


@contextlib.contextmanager
def _seeded(seed):
    """Seed every generator minirnn draws from, and put them back after."""
    saved = random.getstate(), np.random.get_state(), utils.get_rng()
    utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        utils._rng = saved[2]


def _arrays(data, what):
    data = data() if callable(data) else data
    if isinstance(data, dict):
        return data.get("x"), data.get("y")
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"the job's {what} must be (x, y) or a function returning it, "
                         f"received {type(data).__name__}")
    return data


def _snapshot(mapping):
    """A copy of a dict that other threads may change meanwhile (a Dask worker's threads import)."""
    while True:
        try:
            return mapping.copy()
        except RuntimeError:             # "changed size during iteration": take it again
            continue


def _compiled_kernels():
    """How many kernel versions this process compiled (not loaded from Numba's cache)."""
    from . import backend

    total = 0
    for module in [m for name, m in _snapshot(sys.modules).items() if name.startswith("minirnn.")]:
        for value in _snapshot(vars(module)).values():
            if isinstance(value, backend.Kernel):
                total += sum(sum(d.stats.cache_misses.values()) for d in list(value._jits.values()))
    return total


def _settings():
    """This process's numeric settings, which a worker takes on: kernel backend and default float type."""
    from . import backend

    return {"backend": backend.backend(), "floatx": backend.floatx()}


@contextlib.contextmanager
def _applied(settings):
    from . import backend

    previous = _settings()
    backend.set_backend(settings["backend"])
    backend.set_floatx(settings["floatx"])
    try:
        yield
    finally:
        backend.set_backend(previous["backend"])
        backend.set_floatx(previous["floatx"])


def run_job(job, index=0, settings=None):
    """Run one :class:`FitJob` here and return its :class:`FitResult` (errors caught and reported).
    ``settings``: the kernel backend and floatx to run it with (by default, this process's)."""
    result = FitResult(index, job.name or f"job {index}", job.seed, worker=os.getpid())
    start = time.perf_counter()
    compiled = _compiled_kernels()
    previous = parallel.set_large_work_threads(1)
    try:
        with _applied(settings or _settings()):
            _fit(job, result)
    finally:
        parallel.set_large_work_threads(previous)
    result.compiled = _compiled_kernels() - compiled
    result.seconds = time.perf_counter() - start
    return result


def _fit(job, result):
    """Build, fit and evaluate `job`, filling `result` (or its error)."""
    try:
        with _seeded(job.seed):
            model = job.build(**job.build_kwargs)
            x, y = _arrays(job.data, "data")
            start = time.perf_counter()
            history = model.fit(x, y, **{"verbose": 0, **job.fit_kwargs})
            result.fit_seconds = time.perf_counter() - start
            result.history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
            if job.evaluation is not None:
                xe, ye = _arrays(job.evaluation, "evaluation")
                logs = model.evaluate(xe, ye, verbose=0, return_dict=True)
            else:
                logs = {k: vs[-1] for k, vs in result.history.items() if vs}
            if job.score is not None:
                logs = {**logs, **job.score(model)}
            result.metrics = {k: float(v) for k, v in logs.items()}
            result.weights = model.get_weights()
    except Exception as e:                               # noqa: BLE001  reported in the result, not raised
        result.error = f"{type(e).__name__}: {e}"
        result.traceback = traceback.format_exc()


def _warm_up(job):
    """Fit `job`'s model on one batch here, so its kernels are in Numba's cache before workers start."""
    from . import backend

    if backend.backend() != "numba":
        return
    with contextlib.suppress(Exception), _seeded(job.seed):     # a failing job fails again in its worker
        model = job.build(**job.build_kwargs)
        x, y = _arrays(job.data, "data")
        n = min(len(x), job.fit_kwargs.get("batch_size") or 32)
        model.fit(x[:n], y[:n], epochs=1, batch_size=n, verbose=0)
    # A short fit ends on the NumPy twins while the kernels still compile in the background;
    # workers that started now would compile them again, writing the same cache files at once.
    backend.wait_for_compiled()


class _Progress:
    def __init__(self, total, show):
        self.total, self.done, self.failed = total, 0, 0
        self.show = show
        self.stream = sys.stderr

    def update(self, result):
        self.done += 1
        self.failed += not result.ok
        if callable(self.show):
            self.show(self.done, self.total, result)
        elif self.show:
            live = self.stream.isatty()            # one line rewritten; in a log, a line per tenth of the jobs
            if not (live or self.done == self.total or self.done * 10 // self.total > (self.done - 1) * 10 // self.total):
                return
            failed = f", {self.failed} failed" if self.failed else ""
            end = "\r" if live and self.done < self.total else "\n"
            print(f"fit_many: {self.done}/{self.total} jobs done{failed}", end=end, file=self.stream, flush=True)


def _check_picklable(jobs):
    for k, job in enumerate(jobs):
        for what, value in (("build", job.build), ("data", job.data), ("evaluation", job.evaluation),
                            ("score", job.score), ("fit_kwargs", job.fit_kwargs)):
            try:
                pickle.dumps(value)
            except Exception as e:                      # noqa: BLE001  lambdas, local functions, open files...
                raise ValueError(
                    f"Fit job {k} ({job.name or 'unnamed'}): its {what} {value!r:.80} cannot be sent to a worker "
                    f"process ({type(e).__name__}: {e}). Define it as a top-level function in an importable "
                    f"module (or under `if __name__ == '__main__':` guard in a script), not a lambda or a local "
                    f"function; or use backend='ray' (which ships lambdas) or 'serial'") from None


def _worker_count(workers):
    if workers is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not utils.is_positive_int(workers):
        raise ValueError(f"workers must be a positive integer or None, received {workers!r}")
    return int(workers)


def fit_many(jobs, backend="process", workers=None, address=None, progress=True, warm_up=True,
             jobs_per_worker=None):
    """Run every :class:`FitJob` in `jobs` and return their :class:`FitResult` list, in job order.

    ``backend``: ``"process"`` (a local pool of `workers` processes, default one per core), ``"ray"``
    (``address`` of a running cluster, or None: the running instance, else a local one with
    `workers` CPUs), ``"dask"`` (``address`` of a running scheduler, or None: a local cluster of
    `workers` processes), ``"serial"``.  ``progress``: print jobs done / total to stderr, or a
    function ``progress(done, total, result)``.  ``warm_up``: compile the first job's kernels here
    first.  ``jobs_per_worker`` (process and Ray): a worker process ends after that many jobs and a
    new one takes its place (1: each job in a fresh process); None: workers are kept."""
    jobs = list(jobs)
    for k, job in enumerate(jobs):
        if not isinstance(job, FitJob):
            raise ValueError(f"fit_many takes FitJob items, received {type(job).__name__} at position {k}")
        if not callable(job.build):
            raise ValueError(f"Fit job {k}: build must be a function returning a compiled model, received {job.build!r}")
        if job.score is not None and not callable(job.score):
            raise ValueError(f"Fit job {k}: score must be a function score(model) -> dict, received {job.score!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, received {backend!r}")
    workers = _worker_count(workers)
    if jobs_per_worker is not None:
        if not utils.is_positive_int(jobs_per_worker):
            raise ValueError(f"jobs_per_worker must be a positive integer or None, received {jobs_per_worker!r}")
        if backend not in ("process", "ray"):
            raise ValueError(f"jobs_per_worker is for backend 'process' or 'ray', received backend={backend!r}")
        if backend == "process" and sys.version_info < (3, 11):
            raise ValueError("jobs_per_worker with backend='process' needs Python 3.11 or newer "
                             "(ProcessPoolExecutor's max_tasks_per_child)")
    tracker = _Progress(len(jobs), progress)
    if not jobs:
        return []
    if backend == "process":
        _check_picklable(jobs)
    if warm_up and backend != "serial":
        _warm_up(jobs[0])
    results = [None] * len(jobs)
    run = {"process": _on_pool, "ray": _on_ray, "dask": _on_dask, "serial": _in_process}[backend]
    for index, result in run(jobs, workers, address, _settings(), jobs_per_worker):
        result.index, result.job = index, jobs[index]
        results[index] = result
        tracker.update(result)
    return results


def _in_process(jobs, workers, address, settings, jobs_per_worker):
    for k, job in enumerate(jobs):
        yield k, run_job(job, k, settings)


def _lost(k, job, error):
    """The result of a job whose worker never returned (it died, or the pool broke)."""
    return FitResult(k, job.name or f"job {k}", job.seed, error=f"{type(error).__name__}: {error}",
                     traceback="".join(traceback.format_exception(error)))


_pools = {}       # (workers, jobs_per_worker) -> (process id that made it, ProcessPoolExecutor)
_dask_clients = {}           # (address, workers) -> (process id that made it, Client)


def _executor(workers, jobs_per_worker=None):
    """The process pool of `workers` workers, kept between calls (a worker's first job loads Numba
    and the kernels, a second or so; later calls skip that), made anew if broken."""
    pid, executor = _pools.get((workers, jobs_per_worker), (None, None))
    if executor is None or pid != os.getpid() or getattr(executor, "_broken", False):
        context = multiprocessing.get_context("spawn")    # no fork: the parent may hold threads and locks
        extra = {} if jobs_per_worker is None else {"max_tasks_per_child": jobs_per_worker}
        executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, **extra)
        _pools[(workers, jobs_per_worker)] = (os.getpid(), executor)
    return executor


def shutdown_pool():
    """Stop the worker processes that ``fit_many`` keeps between calls: its process pools and the
    Dask clusters it started (a Dask cluster given by address is only disconnected from)."""
    while _pools:
        _, (pid, executor) = _pools.popitem()
        if pid == os.getpid():
            executor.shutdown(wait=True, cancel_futures=True)
    while _dask_clients:
        _, (pid, client) = _dask_clients.popitem()
        if pid == os.getpid():
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()


def _on_pool(jobs, workers, address, settings, jobs_per_worker):
    pool = _executor(workers, jobs_per_worker)
    futures = {pool.submit(run_job, job, k, settings): k for k, job in enumerate(jobs)}
    for future in concurrent.futures.as_completed(futures):
        k = futures[future]
        try:
            yield k, future.result()
        except Exception as e:                            # noqa: BLE001  a worker that died takes its job with it
            yield k, _lost(k, jobs[k], e)


def _on_ray(jobs, workers, address, settings, jobs_per_worker):
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install 'minirnn[ray]'") from None
    env = {k: os.environ[k] for k in ("NUMBA_CACHE_DIR", "MINIRNN_BACKEND") if k in os.environ}
    if not ray.is_initialized():
        if address is None:        # a local instance: its workers see this process's modules and settings
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env})
        else:
            ray.init(address=address, runtime_env={"env_vars": env} if env else None)
    once = {"max_calls": jobs_per_worker} if jobs_per_worker else {}      # a worker ends after that many
    remote = ray.remote(num_cpus=1, max_retries=0, **once)(run_job)
    pending = {remote.remote(job, k, settings): k for k, job in enumerate(jobs)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        k = pending.pop(done[0])
        try:
            yield k, ray.get(done[0])
        except Exception as e:                            # noqa: BLE001  the worker died, or the job could not be sent
            yield k, _lost(k, jobs[k], e)


def _dask_client(address, workers):
    """A Client of the scheduler at `address`, or of a local cluster of `workers` one-thread
    processes (their environment is this process's: NUMBA_CACHE_DIR, MINIRNN_BACKEND); kept."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("backend='dask' needs dask.distributed: pip install 'minirnn[dask]'") from None
    key = (address, None if address else workers)
    pid, client = _dask_clients.get(key, (None, None))
    if client is None or pid != os.getpid() or client.status != "running":
        if address is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(address)
        _dask_clients[key] = (os.getpid(), client)
    return client


def _on_dask(jobs, workers, address, settings, jobs_per_worker):
    from distributed import as_completed

    client = _dask_client(address, workers)
    # pure=False: two equal jobs are two fits, not one result shared
    futures = {client.submit(run_job, job, k, settings, pure=False): k for k, job in enumerate(jobs)}
    for future in as_completed(futures):
        k = futures[future]
        try:
            yield k, future.result()
        except Exception as e:                            # noqa: BLE001  the worker died, or the job could not be sent
            yield k, _lost(k, jobs[k], e)


__all__ = ["FitJob", "FitResult", "fit_many", "run_job", "shutdown_pool", "BACKENDS"]
