"""Ridge solvers in the dual (Gram matrix) and primal (feature map) forms."""

import warnings

import numpy as np
from scipy import linalg

from sknntk.exceptions import IllConditionedWarning

# A Cholesky factor whose smallest-to-largest squared diagonal ratio is below
# this is treated as numerically singular.
_RCOND = 1e3 * np.finfo(np.float64).eps


def _solve_regularized(A, B, alpha, what):
    """Solve ``(A + alpha I) X = B`` for symmetric PSD ``A`` with Cholesky.

    ``alpha`` is a scalar or one value per column of ``B``. Falls back to a
    symmetric eigendecomposition, with an :class:`IllConditionedWarning`, when
    the system is too ill-conditioned for Cholesky.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    alphas = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (B.shape[1],))
    if np.all(alphas == alphas[0]):
        groups = [(alphas[0], slice(None))]
    else:
        groups = [(a, np.flatnonzero(alphas == a)) for a in np.unique(alphas)]

    solution = np.empty_like(B)
    for value, columns in groups:
        regularized = A + value * np.eye(A.shape[0])
        try:
            factor, lower = linalg.cho_factor(regularized, lower=True)
            diagonal = np.diag(factor) ** 2
            if diagonal.min() <= _RCOND * diagonal.max():
                raise linalg.LinAlgError("numerically singular")
            solution[:, columns] = linalg.cho_solve((factor, lower), B[:, columns])
        except linalg.LinAlgError:
            warnings.warn(
                f"The {what} with alpha={value:g} is too ill-conditioned for a "
                "Cholesky factorization; solving with an eigendecomposition "
                "instead. A larger alpha makes the problem better conditioned.",
                IllConditionedWarning,
                stacklevel=4,
            )
            eigenvalues, eigenvectors = linalg.eigh(A)
            shifted = eigenvalues + value
            cutoff = _RCOND * np.abs(shifted).max()
            inverse = np.where(np.abs(shifted) > cutoff, 1.0 / shifted, 0.0)
            solution[:, columns] = eigenvectors @ (
                inverse[:, None] * (eigenvectors.T @ B[:, columns])
            )
    return solution


def solve_dual(K, Y, alpha, sample_weight=None):
    """Return dual coefficients ``A`` of kernel ridge regression.

    Minimises ``sum_i s_i ||y_i - f(x_i)||^2 + alpha ||f||_K^2`` over
    ``f = K(., X) A``, that is ``(S^(1/2) K S^(1/2) + alpha I) B = S^(1/2) Y``
    with ``A = S^(1/2) B``.

    Parameters
    ----------
    K : ndarray of shape (n, n)
    Y : ndarray of shape (n, n_targets)
    alpha : float or ndarray of shape (n_targets,)
    sample_weight : ndarray of shape (n,) or None

    Returns
    -------
    dual_coef : ndarray of shape (n, n_targets)
    """
    if sample_weight is None:
        return _solve_regularized(K, Y, alpha, "kernel ridge system")
    root = np.sqrt(sample_weight)
    weighted = K * np.outer(root, root)
    coef = _solve_regularized(weighted, Y * root[:, None], alpha, "kernel ridge system")
    return coef * root[:, None]


def solve_primal(feature_blocks, Y, alpha, sample_weight=None):
    """Return primal weights ``W`` of ridge regression on a feature map.

    Solves ``(Phi^T S Phi + alpha I) W = Phi^T S Y`` while the feature map
    arrives in row blocks, so memory is ``O(block * F + F**2)`` and no
    ``n x n`` matrix is formed.

    Parameters
    ----------
    feature_blocks : iterable of (start, ndarray of shape (rows, F))
    Y : ndarray of shape (n, n_targets)
    alpha : float or ndarray of shape (n_targets,)
    sample_weight : ndarray of shape (n,) or None

    Returns
    -------
    coef : ndarray of shape (F, n_targets)
    """
    gram, moment = None, None
    for start, block in feature_blocks:
        block = np.asarray(block, dtype=np.float64)
        targets = Y[start : start + block.shape[0]]
        if sample_weight is not None:
            weights = sample_weight[start : start + block.shape[0], None]
            weighted = block * weights
        else:
            weighted = block
        if gram is None:
            gram = np.zeros((block.shape[1], block.shape[1]))
            moment = np.zeros((block.shape[1], Y.shape[1]))
        gram += weighted.T @ block
        moment += weighted.T @ targets
    return _solve_regularized(gram, moment, alpha, "primal ridge system")
