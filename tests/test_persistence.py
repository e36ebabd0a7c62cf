"""Pickle and joblib round trips of fitted estimators.

A loaded estimator must give exactly the same Gram matrix or predictions as the
one that was saved. Its fitted network must live on the CPU, so that it loads
on a machine without the device it was fitted on.
"""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch

from sknntk import NNTKClassifier, NNTKRegressor, NonlocalNTKKernel

KERNELS = ("ntk", "nonlocal", "attention")
SMALL = {"n_samples": 16, "random_state": 0, "hidden_layer_sizes": (16,)}


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1]
    return X, y, rng.standard_normal((6, 2))


def _tanh_module():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()


def _fit(Estimator, kernel, with_module):
    X, y, _ = _data()
    model = _tanh_module() if with_module else None
    estimator = Estimator(model, kernel=kernel, **SMALL)
    if Estimator is NNTKClassifier:
        return estimator.fit(X, np.where(y > 0, "up", "down"))
    return estimator.fit(X, y)


def _outputs(estimator, X):
    """Return every output array of a fitted estimator on ``X``."""
    if isinstance(estimator, NonlocalNTKKernel):
        return [estimator.transform(X)]
    if isinstance(estimator, NNTKClassifier):
        return [estimator.decision_function(X), estimator.predict(X)]
    return [estimator.predict(X)]


def _fitted_module(estimator):
    kernel = (
        estimator if isinstance(estimator, NonlocalNTKKernel) else estimator.kernel_
    )
    return kernel.model_


def _assert_on_cpu(module):
    tensors = [*module.parameters(), *module.buffers()]
    assert tensors
    for tensor in tensors:
        assert tensor.device.type == "cpu"


def _pickle_round_trip(estimator):
    return pickle.loads(pickle.dumps(estimator))


def _joblib_round_trip(estimator):
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


ROUND_TRIPS = {"pickle": _pickle_round_trip, "joblib": _joblib_round_trip}
CASES = [
    pytest.param(Estimator, kernel, id=f"{Estimator.__name__}-{kernel}")
    for Estimator in (NonlocalNTKKernel, NNTKRegressor, NNTKClassifier)
    for kernel in KERNELS
]


@pytest.mark.parametrize("with_module", [False, True], ids=["default", "module"])
@pytest.mark.parametrize(("Estimator", "kernel"), CASES)
@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
def test_round_trip_gives_identical_outputs(round_trip, Estimator, kernel, with_module):
    _, _, X_test = _data()
    estimator = _fit(Estimator, kernel, with_module)
    expected = _outputs(estimator, X_test)

    loaded = ROUND_TRIPS[round_trip](estimator)

    assert type(loaded) is Estimator
    assert loaded.get_params().keys() == estimator.get_params().keys()
    for got, want in zip(_outputs(loaded, X_test), expected):
        assert got.shape == want.shape
        assert np.array_equal(got, want)


@pytest.mark.parametrize("with_module", [False, True], ids=["default", "module"])
@pytest.mark.parametrize(("Estimator", "kernel"), CASES)
def test_fitted_module_on_cpu(Estimator, kernel, with_module):
    estimator = _fit(Estimator, kernel, with_module)

    _assert_on_cpu(_fitted_module(estimator))
    _assert_on_cpu(_fitted_module(_pickle_round_trip(estimator)))


def test_round_trip_to_file(tmp_path):
    _, _, X_test = _data()
    estimator = _fit(NNTKRegressor, "nonlocal", with_module=True)
    path = tmp_path / "regressor.joblib"

    joblib.dump(estimator, path)
    loaded = joblib.load(path)

    assert np.array_equal(loaded.predict(X_test), estimator.predict(X_test))


def test_loaded_estimator_refits_identically():
    """A loaded estimator keeps its parameters, so refitting gives the same fit."""
    X, y, X_test = _data()
    estimator = _fit(NNTKRegressor, "nonlocal", with_module=True)

    loaded = _pickle_round_trip(estimator).fit(X, y)

    assert np.array_equal(loaded.predict(X_test), estimator.predict(X_test))


def test_unfitted_estimator_with_module_pickles():
    estimator = NonlocalNTKKernel(_tanh_module(), **SMALL)

    loaded = _pickle_round_trip(estimator)

    module, loaded_module = estimator.model, loaded.model
    assert loaded_module is not module
    for name, value in module.state_dict().items():
        assert torch.equal(loaded_module.state_dict()[name], value), name


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kernel", KERNELS)
def test_cuda_fit_loads_on_cpu_only_machine(kernel, monkeypatch):
    X, y, X_test = _data()
    estimator = NNTKRegressor(_tanh_module(), kernel=kernel, device="cuda", **SMALL)
    estimator.fit(X, y)
    expected = estimator.predict(X_test)
    payload = pickle.dumps(estimator)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(payload)

    _assert_on_cpu(_fitted_module(loaded))
    monkeypatch.undo()
    np.testing.assert_allclose(loaded.predict(X_test), expected, rtol=1e-10)
