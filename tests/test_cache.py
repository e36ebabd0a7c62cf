"""The cache of perturbed-output differences shared by fits with different N."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

import sknntk._cache
import sknntk._montecarlo
from sknntk import NNTKRegressor, NonlocalNTKKernel, clear_cache


@pytest.fixture
def cache_on(monkeypatch):
    monkeypatch.setattr(sknntk._cache, "MAX_CACHE_BYTES", 64 * 2**20)
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def counted(monkeypatch):
    """Count the perturbations whose forward passes actually run."""
    calls = []
    original = sknntk._montecarlo.scaled_differences

    def spy(fmodel, X, sampler, gamma, start, stop, *args, **kwargs):
        calls.append(stop - start)
        return original(fmodel, X, sampler, gamma, start, stop, *args, **kwargs)

    monkeypatch.setattr(sknntk._montecarlo, "scaled_differences", spy)
    return calls


def _kernel(n_samples):
    return NonlocalNTKKernel(
        hidden_layer_sizes=(16,), n_samples=n_samples, random_state=0
    )


def _data():
    return np.random.default_rng(0).normal(size=(30, 2))


def test_cache_smaller_n_reuses_prefix(cache_on, counted):
    X = _data()
    _kernel(64).fit(X)
    K_cached = _kernel(32).fit_transform(X)
    assert counted == [64]

    clear_cache()
    K_fresh = _kernel(32).fit_transform(X)
    assert np.array_equal(K_cached, K_fresh)


def test_cache_larger_n_computes_only_the_rest(cache_on, counted):
    X = _data()
    _kernel(32).fit(X)
    K_extended = _kernel(48).fit_transform(X)
    assert counted == [32, 16]

    clear_cache()
    assert np.array_equal(K_extended, _kernel(48).fit_transform(X))


def test_cache_other_seed_recomputes(cache_on, counted):
    X = _data()
    _kernel(32).fit(X)
    NonlocalNTKKernel(hidden_layer_sizes=(16,), n_samples=32, random_state=1).fit(X)
    assert counted == [32, 32]


def test_cache_grid_search_over_n_samples(cache_on, counted):
    """A search over N computes each fold's perturbations once, for the largest N."""
    X = _data()
    y = np.sin(3 * X[:, 0])
    search = GridSearchCV(
        NNTKRegressor(hidden_layer_sizes=(16,), random_state=0, alpha=1e-2),
        {"n_samples": [64, 32, 16]},
        cv=3,
        refit=False,
    ).fit(X, y)
    # 3 folds x (fit rows + test rows) for N = 64, then only cache hits.
    assert counted == [64] * 6
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_cache_size_limit_evicts(cache_on, monkeypatch):
    monkeypatch.setattr(sknntk._cache, "MAX_CACHE_BYTES", 30 * 64 * 8 + 64 * 8)
    X = _data()
    _kernel(64).fit(X)
    NonlocalNTKKernel(hidden_layer_sizes=(16,), n_samples=64, random_state=1).fit(X)
    assert len(sknntk._cache._entries) == 1
