"""The kernel does not depend on n_jobs, the joblib backend or worker failures."""

import os
import signal
import threading
import time

import joblib
import numpy as np
import pytest
import torch

from sknntk import NonlocalNTKKernel
from sknntk.models import MLP


def _data(n_rows=40):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n_rows, 3))


def _kernel(dtype="float64", **params):
    defaults = dict(
        hidden_layer_sizes=(32,),
        n_samples=64,
        sample_chunk_size=8,
        dtype=dtype,
        random_state=0,
    )
    defaults.update(params)
    return NonlocalNTKKernel(**defaults)


@pytest.mark.parametrize("kernel", ["nonlocal", "attention"])
@pytest.mark.parametrize("n_jobs", [2, 4])
@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_float64_identical_for_any_n_jobs(backend, n_jobs, kernel):
    X = _data()
    reference = _kernel(kernel=kernel, n_jobs=1).fit_transform(X)
    with joblib.parallel_config(backend=backend):
        result = _kernel(kernel=kernel, n_jobs=n_jobs).fit_transform(X)
    assert np.array_equal(result, reference)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_float32_close_for_any_n_jobs(backend):
    X = _data()
    reference = _kernel("float32", n_jobs=1).fit_transform(X)
    with joblib.parallel_config(backend=backend):
        result = _kernel("float32", n_jobs=2).fit_transform(X)
    np.testing.assert_allclose(result, reference, rtol=1e-6, atol=1e-6)


def test_chunk_size_does_not_change_kernel():
    X = _data()
    small = _kernel(sample_chunk_size=3).fit_transform(X)
    large = _kernel(sample_chunk_size=64).fit_transform(X)
    np.testing.assert_allclose(small, large, rtol=1e-12, atol=1e-14)


def test_threads_do_not_share_a_module():
    """Concurrent transforms on threads give the sequential result."""
    X = _data()
    kernel = _kernel().fit(X)
    expected = kernel.transform(X[:10])
    results = [None] * 4

    def work(index):
        results[index] = kernel.transform(X[:10])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert np.array_equal(result, expected)


class SlowTanh(torch.nn.Module):
    """A tanh layer that sleeps, so that a computation lasts long enough."""

    def forward(self, X):
        time.sleep(0.02)
        return torch.tanh(X)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # Workers import this module to unpickle SlowTanh.
    here = os.path.dirname(os.path.abspath(__file__))
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = here + (os.pathsep + previous if previous else "")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def test_dask_backend_identical(dask_client):
    X = _data()
    reference = _kernel(n_jobs=1).fit_transform(X)
    with joblib.parallel_config(backend="dask"):
        result = _kernel(n_jobs=2).fit_transform(X)
    assert np.array_equal(result, reference)


def test_dask_worker_killed_midway(dask_client):
    """Killing one worker mid-computation still returns the identical kernel."""
    X = _data(20)
    model = MLP(3, hidden_layer_sizes=(8,), activation=SlowTanh(), random_state=0)
    params = dict(model=model, n_samples=48, sample_chunk_size=1)
    reference = _kernel(n_jobs=1, **params).fit_transform(X)

    pids = dask_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed_at = []

    def kill_later():
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill_later)
    killer.start()
    with joblib.parallel_config(backend="dask"):
        result = _kernel(n_jobs=2, **params).fit_transform(X)
    finished_at = time.monotonic()
    killer.join()
    assert killed_at and killed_at[0] < finished_at
    assert np.array_equal(result, reference)
