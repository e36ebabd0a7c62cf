"""Model selection with scikit-learn's searches, pipelines and cross-validation.

With an integer ``random_state`` the network and the perturbations are fixed,
so every candidate of a search is a deterministic function of its parameters.
That makes the scores comparable with references computed by hand: a refit
of the best parameters, kernel ridge on the transformer's Gram matrix, or
scikit-learn's precomputed-kernel estimators.
"""

import numpy as np
import pytest
import torch
from scipy.stats import loguniform, randint
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_predict,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

import sknntk._cache
from sknntk import NNTKClassifier, NNTKGPKernel, NNTKRegressor, NonlocalNTKKernel

SMALL = {"hidden_layer_sizes": (16,), "n_samples": 16, "random_state": 0}
CV = KFold(n_splits=3, shuffle=True, random_state=0)


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.0, 2.0, size=(36, 2))
    y = np.sign(X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.standard_normal(36)
    return X, y


@pytest.fixture
def classification_data():
    rng = np.random.default_rng(1)
    X = rng.uniform(-2.0, 2.0, size=(36, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "same", "opposite")
    return X, y


def _assert_finite_scores(search):
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)), scores
    assert np.isfinite(search.best_score_)


def _assert_best_params_refit(search):
    params = search.best_estimator_.get_params()
    for name, value in search.best_params_.items():
        assert params[name] == value, name


# --------------------------------------------------- searches on estimators


def test_grid_search_regressor(regression_data):
    X, y = regression_data
    grid = {"gamma": [0.05, 0.5], "n_samples": [8, 16], "alpha": [0.01, 1.0]}
    estimator = NNTKRegressor(hidden_layer_sizes=(16,), random_state=0)

    search = GridSearchCV(estimator, grid, cv=CV).fit(X, y)

    _assert_finite_scores(search)
    assert len(search.cv_results_["params"]) == 8
    _assert_best_params_refit(search)
    refit_score = cross_val_score(
        clone(estimator).set_params(**search.best_params_), X, y, cv=CV
    ).mean()
    np.testing.assert_allclose(search.best_score_, refit_score, rtol=1e-12)


def test_grid_search_default_network(classification_data):
    X, y = classification_data
    grid = {
        "hidden_layer_sizes": [(8,), (16, 16)],
        "activation": ["relu", "tanh", "step"],
    }

    search = GridSearchCV(NNTKClassifier(**SMALL), grid, cv=CV).fit(X, y)

    _assert_finite_scores(search)
    assert len(search.cv_results_["params"]) == 6
    _assert_best_params_refit(search)
    widths = [
        layer.out_features
        for layer in search.best_estimator_.kernel_.model_.modules()
        if hasattr(layer, "out_features")
    ]
    assert widths == [*search.best_params_["hidden_layer_sizes"], 1]


def test_randomized_search_classifier(classification_data):
    X, y = classification_data
    distributions = {
        "gamma": loguniform(1e-2, 1.0),
        "n_samples": randint(4, 33),
        "alpha": loguniform(1e-3, 1.0),
        "activation": ["relu", "tanh"],
        "hidden_layer_sizes": [(8,), (16,)],
    }
    estimator = NNTKClassifier(random_state=0)

    first = RandomizedSearchCV(
        estimator, distributions, n_iter=4, cv=CV, random_state=0
    ).fit(X, y)
    second = RandomizedSearchCV(
        estimator, distributions, n_iter=4, cv=CV, random_state=0
    ).fit(X, y)

    _assert_finite_scores(first)
    _assert_best_params_refit(first)
    for params in first.cv_results_["params"]:
        assert 1e-2 <= params["gamma"] <= 1.0
        assert 4 <= params["n_samples"] <= 32
    assert first.best_params_ == second.best_params_
    np.testing.assert_array_equal(
        first.cv_results_["mean_test_score"], second.cv_results_["mean_test_score"]
    )


def test_search_parallel_matches_serial(classification_data):
    X, y = classification_data
    grid = {"gamma": [0.05, 0.5], "alpha": [0.01, 1.0]}
    estimator = NNTKClassifier(**SMALL)

    serial = GridSearchCV(estimator, grid, cv=CV, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(estimator, grid, cv=CV, n_jobs=2).fit(X, y)

    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"],
        serial.cv_results_["mean_test_score"],
        rtol=1e-12,
    )
    assert parallel.best_params_ == serial.best_params_


