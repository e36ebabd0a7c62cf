"""Summary statistics of kernel Gram matrices.

Each function accepts a numpy array or a torch tensor, which is detached and
copied to the CPU. Inputs are never modified.
"""

import numpy as np
import scipy.linalg
import torch

__all__ = [
    "alignment",
    "centered_alignment",
    "condition_number",
    "effective_rank",
    "kernel_summary",
    "spectrum",
]


def alignment(K, y, *, centered=False):
    r"""Compute the alignment between a Gram matrix and the targets.

    .. math:: A(K, y) = \frac{y^\top K y}{\|K\|_F \, \|y\|^2}

    For targets ``Y`` with several columns the numerator is
    :math:`\operatorname{tr}(Y^\top K Y)` and :math:`\|y\|^2` becomes
    :math:`\|Y\|_F^2`. This is the alignment used in "Nonlocal Neural Tangent
    Kernels via Parameter-Space Interactions" (Nagaraj and Hari, 2025). For one
    column it equals the cosine between ``K`` and :math:`y y^\top` in the
    Frobenius inner product, so it lies in [-1, 1], and it is 1 for
    :math:`K = c\, y y^\top` with ``c > 0``.

    With ``centered=True`` it is the centered kernel-target alignment of
    Cortes, Mohri and Rostamizadeh (2012),

    .. math::

        A_c(K, y) = \frac{\langle K_c, y_c y_c^\top \rangle_F}
        {\|K_c\|_F \, \|y_c y_c^\top\|_F},
        \quad K_c = H K H, \quad y_c = H y, \quad
        H = I - \mathbf{1}\mathbf{1}^\top / n,

    with :math:`Y_c Y_c^\top` in place of :math:`y_c y_c^\top` for several
    columns. Centering removes the constant component, which otherwise
    inflates the alignment of any kernel with a large mean.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    centered : bool, default=False
        Whether to center ``K`` and ``y`` first.

    Returns
    -------
    float
        The alignment.

    Raises
    ------
    ValueError
        If the shapes do not match, an input is not finite, or ``K`` or ``y``
        is zero. With ``centered=True`` a centered ``K`` or ``y`` counts as
        zero when its norm is at most ``n_samples * eps`` times the norm
        before centering, so a constant ``K`` or ``y`` raises.

    See Also
    --------
    centered_alignment : The same with ``centered=True``.

    References
    ----------
    .. [1] C. Cortes, M. Mohri and A. Rostamizadeh, "Algorithms for Learning
       Kernels Based on Centered Alignment", Journal of Machine Learning
       Research 13, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, -1.0, 2.0])
    >>> round(alignment(np.outer(y, y), y), 6)
    1.0
    >>> round(alignment(np.eye(3), y), 6)
    0.57735
    """
    K = _check_gram_matrix(K)
    Y = _check_targets(y, K.shape[0])

    if centered:
        return _centered_alignment(K, Y)

    K_norm = np.linalg.norm(K)
    Y_norm_squared = np.sum(Y**2)
    _check_nonzero(K_norm, "K", "the Gram matrix is zero")
    _check_nonzero(Y_norm_squared, "y", "the targets are zero")
    return float(np.trace(Y.T @ K @ Y) / (K_norm * Y_norm_squared))


def centered_alignment(K, y):
    r"""Compute the centered kernel-target alignment.

    .. math::

        A_c(K, y) = \frac{\langle H K H, H y y^\top H \rangle_F}
        {\|H K H\|_F \, \|H y y^\top H\|_F},
        \quad H = I - \mathbf{1}\mathbf{1}^\top / n

    It is ``alignment(K, y, centered=True)``, where the parameters, the
    several-column case and the errors are described.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.

    Returns
    -------
    float
        The centered alignment, in [-1, 1].

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0])
    >>> K = np.outer(y, y) + 5.0
    >>> round(centered_alignment(K, y), 6)
    1.0
    """
    return alignment(K, y, centered=True)


