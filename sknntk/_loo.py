"""Leave-one-out selection of the ridge penalty from one factorization.

Ridge regression gives the leave-one-out (LOO) residual of every training row
in closed form from the fit on all rows, so one eigendecomposition or SVD
yields the LOO error of every penalty in a grid. With ``G = (K + alpha I)^-1``
and dual coefficients ``c = G y``, the hat matrix is ``H = K G = I - alpha G``
and the residual of row ``i`` after refitting without it is

.. math::

    y_i - f_{-i}(x_i) = \\frac{y_i - \\hat y_i}{1 - H_{ii}}
    = \\frac{\\alpha c_i}{\\alpha G_{ii}} = \\frac{c_i}{G_{ii}}.

In the primal form ``H = Phi (Phi^T Phi + alpha I)^-1 Phi^T`` and the residual
is ``(y_i - yhat_i) / (1 - H_ii)``. These are the identities that
:class:`sklearn.linear_model.RidgeCV` uses for linear ridge regression.

Sample weights
--------------
With ``S = diag(sample_weight)`` the fit minimises
``sum_i s_i ||y_i - f(x_i)||^2 + alpha ||f||^2``, as in
:func:`sknntk._ridge.solve_dual`. That is unweighted ridge regression on
``S^(1/2) K S^(1/2)`` and ``S^(1/2) Y``, whose LOO residual of row ``i`` is
``s_i^(1/2) (y_i - f_{-i}(x_i))``, where ``f_{-i}`` is the weighted fit without
row ``i``. The LOO error is the weighted mean ``sum_i s_i e_i^2 / sum_i s_i`` of
the squared residuals ``e_i = y_i - f_{-i}(x_i)``. Rows with zero weight are
left out of the factorization, so they change neither the fit, nor the errors,
nor the chosen penalty. Their residual is ``y_i - f(x_i)`` of the full fit,
which is what refitting without them gives. ``RidgeCV`` divides the same sum
by ``n_samples`` instead of ``sum_i s_i``, which rescales every error by one
constant and selects the same penalty.
"""

import warnings
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from scipy import linalg

from sknntk._ridge import _RCOND
from sknntk.exceptions import IllConditionedWarning

# Errors within this relative distance of the minimum count as tied, and ties
# go to the largest penalty, the smoothest of the equally good fits.
_TIE_RTOL = 1e-12

# Rows of the eigenvector matrix squared at a time, to bound the temporary.
_ROW_CHUNK = 1024

_ALPHAS_HINT = "Pass positive finite penalties such as np.logspace(-6, 2, 9)."


class LeaveOneOutResult(NamedTuple):
    """Leave-one-out errors over a grid of ridge penalties and the best fit.

    Attributes
    ----------
    alpha_ : float or ndarray of shape (n_targets,)
        Penalty with the lowest LOO error, one per target when
        ``alpha_per_target=True``.
    best_index_ : int or ndarray of shape (n_targets,)
        Position of ``alpha_`` in ``alphas_``.
    alphas_ : ndarray of shape (n_alphas,)
        The penalties as float64, in the order given.
    loo_errors_ : ndarray of shape (n_alphas,)
        Weighted mean squared LOO error over rows and targets; ``inf`` for a
        penalty whose system is numerically singular.
    loo_errors_per_target_ : ndarray of shape (n_alphas, n_targets)
        The same error for each target.
    dual_coef_ : ndarray of shape (n_samples, n_targets) or None
        Dual coefficients at ``alpha_``, so ``f(x) = K(x, X) dual_coef_``;
        set by :func:`loo_dual`.
    coef_ : ndarray of shape (n_features, n_targets) or None
        Weights on the feature map at ``alpha_``, so ``f(x) = phi(x) coef_``;
        set by :func:`loo_primal`.
    loo_residuals_ : ndarray of shape (n_alphas, n_samples, n_targets) or None
        ``y_i - f_{-i}(x_i)`` for every penalty when ``return_residuals=True``;
        NaN for a penalty whose system is numerically singular.
    """

    alpha_: float | np.ndarray
    best_index_: int | np.ndarray
    alphas_: np.ndarray
    loo_errors_: np.ndarray
    loo_errors_per_target_: np.ndarray
    dual_coef_: np.ndarray | None
    coef_: np.ndarray | None
    loo_residuals_: np.ndarray | None


