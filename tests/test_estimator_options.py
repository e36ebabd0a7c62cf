"""Options and misuses of the estimators that a first user runs into."""

import numpy as np
import pytest
import torch

import sknntk._kernel
from sknntk import NNTKRegressor, NonlocalNTKKernel
from sknntk.exceptions import SknntkWarning
from sknntk.models import MLP


def _data():
    X = np.linspace(-1, 1, 30).reshape(-1, 1)
    return X, np.sin(3 * X[:, 0])


def _tanh(n_outputs=1):
    return MLP(1, (8,), "tanh", n_outputs=n_outputs, random_state=0)


def test_time_infinity_interpolates():
    X, y = _data()
    reg = NNTKRegressor(_tanh(), kernel="ntk", time=np.inf).fit(X, y)
    np.testing.assert_allclose(reg.predict(X), y, atol=1e-3)


def test_time_rejects_sample_weight():
    X, y = _data()
    with pytest.raises(ValueError, match="sample_weight is not supported"):
        NNTKRegressor(_tanh(), time=1.0).fit(X, y, sample_weight=np.ones(len(y)))


def test_time_rejects_alphas():
    X, y = _data()
    with pytest.raises(ValueError, match="alphas is not used with time"):
        NNTKRegressor(_tanh(), time=1.0, alphas=[0.1, 1.0]).fit(X, y)


def test_auto_solver_counts_outputs():
    """N * m features: 16 samples of a 3-output network exceed 30 rows."""
    X, y = _data()
    reg = NNTKRegressor(_tanh(n_outputs=3), n_samples=16, random_state=0).fit(X, y)
    assert reg.solver_ == "dual"
    primal = NNTKRegressor(_tanh(n_outputs=3), n_samples=8, random_state=0).fit(X, y)
    assert primal.solver_ == "primal"


def _factory(n_features):
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()


def test_callable_model_seeded_by_random_state():
    X, _ = _data()
    state = torch.random.get_rng_state()
    first = NonlocalNTKKernel(_factory, n_samples=8, random_state=0).fit_transform(X)
    second = NonlocalNTKKernel(_factory, n_samples=8, random_state=0).fit_transform(X)
    other = NonlocalNTKKernel(_factory, n_samples=8, random_state=1).fit_transform(X)
    assert np.array_equal(first, second)
    assert not np.allclose(first, other)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_model_class_rejected():
    X, _ = _data()
    with pytest.raises(TypeError, match="class Linear, not a module"):
        NonlocalNTKKernel(torch.nn.Linear).fit(X)


@pytest.mark.parametrize("device", ["meta", "tpu"])
def test_unsupported_device_rejected(device):
    X, _ = _data()
    with pytest.raises(ValueError, match=f"device='{device}'"):
        NonlocalNTKKernel(device=device, hidden_layer_sizes=(4,)).fit(X)


class _DictOutput(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1).double()

    def forward(self, X):
        return {"out": self.linear(X)}


def test_dict_output_rejected():
    X, _ = _data()
    with pytest.raises(TypeError, match="returned a dict"):
        NonlocalNTKKernel(_DictOutput(), n_samples=4).fit(X)


def test_auto_warns_when_tol_missed():
    X, _ = _data()
    kernel = NonlocalNTKKernel(
        n_samples="auto", tol=1e-6, max_samples=128, hidden_layer_sizes=(8,)
    )
    with pytest.warns(SknntkWarning, match="stopped at max_samples=128"):
        kernel.fit(X)
    assert np.isfinite(kernel.kernel_std_error_)


@pytest.mark.parametrize("kernel", ["ntk", "nonlocal"])
def test_fit_transform_checks_memory(kernel, monkeypatch):
    X, _ = _data()
    estimator = NonlocalNTKKernel(kernel=kernel, n_samples=4, hidden_layer_sizes=(4,))
    estimator.fit(X)
    monkeypatch.setattr(sknntk._kernel, "_available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match="K\\(X_fit, X_fit\\)"):
        estimator._fit_gram()
