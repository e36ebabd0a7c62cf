"""Choosing alpha by leave-one-out inside the estimators."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV

from sknntk import NNTKClassifier, NNTKRegressor

ALPHAS = [1e-3, 1e-2, 1e-1, 1.0, 10.0]


def _linear(n_features):
    return torch.nn.Linear(n_features, 1, bias=False).double()


@pytest.mark.parametrize("solver", ["dual", "primal"])
def test_alphas_match_ridge_cv(solver):
    """For a linear model's NTK, the choice equals RidgeCV's on the raw features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.5, size=40)
    reg = NNTKRegressor(_linear(3), kernel="ntk", alphas=ALPHAS, solver=solver).fit(
        X, y
    )
    reference = RidgeCV(alphas=ALPHAS, fit_intercept=False).fit(X, y)
    assert reg.alpha_ == reference.alpha_
    np.testing.assert_allclose(reg.predict(X), reference.predict(X), atol=1e-8)


def test_alphas_dual_and_primal_agree_on_nonlocal_kernel():
    X = np.linspace(-1, 1, 50).reshape(-1, 1)
    y = np.sign(X).ravel()
    params = dict(hidden_layer_sizes=(16,), n_samples=24, alphas=ALPHAS, random_state=0)
    dual = NNTKRegressor(solver="dual", **params).fit(X, y)
    primal = NNTKRegressor(solver="primal", **params).fit(X, y)
    assert dual.alpha_ == primal.alpha_
    np.testing.assert_allclose(dual.loo_errors_, primal.loo_errors_, rtol=1e-8)
    np.testing.assert_allclose(dual.predict(X), primal.predict(X), atol=1e-8)


def test_alphas_classifier_stores_choice():
    X = np.linspace(-1, 1, 40).reshape(-1, 1)
    y = np.where(X.ravel() > 0, "right", "left")
    clf = NNTKClassifier(
        hidden_layer_sizes=(16,), n_samples=24, alphas=ALPHAS, random_state=0
    ).fit(X, y)
    assert clf.alpha_ in ALPHAS
    assert clf.loo_errors_.shape == (len(ALPHAS),)
    assert clf.score(X, y) == 1.0


def test_alpha_used_without_alphas():
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    reg = NNTKRegressor(hidden_layer_sizes=(8,), n_samples=8, alpha=0.3).fit(X, X[:, 0])
    assert reg.alpha_ == 0.3
    assert reg.loo_errors_ is None