def _check_alphas(alphas):
    try:
        values = np.asarray(alphas, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"alphas must be a 1-D array of floats, got {alphas!r}. {_ALPHAS_HINT}"
        ) from None
    if values.ndim != 1 or values.shape[0] == 0:
        raise ValueError(
            f"alphas must be a non-empty 1-D array, got {alphas!r} of shape "
            f"{values.shape}. Wrap a single penalty in a list, as in "
            "alphas=[1.0]."
        )
    invalid = ~np.isfinite(values) | (values <= 0)
    if invalid.any():
        raise ValueError(
            f"alphas must be positive and finite, got {values[invalid].tolist()} "
            f"in alphas={values.tolist()}. {_ALPHAS_HINT}"
        )
    return values


def _check_targets(Y, n_samples):
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != n_samples or 0 in Y.shape:
        raise ValueError(
            f"Y has shape {Y.shape}, but {n_samples} rows were expected. Pass Y "
            "of shape (n_samples,) or (n_samples, n_targets)."
        )
    if not np.isfinite(Y).all():
        raise ValueError("Y contains NaN or infinity.")
    return Y


def _check_weights(sample_weight, n_samples):
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {weights.shape}, but ({n_samples},) was "
            "expected, one weight per row."
        )
    if not np.isfinite(weights).all() or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if not np.any(weights > 0):
        raise ValueError(
            "sample_weight has no positive entry, so no row enters the fit."
        )
    return weights


def _check_gram(K):
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(
            "K must be a Gram matrix of shape (n_samples, n_samples), got shape "
            f"{K.shape}."
        )
    if not np.isfinite(K).all():
        raise ValueError("K contains NaN or infinity.")
    scale = np.abs(K).max()
    asymmetry = np.abs(K - K.T).max()
    if asymmetry > 1e-8 * scale:
        raise ValueError(
            f"K must be symmetric, but max |K - K.T| = {asymmetry:.3g} while "
            f"max |K| = {scale:.3g}. Pass (K + K.T) / 2 if the difference is "
            "rounding error."
        )
    return K


def _check_design(Phi):
    Phi = np.asarray(Phi, dtype=np.float64)
    if Phi.ndim != 2 or 0 in Phi.shape:
        raise ValueError(
            "The feature map must have shape (n_samples, n_features), got shape "
            f"{Phi.shape}."
        )
    if not np.isfinite(Phi).all():
        raise ValueError("The feature map contains NaN or infinity.")
    return Phi


def _split_rows(weights, n_samples):
    """Return the rows with positive weight, the zero-weight rows and ``S^(1/2)``."""
    if weights is None:
        return np.arange(n_samples), np.arange(0), np.ones(n_samples)
    active = np.flatnonzero(weights > 0)
    return active, np.flatnonzero(weights == 0), np.sqrt(weights[active])


def _inverse_shifted(eigenvalues, alphas, matrix_name, stacklevel):
    """Return ``1 / (eigenvalues + alpha)`` of shape (n_eigenvalues, n_alphas).

    Columns of penalties whose shifted system is numerically singular or not
    positive definite contain ones, and the returned mask marks them False.
    """
    shifted = eigenvalues[:, None] + alphas[None, :]
    usable = shifted.min(axis=0) > _RCOND * np.abs(shifted).max(axis=0)
    if not usable.any():
        raise ValueError(
            f"The {matrix_name} plus alpha I is numerically singular for every "
            f"alpha in {alphas.tolist()}, so no leave-one-out error can be computed. "
            "Pass larger alphas."
        )
    if not usable.all():
        warnings.warn(
            f"The {matrix_name} plus alpha I is numerically singular for alpha in "
            f"{alphas[~usable].tolist()}, so their leave-one-out errors are set "
            "to inf and they are never selected. Larger alphas avoid this.",
            IllConditionedWarning,
            stacklevel=stacklevel,
        )
    return 1.0 / np.where(usable, shifted, 1.0), usable