def spectrum(K):
    r"""Compute the eigenvalues of the symmetric part of a Gram matrix.

    .. math:: \lambda_1 \ge \lambda_2 \ge \dots \ge \lambda_n
              \text{ of } (K + K^\top) / 2

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix. An asymmetric ``K``, for example from rounding, is
        replaced by its symmetric part.

    Returns
    -------
    ndarray of shape (n_samples,)
        Eigenvalues in descending order.

    Examples
    --------
    >>> import numpy as np
    >>> spectrum(np.diag([1.0, 3.0, 2.0]))
    array([3., 2., 1.])
    """
    K = _check_gram_matrix(K)
    symmetric = (K + K.T) / 2.0
    eigenvalues = scipy.linalg.eigvalsh(symmetric)
    return eigenvalues[::-1].copy()


def effective_rank(K_or_eigenvalues):
    r"""Compute the entropy effective rank of Roy and Vetterli (2007).

    .. math:: \operatorname{erank} = \exp\Big(-\sum_i p_i \log p_i\Big),
              \quad p_i = \lambda_i / \sum_j \lambda_j

    with :math:`0 \log 0 = 0`. It lies between 1, for a rank-one matrix, and
    ``n``, for a multiple of the identity. Negative eigenvalues, which in a
    positive semidefinite Gram matrix come from rounding, are set to 0 first.

    Parameters
    ----------
    K_or_eigenvalues : array-like of shape (n_samples, n_samples) or (n_samples,)
        Gram matrix, whose :func:`spectrum` is used, or its eigenvalues.

    Returns
    -------
    float
        The effective rank.

    Raises
    ------
    ValueError
        If the input is neither a square matrix nor a 1-D array, is not
        finite, or has no positive eigenvalue.

    Notes
    -----
    The measure assumes a positive semidefinite matrix. For an indefinite
    matrix the negative eigenvalues are ignored, so pass
    ``np.abs(spectrum(K))`` to use the singular values instead.

    References
    ----------
    .. [1] O. Roy and M. Vetterli, "The effective rank: A measure of effective
       dimensionality", 15th European Signal Processing Conference, 2007.

    Examples
    --------
    >>> import numpy as np
    >>> round(effective_rank(np.eye(4)), 6)
    4.0
    >>> round(effective_rank(np.array([1.0, 0.0, 0.0])), 6)
    1.0
    """
    values = _to_numpy(K_or_eigenvalues)
    if values.ndim == 2:
        eigenvalues = spectrum(values)
    elif values.ndim == 1 and values.size > 0:
        if not np.all(np.isfinite(values)):
            raise ValueError(
                "eigenvalues must be finite, got an array of shape "
                f"{values.shape} with NaN or infinite entries."
            )
        eigenvalues = values
    else:
        raise ValueError(
            "effective_rank expects a square matrix of shape (n, n) or "
            f"eigenvalues of shape (n,), got shape {values.shape}."
        )

    eigenvalues = np.clip(eigenvalues, 0.0, None)
    total = eigenvalues.sum()
    if total == 0:
        raise ValueError(
            "effective_rank is undefined without a positive eigenvalue, got "
            f"eigenvalues with maximum {np.max(eigenvalues)!r}. Check that the "
            "Gram matrix is not zero."
        )

    p = eigenvalues[eigenvalues > 0] / total
    entropy = -np.sum(p * np.log(p))
    return float(np.exp(entropy))


def condition_number(K):
    r"""Compute the condition number of the symmetric part of a Gram matrix.

    .. math:: \kappa(K) = \frac{\max_i |\lambda_i|}{\min_i |\lambda_i|}

    over the eigenvalues of :math:`(K + K^\top) / 2`. It is the 2-norm
    condition number of that matrix.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix.

    Returns
    -------
    float
        The condition number, ``inf`` when the smallest eigenvalue magnitude
        is exactly 0.

    Examples
    --------
    >>> import numpy as np
    >>> condition_number(np.diag([4.0, 2.0, 0.5]))
    8.0
    >>> condition_number(np.ones((2, 2)))
    inf
    """
    return _condition_number_of_spectrum(spectrum(K))


