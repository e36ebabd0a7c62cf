"""The CUDA path: same kernel as on the CPU, fitted state on the CPU."""

import pickle

import numpy as np
import pytest
import torch

from sknntk import NNTKRegressor, NonlocalNTKKernel
from sknntk.exceptions import SknntkWarning

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _data():
    return np.random.default_rng(0).normal(size=(50, 3))


@pytest.mark.parametrize("kernel", ["nonlocal", "attention", "ntk"])
def test_cuda_kernel_matches_cpu(kernel):
    X = _data()
    params = dict(kernel=kernel, hidden_layer_sizes=(32,), n_samples=64, random_state=0)
    cpu = NonlocalNTKKernel(**params).fit_transform(X)
    gpu = NonlocalNTKKernel(device="cuda", **params).fit_transform(X)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-10)


def test_cuda_device_list_matches_cpu():
    X = _data()
    devices = ["cuda"] * 2 + ["cpu"]
    params = dict(hidden_layer_sizes=(32,), n_samples=64, sample_chunk_size=8)
    cpu = NonlocalNTKKernel(random_state=0, **params).fit_transform(X)
    mixed = NonlocalNTKKernel(device=devices, random_state=0, **params).fit_transform(X)
    np.testing.assert_allclose(mixed, cpu, rtol=1e-9, atol=1e-10)


def test_cuda_fitted_state_on_cpu(monkeypatch):
    X = _data()
    reg = NNTKRegressor(
        device="cuda", hidden_layer_sizes=(16,), n_samples=32, random_state=0
    ).fit(X, X[:, 0])
    assert all(p.device.type == "cpu" for p in reg.kernel_.model_.parameters())
    blob = pickle.dumps(reg)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(blob)
    assert all(p.device.type == "cpu" for p in loaded.kernel_.model_.parameters())
    expected = reg.predict(X)
    with pytest.warns(SknntkWarning, match="CUDA is not available"):
        predicted = loaded.predict(X)
    np.testing.assert_allclose(predicted, expected, rtol=1e-9)