def _best_index(errors, alphas):
    lowest = errors.min()
    tied = np.flatnonzero(errors <= lowest + _TIE_RTOL * abs(lowest))
    return int(tied[np.argmax(alphas[tied])])


def _select(alphas, errors_per_target, alpha_per_target):
    """Return ``(alpha_, best_index_, per_target_index)`` for the error table."""
    if alpha_per_target:
        best = np.array([_best_index(column, alphas) for column in errors_per_target.T])
        return alphas[best], best, best
    best = _best_index(errors_per_target.mean(axis=1), alphas)
    per_target = np.full(errors_per_target.shape[1], best)
    return float(alphas[best]), best, per_target


def _finish(alphas, errors_per_target, usable, alpha_per_target):
    errors_per_target[~usable] = np.inf
    alpha, best_index, per_target = _select(alphas, errors_per_target, alpha_per_target)
    return errors_per_target.mean(axis=1), alpha, best_index, per_target


def loo_dual(
    K,
    Y,
    alphas,
    sample_weight=None,
    *,
    alpha_per_target=False,
    return_residuals=False,
):
    """Compute leave-one-out errors of kernel ridge regression over penalties.

    One symmetric eigendecomposition ``K = Q diag(lambda) Q^T`` gives, for every
    ``alpha``, ``G = Q diag(1 / (lambda + alpha)) Q^T``, the dual coefficients
    ``c = G Y`` and the LOO residuals ``c_i / G_ii``. The module docstring
    derives the identity and states how sample weights enter.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Symmetric Gram matrix of the training rows.
    Y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets. A 1-D ``Y`` counts as one target, and the outputs keep the
        target axis.
    alphas : array-like of shape (n_alphas,)
        Positive finite ridge penalties.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the squared errors.
    alpha_per_target : bool, default=False
        Select one penalty per target instead of one for all targets.
    return_residuals : bool, default=False
        Also return the LOO residuals of every penalty.

    Returns
    -------
    result : LeaveOneOutResult
        ``dual_coef_`` of shape (n_samples, n_targets) contains the coefficients
        at ``alpha_``, zero on rows of zero weight; ``coef_`` is None.

    Notes
    -----
    Costs ``O(n^3)`` time for the eigendecomposition plus
    ``O(n^2 n_alphas n_targets)`` for the grid, and ``O(n^2)`` memory, against
    ``O(n^3)`` per penalty and fold for cross-validation with refits.
    A penalty for which the smallest eigenvalue of ``K + alpha I`` is below
    ``2.2e-13`` times the largest counts as numerically singular. It gets an
    infinite error and an :class:`~sknntk.exceptions.IllConditionedWarning`.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk._loo import loo_dual
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + rng.standard_normal(40)
    >>> result = loo_dual(X @ X.T, y, [0.01, 1.0, 100.0])
    >>> result.alpha_
    1.0
    >>> result.dual_coef_.shape
    (40, 1)
    """
    alphas = _check_alphas(alphas)
    K = _check_gram(K)
    n_samples = K.shape[0]
    Y = _check_targets(Y, n_samples)
    weights = _check_weights(sample_weight, n_samples)
    n_alphas, n_targets = alphas.shape[0], Y.shape[1]

    active, inactive, root = _split_rows(weights, n_samples)
    if weights is None:
        gram, targets, total_weight = K, Y, float(n_samples)
    else:
        gram = K[np.ix_(active, active)] * np.outer(root, root)
        targets = Y[active] * root[:, None]
        total_weight = weights.sum()
    n_active = active.shape[0]

    eigenvalues, Q = linalg.eigh(gram)
    inverse, usable = _inverse_shifted(eigenvalues, alphas, "Gram matrix", stacklevel=3)

    # Dual coefficients of the rescaled problem for every penalty at once:
    # scaled_coef[:, a, :] = Q diag(inverse[:, a]) Q^T targets.
    projected = Q.T @ targets
    scaled_coef = Q @ (inverse[:, :, None] * projected[:, None, :]).reshape(
        n_active, -1
    )
    scaled_coef = scaled_coef.reshape(n_active, n_alphas, n_targets)
    G_diag = np.empty((n_active, n_alphas))
    for start in range(0, n_active, _ROW_CHUNK):
        rows = slice(start, start + _ROW_CHUNK)
        G_diag[rows] = Q[rows] ** 2 @ inverse

    # Residuals of the rescaled problem, s_i^(1/2) (y_i - f_{-i}(x_i)).
    scaled_residuals = scaled_coef / G_diag[:, :, None]
    errors_per_target = (scaled_residuals**2).sum(axis=0) / total_weight
    errors, alpha, best_index, per_target = _finish(
        alphas, errors_per_target, usable, alpha_per_target
    )

    dual_coef = np.zeros((n_samples, n_targets))
    best_coef = scaled_coef[:, per_target, np.arange(n_targets)]
    dual_coef[active] = root[:, None] * best_coef

    residuals = None
    if return_residuals:
        residuals = np.empty((n_alphas, n_samples, n_targets))
        residuals[:, active] = (scaled_residuals / root[:, None, None]).transpose(
            1, 0, 2
        )
        if inactive.shape[0]:
            coef = root[:, None, None] * scaled_coef
            kernel_rows = K[np.ix_(inactive, active)]
            fitted = (kernel_rows @ coef.reshape(n_active, -1)).reshape(
                inactive.shape[0], n_alphas, n_targets
            )
            residuals[:, inactive] = (Y[inactive][:, None, :] - fitted).transpose(
                1, 0, 2
            )
        residuals[~usable] = np.nan

    return LeaveOneOutResult(
        alpha_=alpha,
        best_index_=best_index,
        alphas_=alphas,
        loo_errors_=errors,
        loo_errors_per_target_=errors_per_target,
        dual_coef_=dual_coef,
        coef_=None,
        loo_residuals_=residuals,
    )


