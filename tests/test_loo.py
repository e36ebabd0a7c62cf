"""Leave-one-out penalty selection against refits and scikit-learn's RidgeCV.

The references are brute force (refit without each row and predict it) and
:class:`sklearn.linear_model.RidgeCV` without an intercept, whose errors come
from the same closed form. With sample weights, RidgeCV averages
``s_i e_i^2`` over ``n_samples`` while ``loo_dual`` and ``loo_primal`` divide
by ``sum_i s_i``.
"""

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from sknntk._loo import loo_dual, loo_primal
from sknntk._ridge import solve_dual, solve_primal
from sknntk.exceptions import IllConditionedWarning

ALPHAS = np.array([1e-3, 0.1, 1.0, 10.0])
N_ROWS = 15


def _rbf_gram(X, Z):
    distances = ((X[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-0.5 * distances)


def _make_problem(n_features, n_targets, weighted, seed=0):
    """Return rows, targets and weights. When weighted, two rows get weight zero."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, n_features))
    W = rng.standard_normal((n_features, n_targets or 1))
    Y = np.tanh(X @ W) + 0.3 * rng.standard_normal((N_ROWS, n_targets or 1))
    if n_targets is None:
        Y = Y[:, 0]
    weights = None
    if weighted:
        weights = rng.uniform(0.2, 3.0, size=N_ROWS)
        weights[[2, 7]] = 0.0
    return X, Y, weights


def _make_blocks(Phi, size=4):
    return lambda: [
        (start, Phi[start : start + size]) for start in range(0, len(Phi), size)
    ]


def _refit_dual_residuals(K, Y, alpha, weights):
    """Return residuals ``y_i - f_{-i}(x_i)`` from ``n`` kernel ridge refits."""
    Y = Y.reshape(len(K), -1)
    residuals = np.empty_like(Y)
    for i in range(len(K)):
        keep = np.arange(len(K)) != i
        kept_weights = None if weights is None else weights[keep]
        coef = solve_dual(K[np.ix_(keep, keep)], Y[keep], alpha, kept_weights)
        residuals[i] = Y[i] - K[i, keep] @ coef
    return residuals


def _refit_primal_residuals(Phi, Y, alpha, weights):
    """Return residuals from ``n`` solves of the weighted normal equations."""
    Y = Y.reshape(len(Phi), -1)
    weights = np.ones(len(Phi)) if weights is None else weights
    residuals = np.empty_like(Y)
    for i in range(len(Phi)):
        keep = np.arange(len(Phi)) != i
        weighted = Phi[keep] * weights[keep, None]
        system = weighted.T @ Phi[keep] + alpha * np.eye(Phi.shape[1])
        coef = np.linalg.solve(system, weighted.T @ Y[keep])
        residuals[i] = Y[i] - Phi[i] @ coef
    return residuals


def _weighted_mean_squares(residuals, weights):
    weights = np.ones(residuals.shape[0]) if weights is None else weights
    return (weights[:, None] * residuals**2).sum(axis=0) / weights.sum()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_targets", [None, 3], ids=["1d", "3-targets"])
def test_loo_dual_matches_refits(weighted, n_targets):
    X, Y, weights = _make_problem(3, n_targets, weighted)
    K = _rbf_gram(X, X)

    result = loo_dual(K, Y, ALPHAS, weights, return_residuals=True)

    assert result.loo_residuals_.shape == (len(ALPHAS), N_ROWS, n_targets or 1)
    assert result.loo_errors_per_target_.shape == (len(ALPHAS), n_targets or 1)
    assert result.coef_ is None
    for a, alpha in enumerate(ALPHAS):
        expected = _refit_dual_residuals(K, Y, alpha, weights)
        np.testing.assert_allclose(result.loo_residuals_[a], expected, atol=1e-8)
        np.testing.assert_allclose(
            result.loo_errors_per_target_[a],
            _weighted_mean_squares(expected, weights),
            atol=1e-8,
        )


@pytest.mark.parametrize("route", ["array", "blocks"])
@pytest.mark.parametrize("n_features", [4, 25], ids=["tall", "wide"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_targets", [None, 3], ids=["1d", "3-targets"])
def test_loo_primal_matches_refits(route, n_features, weighted, n_targets):
    Phi, Y, weights = _make_problem(n_features, n_targets, weighted)
    features = Phi if route == "array" else _make_blocks(Phi)

    result = loo_primal(features, Y, ALPHAS, weights, return_residuals=True)

    assert result.coef_.shape == (n_features, n_targets or 1)
    assert result.dual_coef_ is None
    for a, alpha in enumerate(ALPHAS):
        expected = _refit_primal_residuals(Phi, Y, alpha, weights)
        np.testing.assert_allclose(result.loo_residuals_[a], expected, atol=1e-8)
        np.testing.assert_allclose(
            result.loo_errors_per_target_[a],
            _weighted_mean_squares(expected, weights),
            atol=1e-8,
        )


def _ridgecv_errors(X, Y, alphas, weights, **params):
    """Return RidgeCV's ``alpha_`` and LOO errors, rescaled to divide by ``sum s_i``."""
    ridge = RidgeCV(alphas=alphas, fit_intercept=False, store_cv_results=True, **params)
    ridge.fit(X, Y, sample_weight=weights)
    squared = ridge.cv_results_.reshape(len(X), -1, len(alphas))
    scale = 1.0 if weights is None else len(X) / weights.sum()
    return ridge.alpha_, scale * squared.mean(axis=0).T


@pytest.mark.parametrize("method", ["dual", "primal-array", "primal-blocks"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_targets", [None, 3], ids=["1d", "3-targets"])
def test_loo_matches_ridgecv_linear(method, weighted, n_targets):
    X, Y, weights = _make_problem(4, n_targets, weighted, seed=1)
    alphas = np.logspace(-2, 3, 11)
    expected_alpha, expected_errors = _ridgecv_errors(X, Y, alphas, weights)

    if method == "dual":
        result = loo_dual(X @ X.T, Y, alphas, weights)
    else:
        features = X if method == "primal-array" else _make_blocks(X)
        result = loo_primal(features, Y, alphas, weights)

    assert result.alpha_ == expected_alpha
    np.testing.assert_allclose(
        result.loo_errors_per_target_, expected_errors, rtol=1e-8
    )
    np.testing.assert_allclose(
        result.loo_errors_, expected_errors.mean(axis=1), rtol=1e-8
    )


@pytest.mark.parametrize("method", ["dual", "primal"])
def test_loo_alpha_per_target_matches_ridgecv(method):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 4))
    # Noise levels from 0.01 to 3 make the targets prefer different penalties.
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((40, 3)) * [0.01, 1, 3]
    alphas = np.logspace(-3, 3, 13)
    ridge = RidgeCV(alphas=alphas, fit_intercept=False, alpha_per_target=True)
    ridge.fit(X, Y)

    if method == "dual":
        result = loo_dual(X @ X.T, Y, alphas, alpha_per_target=True)
        prediction = X @ X.T @ result.dual_coef_
        coef = solve_dual(X @ X.T, Y, result.alpha_)
        np.testing.assert_allclose(result.dual_coef_, coef, atol=1e-8)
    else:
        result = loo_primal(X, Y, alphas, alpha_per_target=True)
        prediction = X @ result.coef_

    assert len(np.unique(result.alpha_)) > 1
    np.testing.assert_array_equal(result.alpha_, ridge.alpha_)
    np.testing.assert_array_equal(result.alphas_[result.best_index_], ridge.alpha_)
    np.testing.assert_allclose(prediction, ridge.predict(X), atol=1e-8)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_features", [6, 30], ids=["tall", "wide"])
def test_loo_dual_and_primal_agree(weighted, n_features):
    Phi, Y, weights = _make_problem(n_features, 2, weighted, seed=3)
    Phi_new = np.random.default_rng(4).standard_normal((5, n_features))
    alphas = np.logspace(-2, 2, 9)

    dual = loo_dual(Phi @ Phi.T, Y, alphas, weights, return_residuals=True)
    primal = loo_primal(_make_blocks(Phi), Y, alphas, weights, return_residuals=True)

    assert dual.alpha_ == primal.alpha_
    assert dual.best_index_ == primal.best_index_
    np.testing.assert_allclose(dual.loo_errors_, primal.loo_errors_, rtol=1e-8)
    np.testing.assert_allclose(dual.loo_residuals_, primal.loo_residuals_, atol=1e-8)
    np.testing.assert_allclose(
        Phi_new @ Phi.T @ dual.dual_coef_, Phi_new @ primal.coef_, atol=1e-8
    )


@pytest.mark.parametrize("method", ["dual", "primal-array", "primal-blocks"])
def test_loo_best_coef_matches_solvers(method):
    Phi, Y, weights = _make_problem(5, 2, True, seed=5)

    if method == "dual":
        result = loo_dual(_rbf_gram(Phi, Phi), Y, ALPHAS, weights)
        expected = solve_dual(_rbf_gram(Phi, Phi), Y, result.alpha_, weights)
        np.testing.assert_allclose(result.dual_coef_, expected, atol=1e-8)
    else:
        features = Phi if method == "primal-array" else _make_blocks(Phi)
        result = loo_primal(features, Y, ALPHAS, weights)
        expected = solve_primal(_make_blocks(Phi)(), Y, result.alpha_, weights)
        np.testing.assert_allclose(result.coef_, expected, atol=1e-8)


@pytest.mark.parametrize("method", ["dual", "primal"])
def test_loo_zero_weight_rows_are_ignored(method):
    X, Y, weights = _make_problem(4, 2, True, seed=6)
    keep = weights > 0

    if method == "dual":
        full = loo_dual(X @ X.T, Y, ALPHAS, weights)
        kept = loo_dual(X[keep] @ X[keep].T, Y[keep], ALPHAS, weights[keep])
        np.testing.assert_allclose(full.dual_coef_[keep], kept.dual_coef_, atol=1e-10)
        np.testing.assert_array_equal(full.dual_coef_[~keep], 0.0)
    else:
        full = loo_primal(_make_blocks(X), Y, ALPHAS, weights)
        kept = loo_primal(X[keep], Y[keep], ALPHAS, weights[keep])
        np.testing.assert_allclose(full.coef_, kept.coef_, atol=1e-10)

    assert full.alpha_ == kept.alpha_
    np.testing.assert_allclose(full.loo_errors_per_target_, kept.loo_errors_per_target_)


@pytest.mark.parametrize("method", ["dual", "primal"])
def test_loo_ties_go_to_largest_alpha(method):
    X = np.random.default_rng(7).standard_normal((10, 3))
    alphas = [10.0, 0.1, 1000.0, 1.0]

    if method == "dual":
        result = loo_dual(X @ X.T, np.zeros(10), alphas)
    else:
        result = loo_primal(X, np.zeros(10), alphas)

    np.testing.assert_array_equal(result.loo_errors_, 0.0)
    assert result.alpha_ == 1000.0
    assert result.best_index_ == 2


@pytest.mark.parametrize(
    "alphas, shown",
    [
        ([], "[]"),
        (1.0, "1.0"),
        ([[1.0, 2.0]], "[[1.0, 2.0]]"),
        ([0.0, 1.0], "[0.0]"),
        ([1.0, -2.0], "[-2.0]"),
        ([np.inf], "[inf]"),
        ([np.nan, 1.0], "[nan]"),
        (["small"], "'small'"),
    ],
)
@pytest.mark.parametrize("method", ["dual", "primal"])
def test_loo_bad_alphas_raise(alphas, shown, method):
    X = np.random.default_rng(8).standard_normal((6, 2))
    with pytest.raises(ValueError, match="alphas") as error:
        if method == "dual":
            loo_dual(X @ X.T, np.ones(6), alphas)
        else:
            loo_primal(X, np.ones(6), alphas)
    assert shown in str(error.value)


def test_loo_bad_shapes_raise():
    X = np.random.default_rng(9).standard_normal((6, 2))
    K = X @ X.T

    with pytest.raises(ValueError, match=r"shape \(6, 2\)"):
        loo_dual(X, np.ones(6), ALPHAS)
    with pytest.raises(ValueError, match="symmetric"):
        loo_dual(K + np.triu(np.ones((6, 6)), 1), np.ones(6), ALPHAS)
    with pytest.raises(ValueError, match=r"Y has shape \(5, 1\)"):
        loo_dual(K, np.ones(5), ALPHAS)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(5,\)"):
        loo_primal(X, np.ones(6), ALPHAS, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        loo_dual(K, np.ones(6), ALPHAS, sample_weight=-np.ones(6))
    with pytest.raises(ValueError, match="no positive entry"):
        loo_primal(X, np.ones(6), ALPHAS, sample_weight=np.zeros(6))


def test_loo_primal_bad_blocks_raise():
    X = np.random.default_rng(10).standard_normal((6, 2))

    with pytest.raises(ValueError, match="cover 4 rows, but Y has 6"):
        loo_primal(lambda: [(0, X[:4])], np.ones(6), ALPHAS)
    with pytest.raises(ValueError, match="starting at row 4"):
        loo_primal(lambda: [(0, X[:3]), (4, X[3:])], np.ones(6), ALPHAS)
    with pytest.raises(TypeError, match="one-shot iterator"):
        loo_primal(iter([(0, X)]), np.ones(6), ALPHAS)


def test_loo_singular_alpha_warns_and_is_skipped():
    # Ten rows in a two-dimensional span: K = X X^T has rank 2, and so does
    # Phi^T Phi for the 12 features of the wide design.
    rng = np.random.default_rng(11)
    X = rng.standard_normal((10, 2))
    y = X @ [1.0, -1.0] + 0.1 * rng.standard_normal(10)
    wide = X @ rng.standard_normal((2, 12))
    alphas = [1e-20, 1.0]

    with pytest.warns(IllConditionedWarning, match=r"\[1e-20\]"):
        dual = loo_dual(X @ X.T, y, alphas)
    with pytest.warns(IllConditionedWarning, match=r"\[1e-20\]"):
        primal = loo_primal(wide, y, alphas, return_residuals=True)

    for result in (dual, primal):
        assert result.loo_errors_[0] == np.inf
        assert np.isfinite(result.loo_errors_[1])
        assert result.alpha_ == 1.0
    assert np.isnan(primal.loo_residuals_[0]).all()
    with pytest.raises(ValueError, match="every alpha"):
        loo_dual(X @ X.T, y, [1e-20])