# --------------------------------------------- pipelines with a Gram matrix


def test_kernel_transformer_feeds_precomputed_svc(classification_data):
    X, y = classification_data
    X_train, X_test, y_train = X[:24], X[24:], y[:24]
    pipeline = Pipeline(
        [
            ("kernel", NonlocalNTKKernel(**SMALL)),
            ("svc", SVC(kernel="precomputed", C=2.0)),
        ]
    ).fit(X_train, y_train)

    kernel = NonlocalNTKKernel(**SMALL).fit(X_train)
    reference = SVC(kernel="precomputed", C=2.0).fit(kernel.transform(X_train), y_train)

    np.testing.assert_allclose(
        pipeline.decision_function(X_test),
        reference.decision_function(kernel.transform(X_test)),
        rtol=0,
        atol=1e-10,
    )


def test_grid_search_pipeline_svc(classification_data):
    X, y = classification_data
    pipeline = Pipeline(
        [
            ("kernel", NonlocalNTKKernel(hidden_layer_sizes=(16,), random_state=0)),
            ("svc", SVC(kernel="precomputed")),
        ]
    )
    grid = {
        "kernel__gamma": [0.05, 0.5],
        "kernel__n_samples": [8, 16],
        "svc__C": [0.1, 10.0],
    }

    search = GridSearchCV(pipeline, grid, cv=CV).fit(X, y)

    _assert_finite_scores(search)
    assert len(search.cv_results_["params"]) == 8
    _assert_best_params_refit(search)
    assert search.score(X, y) > 0.5


def test_kernel_ridge_pipeline_matches_regressor(regression_data):
    """Kernel ridge on the transformer's Gram matrix is NNTKRegressor's dual fit."""
    X, y = regression_data
    X_train, X_test, y_train = X[:24], X[24:], y[:24]
    pipeline = Pipeline(
        [
            ("kernel", NonlocalNTKKernel(**SMALL)),
            ("krr", KernelRidge(kernel="precomputed", alpha=0.1)),
        ]
    ).fit(X_train, y_train)

    regressor = NNTKRegressor(alpha=0.1, solver="dual", **SMALL).fit(X_train, y_train)

    np.testing.assert_allclose(
        pipeline.predict(X_test), regressor.predict(X_test), rtol=0, atol=1e-8
    )


def test_grid_search_pipeline_kernel_ridge(regression_data):
    """Scores of the pipeline search equal those of the regressor's search."""
    X, y = regression_data
    pipeline = Pipeline(
        [
            ("kernel", NonlocalNTKKernel(**SMALL)),
            ("krr", KernelRidge(kernel="precomputed")),
        ]
    )
    pipeline_grid = {"kernel__gamma": [0.05, 0.5], "krr__alpha": [0.01, 1.0]}
    regressor_grid = {"gamma": [0.05, 0.5], "alpha": [0.01, 1.0]}

    pipeline_search = GridSearchCV(pipeline, pipeline_grid, cv=CV).fit(X, y)
    regressor_search = GridSearchCV(
        NNTKRegressor(solver="dual", **SMALL), regressor_grid, cv=CV
    ).fit(X, y)

    _assert_finite_scores(pipeline_search)
    pipeline_scores = _scores_by_params(
        pipeline_search, {"kernel__gamma": "gamma", "krr__alpha": "alpha"}
    )
    regressor_scores = _scores_by_params(regressor_search)
    assert pipeline_scores.keys() == regressor_scores.keys()
    for params, score in regressor_scores.items():
        np.testing.assert_allclose(pipeline_scores[params], score, rtol=1e-8)


def _scores_by_params(search, names=None):
    """Map sorted ``(name, value)`` pairs of each candidate to its mean score.

    ``names`` renames the parameters, so that two searches that name them
    differently (and so order their candidates differently) can be compared.
    """
    names = {} if names is None else names
    scores = {}
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"]
    ):
        key = tuple(sorted((names.get(k, k), v) for k, v in params.items()))
        scores[key] = score
    return scores


# ---------------------------------------------------------- cross-validation