def _block_source(features):
    """Return a callable that yields fresh ``(start, block)`` pairs, or None.

    None means that ``features`` is the feature map itself, as an array-like.
    """
    if callable(features):
        return features
    if isinstance(features, np.ndarray):
        return None
    if isinstance(features, (list, tuple)):
        is_block = [
            isinstance(item, tuple) and len(item) == 2 and np.ndim(item[1]) == 2
            for item in features
        ]
        return (lambda: features) if is_block and all(is_block) else None
    if isinstance(features, Iterator):
        raise TypeError(
            f"features is a one-shot iterator ({type(features).__name__}), but "
            "the leave-one-out pass reads the blocks twice. Pass a callable that "
            "returns a new iterator, as in features=lambda: make_blocks(X)."
        )
    return None


def _iter_blocks(source, n_samples):
    """Yield ``(rows, block)`` from ``source()``, checking that blocks tile the rows."""
    expected, width = 0, None
    for start, block in source():
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or start != expected:
            raise ValueError(
                f"Expected a 2-D feature block starting at row {expected}, got "
                f"one of shape {block.shape} starting at row {start}. Blocks must "
                "cover the rows in order."
            )
        if width is None:
            width = block.shape[1]
        if block.shape[1] != width or expected + block.shape[0] > n_samples:
            raise ValueError(
                f"The feature block at row {start} has shape {block.shape}, but "
                f"{width} columns and at most {n_samples - expected} rows were "
                "expected."
            )
        if not np.isfinite(block).all():
            raise ValueError(f"The feature block at row {start} contains NaN or inf.")
        expected += block.shape[0]
        yield slice(start, expected), block
    if expected != n_samples:
        raise ValueError(
            f"The feature blocks cover {expected} rows, but Y has {n_samples}."
        )