def kernel_summary(K, y=None):
    """Collect the diagnostics of a Gram matrix in one dictionary.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix.
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
        Targets. When given, the alignments are included.

    Returns
    -------
    dict
        ``n_samples``, ``trace``, ``frobenius_norm``, ``max_eigenvalue``,
        ``min_eigenvalue``, ``effective_rank`` and ``condition_number``, and
        with ``y`` also ``alignment`` and ``centered_alignment``. Every value
        but ``n_samples`` is a float.

    Raises
    ------
    ValueError
        As :func:`alignment` and :func:`effective_rank` do, for example for a
        zero Gram matrix or constant targets.

    Examples
    --------
    >>> import numpy as np
    >>> summary = kernel_summary(np.eye(3), np.array([1.0, 2.0, 3.0]))
    >>> round(summary["effective_rank"], 6), summary["condition_number"]
    (3.0, 1.0)
    """
    K = _check_gram_matrix(K)
    eigenvalues = spectrum(K)

    summary = {
        "n_samples": K.shape[0],
        "trace": float(np.trace(K)),
        "frobenius_norm": float(np.linalg.norm(K)),
        "max_eigenvalue": float(eigenvalues[0]),
        "min_eigenvalue": float(eigenvalues[-1]),
        "effective_rank": effective_rank(eigenvalues),
        "condition_number": _condition_number_of_spectrum(eigenvalues),
    }
    if y is not None:
        summary["alignment"] = alignment(K, y)
        summary["centered_alignment"] = alignment(K, y, centered=True)
    return summary


def _condition_number_of_spectrum(eigenvalues):
    magnitudes = np.abs(eigenvalues)
    smallest = magnitudes.min()
    if smallest == 0:
        return float("inf")
    return float(magnitudes.max() / smallest)


def _centered_alignment(K, Y):
    n = K.shape[0]
    eps = np.finfo(np.float64).eps

    # H K H without forming H: subtract row and column means, add the grand mean.
    K_centered = (
        K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()
    )
    Y_centered = Y - Y.mean(axis=0, keepdims=True)

    # Centering a constant leaves rounding errors of about eps times its size,
    # so norms below n * eps times the uncentered norm count as zero.
    K_norm = np.linalg.norm(K_centered)
    _check_nonzero(
        K_norm,
        "the centered K",
        "K is constant",
        threshold=n * eps * np.linalg.norm(K),
    )
    _check_nonzero(
        np.linalg.norm(Y_centered),
        "the centered y",
        "every column of y is constant",
        threshold=n * eps * np.linalg.norm(Y),
    )

    # ||Y_c Y_c^T||_F equals ||Y_c^T Y_c||_F, which is n_targets x n_targets.
    target_norm = np.linalg.norm(Y_centered.T @ Y_centered)
    numerator = np.trace(Y_centered.T @ K_centered @ Y_centered)
    return float(numerator / (K_norm * target_norm))


def _check_nonzero(norm, name, cause, threshold=0.0):
    if norm <= threshold:
        raise ValueError(
            f"The alignment is undefined because the norm of {name} is "
            f"{float(norm)!r}, which happens when {cause}. Pass inputs with a "
            "nonzero norm."
        )


def _to_numpy(array):
    if isinstance(array, torch.Tensor):
        array = np.asarray(array.detach().cpu())
    return np.asarray(array, dtype=np.float64)


def _check_gram_matrix(K):
    K = _to_numpy(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(
            "K must be a nonempty square Gram matrix of shape (n_samples, "
            f"n_samples), got shape {K.shape}."
        )
    if not np.all(np.isfinite(K)):
        raise ValueError(
            f"K must be finite, got a matrix of shape {K.shape} with NaN or "
            "infinite entries."
        )
    return K


def _check_targets(y, n_samples):
    Y = _to_numpy(y)
    shape = Y.shape
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[0] != n_samples or Y.shape[1] == 0:
        raise ValueError(
            f"y must have shape ({n_samples},) or ({n_samples}, n_targets) to "
            f"match K, got shape {shape}."
        )
    if not np.all(np.isfinite(Y)):
        raise ValueError(
            f"y must be finite, got an array of shape {shape} with NaN or "
            "infinite entries."
        )
    return Y
