"""NNTKRegressor(time=...) against the kernel-regime formula."""

import numpy as np
import pytest
import torch
from scipy import linalg

from sknntk import NNTKRegressor, NonlocalNTKKernel
from sknntk.models import MLP


def _setup():
    X = np.linspace(-1, 1, 10).reshape(-1, 1)
    y = np.sin(3 * X[:, 0])
    model = MLP(1, (32,), "tanh", random_state=0)
    return X, y, model


def test_time_matches_matrix_exponential():
    X, y, model = _setup()
    X_test = np.array([[-0.55], [0.1], [0.8]])
    t, eta = 0.7, 0.5
    reg = NNTKRegressor(model, kernel="ntk", time=t, learning_rate=eta).fit(X, y)
    kernel = NonlocalNTKKernel(model, kernel="ntk").fit(X)
    K = kernel.transform(X)
    K_test = kernel.transform(X_test)
    with torch.no_grad():
        f0 = model(torch.as_tensor(X)).numpy()[:, 0]
        f0_test = model(torch.as_tensor(X_test)).numpy()[:, 0]
    flow = linalg.solve(K, (np.eye(len(y)) - linalg.expm(-eta * K * t)) @ (y - f0))
    expected = f0_test + K_test @ flow
    np.testing.assert_allclose(reg.predict(X_test), expected, rtol=1e-6, atol=1e-8)


def test_path_starts_at_network_and_ends_at_interpolant():
    X, y, model = _setup()
    reg = NNTKRegressor(model, kernel="ntk", time=1.0).fit(X, y)
    path = reg.predict_path(X, [0.0, np.inf])
    assert path.shape == (2, len(y))
    np.testing.assert_allclose(path[0], reg.kernel_._initial_outputs(X)[:, 0])
    np.testing.assert_allclose(path[1], y, atol=1e-6)


def test_time_rejects_primal_solver():
    X, y, model = _setup()
    with pytest.raises(ValueError, match="solver='primal'"):
        NNTKRegressor(model, time=1.0, solver="primal").fit(X, y)


def test_time_rejects_output_width_mismatch():
    X, y, model = _setup()
    with pytest.raises(ValueError, match="1 outputs and y has 2 targets"):
        NNTKRegressor(model, kernel="ntk", time=1.0).fit(X, np.c_[y, y])


def test_predict_path_needs_time():
    X, y, model = _setup()
    reg = NNTKRegressor(model, kernel="ntk").fit(X, y)
    with pytest.raises(ValueError, match="fitted with time"):
        reg.predict_path(X, [1.0])