def _loo_svd(Phi, Y, alphas, weights, return_residuals):
    """Return ``(errors_per_target, usable, coef_at, residuals)`` from a thin SVD."""
    n_samples, n_alphas, n_targets = Phi.shape[0], alphas.shape[0], Y.shape[1]
    active, inactive, root = _split_rows(weights, n_samples)
    if weights is None:
        design, targets, total_weight = Phi, Y, float(n_samples)
    else:
        design = Phi[active] * root[:, None]
        targets = Y[active] * root[:, None]
        total_weight = weights.sum()
    n_active = active.shape[0]

    U, sigma, Vt = linalg.svd(design, full_matrices=False)
    squared = sigma**2
    # Phi^T Phi has F eigenvalues, F - rank of which are zero.
    spectrum = squared if Phi.shape[1] == sigma.shape[0] else np.append(squared, 0.0)
    inverse, usable = _inverse_shifted(
        spectrum, alphas, "feature Gram matrix Phi^T Phi", stacklevel=4
    )
    inverse = inverse[: sigma.shape[0]]
    shrinkage = alphas[None, :] * inverse

    # Both y - yhat and 1 - h are sums of alpha / (sigma^2 + alpha) terms plus
    # the part outside the column space of U, which avoids the cancellation in
    # 1 - h when h is close to 1.
    projected = U.T @ targets
    U_squared = U**2
    if U.shape[1] < n_active:
        outside = targets - U @ projected
        leverage_outside = np.clip(1.0 - U_squared.sum(axis=1), 0.0, None)
    else:
        outside = np.zeros_like(targets)
        leverage_outside = np.zeros(n_active)
    complement = leverage_outside[:, None] + U_squared @ shrinkage
    scaled_error = U @ (shrinkage[:, :, None] * projected[:, None, :]).reshape(
        U.shape[1], -1
    )
    scaled_error = outside[:, None, :] + scaled_error.reshape(
        n_active, n_alphas, n_targets
    )
    scaled_residuals = scaled_error / complement[:, :, None]
    errors_per_target = (scaled_residuals**2).sum(axis=0) / total_weight

    def coef_at(indices):
        # Column t is V diag(sigma / (sigma^2 + alpha_t)) U^T y_t.
        factors = sigma[:, None] * inverse[:, indices]
        return Vt.T @ (factors * projected)

    residuals = None
    if return_residuals:
        residuals = np.empty((n_alphas, n_samples, n_targets))
        residuals[:, active] = (scaled_residuals / root[:, None, None]).transpose(
            1, 0, 2
        )
        if inactive.shape[0]:
            factors = sigma[:, None, None] * inverse[:, :, None] * projected[:, None]
            fitted = (Phi[inactive] @ Vt.T) @ factors.reshape(sigma.shape[0], -1)
            fitted = fitted.reshape(inactive.shape[0], n_alphas, n_targets)
            residuals[:, inactive] = (Y[inactive][:, None, :] - fitted).transpose(
                1, 0, 2
            )
    return errors_per_target, usable, coef_at, residuals


def _loo_streamed(source, Y, alphas, weights, return_residuals):
    """Return ``(errors_per_target, usable, coef_at, residuals)`` in two passes."""
    n_samples, n_alphas, n_targets = Y.shape[0], alphas.shape[0], Y.shape[1]
    if weights is None:
        weights = np.ones(n_samples)

    gram, moment = None, None
    for rows, block in _iter_blocks(source, n_samples):
        weighted = block * weights[rows, None]
        if gram is None:
            gram = np.zeros((block.shape[1], block.shape[1]))
            moment = np.zeros((block.shape[1], n_targets))
        gram += weighted.T @ block
        moment += weighted.T @ Y[rows]

    eigenvalues, V = linalg.eigh(gram)
    inverse, usable = _inverse_shifted(
        eigenvalues, alphas, "feature Gram matrix Phi^T Phi", stacklevel=4
    )
    # Weights of every penalty in the eigenbasis, shape (F, n_alphas, n_targets).
    eigen_coef = inverse[:, :, None] * (V.T @ moment)[:, None, :]
    flat_coef = eigen_coef.reshape(V.shape[0], -1)

    # NOTE: 1 - h is formed by subtraction here, so it loses digits for rows
    # whose leverage is close to 1, which the SVD route avoids.
    sums = np.zeros((n_alphas, n_targets))
    residuals = np.empty((n_alphas, n_samples, n_targets)) if return_residuals else None
    for rows, block in _iter_blocks(source, n_samples):
        rotated = block @ V
        leverage = weights[rows, None] * (rotated**2 @ inverse)
        fitted = (rotated @ flat_coef).reshape(-1, n_alphas, n_targets)
        residual = (Y[rows][:, None, :] - fitted) / (1.0 - leverage)[:, :, None]
        sums += np.einsum("i,iat->at", weights[rows], residual**2)
        if residuals is not None:
            residuals[:, rows] = residual.transpose(1, 0, 2)
    errors_per_target = sums / weights.sum()

    def coef_at(indices):
        return V @ eigen_coef[:, indices, np.arange(n_targets)]

    return errors_per_target, usable, coef_at, residuals


