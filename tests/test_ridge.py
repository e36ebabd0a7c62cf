"""Kernel ridge estimators against scikit-learn's linear ridge models.

For ``f(x; theta) = theta . x`` the NTK is ``K = X X^T``, and kernel ridge
regression predicts ``x^T X^T (X X^T + alpha I)^-1 y
= x^T (X^T X + alpha I)^-1 X^T y``: linear ridge regression without an
intercept. With sample weights ``S`` both sides minimise
``sum_i s_i (y_i - f(x_i))**2 + alpha ||w||**2``.
"""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeClassifier

from sknntk import NNTKClassifier, NNTKRegressor

N_FEATURES = 4


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, N_FEATURES))
    X_test = rng.standard_normal((10, N_FEATURES))
    W = rng.standard_normal((N_FEATURES, 3))
    Y = X @ W + 0.1 * rng.standard_normal((30, 3))
    sample_weight = rng.uniform(0.2, 3.0, size=30)
    return X, X_test, Y, sample_weight


@pytest.fixture
def classification_data():
    """Rows on both sides of a hyperplane through the origin, with a margin."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, N_FEATURES))
    direction = rng.standard_normal(N_FEATURES)
    score = X @ direction
    keep = np.abs(score) > 0.3
    return X[keep], score[keep] > 0, rng.standard_normal((8, N_FEATURES))


def _linear_ntk_regressor(make_linear, **params):
    return NNTKRegressor(make_linear(N_FEATURES), kernel="ntk", **params)


@pytest.mark.parametrize("solver", ["auto", "dual", "primal"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_targets", [None, 3], ids=["1d", "3-targets"])
def test_linear_ntk_regressor_matches_ridge(
    make_linear, regression_data, solver, weighted, n_targets
):
    X, X_test, Y, sample_weight = regression_data
    y = Y[:, 0] if n_targets is None else Y
    weights = sample_weight if weighted else None

    regressor = _linear_ntk_regressor(make_linear, alpha=0.5, solver=solver)
    regressor.fit(X, y, sample_weight=weights)
    ridge = Ridge(alpha=0.5, fit_intercept=False).fit(X, y, sample_weight=weights)
    prediction = regressor.predict(X_test)

    assert prediction.shape == ((10,) if n_targets is None else (10, 3))
    np.testing.assert_allclose(prediction, ridge.predict(X_test), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(regressor.predict(X), ridge.predict(X), atol=1e-8)


def test_linear_ntk_auto_solver_choice(make_linear, regression_data):
    """``auto`` picks primal when rows (30) exceed the ``m d = 4`` features."""
    X, _, Y, _ = regression_data

    many_rows = _linear_ntk_regressor(make_linear).fit(X, Y[:, 0])
    few_rows = _linear_ntk_regressor(make_linear).fit(X[:3], Y[:3, 0])

    assert many_rows.solver_ == "primal"
    assert many_rows.coef_.shape == (N_FEATURES, 1)
    assert few_rows.solver_ == "dual"
    assert few_rows.dual_coef_.shape == (3, 1)


@pytest.mark.parametrize("solver", ["dual", "primal"])
def test_linear_ntk_alpha_per_target(make_linear, regression_data, solver):
    X, X_test, Y, _ = regression_data
    alpha = np.array([0.01, 1.0, 30.0])

    regressor = _linear_ntk_regressor(make_linear, alpha=alpha, solver=solver)
    ridge = Ridge(alpha=alpha, fit_intercept=False).fit(X, Y)

    np.testing.assert_allclose(
        regressor.fit(X, Y).predict(X_test), ridge.predict(X_test), atol=1e-8
    )


@pytest.mark.parametrize("kernel", ["nonlocal", "attention"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_dual_primal_agree_monte_carlo(
    make_tanh_mlp, regression_data, kernel, weighted
):
    """N = 16 perturbations and 30 rows: the kernel has rank at most 16."""
    _, _, Y, sample_weight = regression_data
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 2))
    X_test = rng.standard_normal((10, 2))
    weights = sample_weight if weighted else None
    predictions = {}
    for solver in ("dual", "primal"):
        regressor = NNTKRegressor(
            make_tanh_mlp(2, 8),
            kernel=kernel,
            n_samples=16,
            alpha=0.1,
            solver=solver,
            random_state=0,
        )
        regressor.fit(X, Y, sample_weight=weights)
        assert regressor.solver_ == solver
        predictions[solver] = regressor.predict(X_test)

    assert predictions["dual"].shape == (10, 3)
    np.testing.assert_allclose(
        predictions["dual"], predictions["primal"], rtol=1e-8, atol=1e-8
    )


LABELINGS = {
    "str": lambda positive: np.where(positive, "pos", "neg"),
    "int": lambda positive: np.where(positive, 7, -3),
    "bool": lambda positive: positive,
}


@pytest.mark.parametrize("labels", sorted(LABELINGS))
def test_linear_ntk_classifier_matches_ridge(make_linear, classification_data, labels):
    X, positive, X_test = classification_data
    y = LABELINGS[labels](positive)

    classifier = NNTKClassifier(make_linear(N_FEATURES), kernel="ntk", alpha=0.5)
    classifier.fit(X, y)
    reference = RidgeClassifier(alpha=0.5, fit_intercept=False).fit(X, y)
    scores = classifier.decision_function(X_test)

    np.testing.assert_array_equal(classifier.classes_, reference.classes_)
    assert scores.shape == (8,)
    np.testing.assert_allclose(
        scores, reference.decision_function(X_test), rtol=1e-8, atol=1e-8
    )
    np.testing.assert_array_equal(classifier.predict(X_test), reference.predict(X_test))
    np.testing.assert_array_equal(classifier.predict(X), y)


@pytest.mark.parametrize("solver", ["dual", "primal"])
def test_linear_ntk_classifier_multiclass(make_linear, solver):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((45, N_FEATURES))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    X_test = rng.standard_normal((6, N_FEATURES))
    sample_weight = rng.uniform(0.5, 2.0, size=45)

    classifier = NNTKClassifier(
        make_linear(N_FEATURES), kernel="ntk", alpha=0.5, solver=solver
    )
    classifier.fit(X, y, sample_weight=sample_weight)
    reference = RidgeClassifier(alpha=0.5, fit_intercept=False)
    reference.fit(X, y, sample_weight=sample_weight)
    scores = classifier.decision_function(X_test)

    assert scores.shape == (6, 3)
    np.testing.assert_array_equal(classifier.classes_, ["a", "b", "c"])
    np.testing.assert_allclose(
        scores, reference.decision_function(X_test), rtol=1e-8, atol=1e-8
    )
    np.testing.assert_array_equal(classifier.predict(X_test), reference.predict(X_test))


def test_classifier_rejects_single_class(make_linear):
    X = np.random.default_rng(4).standard_normal((5, N_FEATURES))

    with pytest.raises(ValueError, match="at least 2 classes"):
        NNTKClassifier(make_linear(N_FEATURES), kernel="ntk").fit(X, ["a"] * 5)


def test_two_output_model_traces_kernel(regression_data):
    """``Linear(p, 2)`` has NTK ``2 x . x'``: Ridge with ``alpha / 2``."""
    X, X_test, Y, _ = regression_data
    model = torch.nn.Linear(N_FEATURES, 2, bias=False).double()

    regressor = NNTKRegressor(model, kernel="ntk", alpha=1.0, solver="dual")
    ridge = Ridge(alpha=0.5, fit_intercept=False).fit(X, Y[:, 0])

    np.testing.assert_allclose(
        regressor.fit(X, Y[:, 0]).predict(X_test), ridge.predict(X_test), atol=1e-8
    )