def test_cross_val_score_matches_manual_folds(classification_data):
    X, y = classification_data
    estimator = NNTKClassifier(alpha=0.1, **SMALL)

    scores = cross_val_score(estimator, X, y, cv=CV)

    expected = [
        clone(estimator).fit(X[train], y[train]).score(X[test], y[test])
        for train, test in CV.split(X)
    ]
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    np.testing.assert_array_equal(scores, expected)


def test_cross_val_predict_matches_manual_folds(regression_data):
    X, y = regression_data
    estimator = NNTKRegressor(alpha=0.1, **SMALL)

    predicted = cross_val_predict(estimator, X, y, cv=CV)

    expected = np.empty_like(y)
    for train, test in CV.split(X):
        expected[test] = clone(estimator).fit(X[train], y[train]).predict(X[test])
    assert predicted.shape == y.shape
    np.testing.assert_array_equal(predicted, expected)


def test_nested_search_scores_finite(regression_data):
    X, y = regression_data
    inner = GridSearchCV(
        NNTKRegressor(**SMALL), {"alpha": [0.01, 1.0]}, cv=KFold(n_splits=2)
    )

    scores = cross_val_score(inner, X, y, cv=CV)

    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))


# ----------------------------------------------------- the GP kernel adapter


def test_gp_kernel_in_kernel_ridge_matches_regressor(regression_data):
    X, y = regression_data
    X_train, X_test, y_train = X[:24], X[24:], y[:24]
    kernel = NNTKGPKernel(hidden_layer_sizes=(16,), n_samples=16, random_state=0)

    ridge = KernelRidge(kernel=kernel, alpha=0.1).fit(X_train, y_train)
    regressor = NNTKRegressor(alpha=0.1, solver="dual", **SMALL).fit(X_train, y_train)

    np.testing.assert_allclose(
        ridge.predict(X_test), regressor.predict(X_test), rtol=0, atol=1e-8
    )


def test_grid_search_gp_kernel_in_kernel_ridge(regression_data):
    X, y = regression_data
    ridge = KernelRidge(
        kernel=NNTKGPKernel(hidden_layer_sizes=(16,), random_state=0), alpha=0.1
    )
    ridge_grid = {"kernel__gamma": [0.05, 0.5], "kernel__n_samples": [8, 16]}
    regressor_grid = {"gamma": [0.05, 0.5], "n_samples": [8, 16]}
    regressor = NNTKRegressor(
        alpha=0.1, solver="dual", hidden_layer_sizes=(16,), random_state=0
    )

    ridge_search = GridSearchCV(ridge, ridge_grid, cv=CV).fit(X, y)
    regressor_search = GridSearchCV(regressor, regressor_grid, cv=CV).fit(X, y)

    _assert_finite_scores(ridge_search)
    _assert_best_params_refit(ridge_search)
    ridge_scores = _scores_by_params(
        ridge_search, {"kernel__gamma": "gamma", "kernel__n_samples": "n_samples"}
    )
    regressor_scores = _scores_by_params(regressor_search)
    assert ridge_scores.keys() == regressor_scores.keys()
    for params, score in regressor_scores.items():
        np.testing.assert_allclose(ridge_scores[params], score, rtol=1e-8)


def _sine(x):
    return torch.sin(x)


def _scaled_cosine(x):
    return 5.0 * torch.cos(x)


def test_callable_activations_give_distinct_kernels(regression_data, monkeypatch):
    """Candidates that differ only in a callable activation get their own kernel.

    Two lambdas defined side by side have the same name and repr, so the
    cache of perturbed outputs, on here as it is for users, must not tell the
    networks apart by those alone.
    """
    monkeypatch.setattr(sknntk._cache, "MAX_CACHE_BYTES", 64 * 2**20)
    X, _ = regression_data
    activations = [lambda x: torch.sin(x), lambda x: 5.0 * torch.cos(x)]

    anonymous = [
        NonlocalNTKKernel(activation=activation, **SMALL).fit_transform(X)
        for activation in activations
    ]
    named = [
        NonlocalNTKKernel(activation=activation, **SMALL).fit_transform(X)
        for activation in (_sine, _scaled_cosine)
    ]

    assert not np.allclose(named[0], named[1])
    np.testing.assert_allclose(anonymous[0], named[0], rtol=1e-12)
    np.testing.assert_allclose(anonymous[1], named[1], rtol=1e-12)