def loo_primal(
    features,
    Y,
    alphas,
    sample_weight=None,
    *,
    alpha_per_target=False,
    return_residuals=False,
):
    """Compute leave-one-out errors of ridge regression on a feature map.

    The LOO residual of row ``i`` is ``(y_i - yhat_i) / (1 - h_i)`` with the
    hat-matrix diagonal ``h_i = phi_i^T (Phi^T Phi + alpha I)^-1 phi_i``. An
    array ``Phi`` is factorized once by a thin SVD ``Phi = U diag(sigma) V^T``,
    which gives ``h_i = sum_j U_ij^2 sigma_j^2 / (sigma_j^2 + alpha)`` for every
    ``alpha``. Row blocks are streamed twice instead: the first pass forms the
    ``(F, F)`` matrix ``Phi^T Phi``, whose eigendecomposition gives the weights
    of every penalty, and the second pass computes ``h_i`` and the fitted
    values of each row in that eigenbasis. Sample weights enter as in
    :func:`loo_dual`, described in the module docstring.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features), or callable
        The feature map ``Phi`` of the training rows, or a callable with no
        arguments that returns a new iterable of ``(start, block)`` pairs.
        Each ``block`` of shape (rows, n_features) contains the features of
        rows ``start : start + rows``, and the blocks cover all rows in order.
        A list of such pairs works too. A one-shot iterator such as a
        generator raises a TypeError, because it cannot be read twice.
    Y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets. A 1-D ``Y`` counts as one target, and the outputs keep the
        target axis.
    alphas : array-like of shape (n_alphas,)
        Positive finite ridge penalties.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the squared errors.
    alpha_per_target : bool, default=False
        Select one penalty per target instead of one for all targets.
    return_residuals : bool, default=False
        Also return the LOO residuals of every penalty.

    Returns
    -------
    result : LeaveOneOutResult
        ``coef_`` of shape (n_features, n_targets) contains the weights at
        ``alpha_``; ``dual_coef_`` is None.

    Notes
    -----
    The SVD costs ``O(n F min(n, F))`` time and keeps ``Phi`` and ``U`` in
    memory. The streamed route costs ``O(n F^2 + F^3 + n F n_alphas n_targets)``
    time and ``O(F^2 + F n_alphas n_targets)`` memory besides one block, but
    computes the feature map twice, so it pays off when ``n`` is much larger
    than ``F`` and ``Phi`` does not fit in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk._loo import loo_primal
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + rng.standard_normal(40)
    >>> blocks = lambda: [(0, X[:25]), (25, X[25:])]
    >>> loo_primal(blocks, y, [0.01, 1.0, 100.0]).alpha_
    1.0
    >>> loo_primal(X, y, [0.01, 1.0, 100.0]).coef_.shape
    (3, 1)
    """
    alphas = _check_alphas(alphas)
    source = _block_source(features)
    if source is None:
        Phi = _check_design(features)
        Y = _check_targets(Y, Phi.shape[0])
        weights = _check_weights(sample_weight, Phi.shape[0])
        route = _loo_svd(Phi, Y, alphas, weights, return_residuals)
    else:
        Y = np.asarray(Y, dtype=np.float64)
        Y = _check_targets(Y, Y.shape[0] if Y.ndim else 0)
        weights = _check_weights(sample_weight, Y.shape[0])
        route = _loo_streamed(source, Y, alphas, weights, return_residuals)

    errors_per_target, usable, coef_at, residuals = route
    errors, alpha, best_index, per_target = _finish(
        alphas, errors_per_target, usable, alpha_per_target
    )
    if residuals is not None:
        residuals[~usable] = np.nan

    return LeaveOneOutResult(
        alpha_=alpha,
        best_index_=best_index,
        alphas_=alphas,
        loo_errors_=errors,
        loo_errors_per_target_=errors_per_target,
        dual_coef_=None,
        coef_=coef_at(per_target),
        loo_residuals_=residuals,
    )
