"""Closed-form predictions of gradient flow on the squared loss in the kernel regime.

In the lazy or kernel regime a network stays close to its linearization around
the initial parameters. Gradient flow on the loss
``0.5 * sum_i ||f(x_i) - y_i||**2`` with learning rate ``eta`` then moves the
training outputs as ``df/dt = -eta K (f - y)``, where ``K`` is the tangent
kernel, fixed at its initial value. Both functions here solve that linear
system from one symmetric eigendecomposition ``K = V diag(lambda) V^T`` of the
training Gram matrix.
"""

import math
from numbers import Real

import numpy as np
import scipy.linalg

__all__ = ["gradient_flow_predict", "gradient_flow_train"]


def gradient_flow_predict(
    K_train, K_test, y, f0_train, f0_test, times, learning_rate=1.0, *, rcond=None
):
    r"""Predict the outputs of kernel gradient flow on new inputs at given times.

    .. math::

        f_t(x) = f_0(x) + K(x, X)\, K^{-1} \big(I - e^{-\eta K t}\big)
        \big(y - f_0(X)\big)

    This is the solution of gradient flow on the squared loss
    :math:`\frac12 \sum_i \|f(x_i) - y_i\|^2` for a model that is linear in
    its parameters with tangent kernel ``K`` and learning rate :math:`\eta`.
    At ``t = inf`` it is kernel regression,
    :math:`f_0(x) + K(x, X) K^{-1} (y - f_0(X))`. Plain gradient descent with
    step size :math:`\eta` after ``s`` steps is close to ``t = s``, because
    :math:`(1 - \eta\lambda)^s` and :math:`e^{-\eta\lambda s}` differ by
    :math:`O(s\,(\eta\lambda)^2)` in each eigendirection.

    With :math:`K = V \operatorname{diag}(\lambda) V^\top`, the matrix
    :math:`K^{-1}(I - e^{-\eta K t})` is
    :math:`V \operatorname{diag}(\phi_t(\lambda)) V^\top` with
    :math:`\phi_t(\lambda) = -\operatorname{expm1}(-\eta\lambda t) / \lambda`,
    which tends to :math:`\eta t` as :math:`\lambda \to 0`. So a singular
    ``K`` needs no inverse for finite ``t``, and all times share one
    eigendecomposition.

    Parameters
    ----------
    K_train : array-like of shape (n_train, n_train)
        Symmetric Gram matrix of the training inputs. An asymmetric input is
        replaced by its symmetric part.
    K_test : array-like of shape (n_test, n_train)
        Kernel between the new inputs and the training inputs.
    y : array-like of shape (n_train,) or (n_train, n_targets)
        Training targets.
    f0_train : array-like of shape (n_train,) or (n_train, n_targets), or None
        Outputs of the model at time 0 on the training inputs. None means 0.
    f0_test : array-like of shape (n_test,) or (n_test, n_targets), or None
        Outputs of the model at time 0 on the new inputs. None means 0.
    times : float or array-like of shape (n_times,)
        Nonnegative times ``t``, in units of steps of size ``learning_rate``.
        ``numpy.inf`` gives kernel regression.
    learning_rate : float, default=1.0
        Learning rate :math:`\eta`, positive.
    rcond : float, optional
        Eigenvalues with ``|lambda| <= rcond * max|lambda|`` count as zero.
        The default is ``n_train * eps`` of float64. At ``t = inf`` such
        directions are left out, as in a pseudo-inverse.

    Returns
    -------
    ndarray of shape (n_times, n_test) or (n_times, n_test, n_targets)
        Predicted outputs, one row per time. A scalar ``times`` drops the
        first axis. The target axis is present when ``y`` is 2-D.

    Raises
    ------
    ValueError
        If the shapes do not match, an input is not finite, a time is
        negative or NaN, or ``t = inf`` is requested for a ``K_train`` with a
        negative eigenvalue beyond the ``rcond`` cutoff (the flow then
        diverges).

    See Also
    --------
    gradient_flow_train : The same flow on the training inputs.

    Notes
    -----
    Cost: one ``O(n_train**3)`` eigendecomposition, then
    ``O(n_times * n_train * (n_train + n_test) * n_targets)``. For a network
    the formula is exact only in the limit of infinite width, where the
    tangent kernel stays at its initial value during training. At finite
    width the deviation grows with the distance the parameters travel.

    Examples
    --------
    >>> import numpy as np
    >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> K_test = np.array([[1.0, 0.5]])
    >>> y = np.array([1.0, -1.0])
    >>> gradient_flow_predict(K, K_test, y, None, None, [0.0, np.inf]).round(6)
    array([[0. ],
           [0.5]])
    """
    K_train = _check_gram(K_train)
    n_train = K_train.shape[0]
    K_test = _check_finite(K_test, "K_test")
    if K_test.ndim != 2 or K_test.shape[1] != n_train:
        raise ValueError(
            f"K_test must have shape (n_test, {n_train}) to match K_train, got "
            f"shape {K_test.shape}."
        )
    n_test = K_test.shape[0]
    residual, one_target = _residual(y, f0_train, n_train)
    f0_test = _initial_outputs(f0_test, n_test, residual.shape[1], "f0_test")
    times, scalar_time = _check_times(times)
    learning_rate = _check_learning_rate(learning_rate)

    eigenvalues, vectors = _eigh(K_train, rcond)
    factors = _flow_factors(eigenvalues, times, learning_rate, divide=True)

    # coefficients[t] = V diag(phi_t) V^T (y - f0), shape (n_times, n_train, k)
    projected = vectors.T @ residual
    coefficients = np.einsum("ij,tj,jk->tik", vectors, factors, projected)
    outputs = f0_test[None] + np.einsum("si,tik->tsk", K_test, coefficients)
    return _finish(outputs, one_target, scalar_time)


def gradient_flow_train(K_train, y, f0_train, times, learning_rate=1.0, *, rcond=None):
    r"""Predict the training outputs of kernel gradient flow at given times.

    .. math::

        f_t(X) = f_0(X) + \big(I - e^{-\eta K t}\big)\big(y - f_0(X)\big)

    the solution of :math:`\frac{df}{dt} = -\eta K (f - y)` with
    :math:`f = f_0(X)` at ``t = 0``. It needs no inverse, so it is stable for
    any positive semidefinite ``K``. At ``t = inf`` the outputs reach ``y`` in
    the range of ``K`` and keep their initial values in its null space.

    Parameters
    ----------
    K_train : array-like of shape (n_train, n_train)
        Symmetric Gram matrix of the training inputs.
    y : array-like of shape (n_train,) or (n_train, n_targets)
        Training targets.
    f0_train : array-like of shape (n_train,) or (n_train, n_targets), or None
        Outputs at time 0. None means 0.
    times : float or array-like of shape (n_times,)
        Nonnegative times, ``numpy.inf`` allowed.
    learning_rate : float, default=1.0
        Learning rate :math:`\eta`, positive.
    rcond : float, optional
        Relative cutoff below which eigenvalues count as zero, as in
        :func:`gradient_flow_predict`.

    Returns
    -------
    ndarray of shape (n_times, n_train) or (n_times, n_train, n_targets)
        Outputs on the training inputs. A scalar ``times`` drops the first
        axis.

    Raises
    ------
    ValueError
        As :func:`gradient_flow_predict`.

    See Also
    --------
    gradient_flow_predict : The same flow on new inputs.

    Examples
    --------
    >>> import numpy as np
    >>> K = np.eye(2)
    >>> y = np.array([1.0, 2.0])
    >>> gradient_flow_train(K, y, None, [0.0, np.log(2.0), np.inf]).round(6)
    array([[0. , 0. ],
           [0.5, 1. ],
           [1. , 2. ]])
    """
    K_train = _check_gram(K_train)
    n_train = K_train.shape[0]
    residual, one_target = _residual(y, f0_train, n_train)
    base = _initial_outputs(f0_train, n_train, residual.shape[1], "f0_train")
    times, scalar_time = _check_times(times)
    learning_rate = _check_learning_rate(learning_rate)

    eigenvalues, vectors = _eigh(K_train, rcond)
    factors = _flow_factors(eigenvalues, times, learning_rate, divide=False)

    projected = vectors.T @ residual
    moved = np.einsum("ij,tj,jk->tik", vectors, factors, projected)
    return _finish(base[None] + moved, one_target, scalar_time)


class GradientFlow:
    """The eigenbasis of a training Gram matrix, kept for many flow predictions.

    ``GradientFlow(K_train, Y, f0_train).predict(K_test, f0_test, times, eta)``
    equals :func:`gradient_flow_predict` with the same arguments, but the
    eigendecomposition of ``K_train`` is made once, here.

    Parameters
    ----------
    K_train : ndarray of shape (n_train, n_train)
    Y : ndarray of shape (n_train, n_targets)
    f0_train : ndarray of shape (n_train, n_targets)
    """

    def __init__(self, K_train, Y, f0_train):
        K_train = _check_gram(K_train)
        residual, _ = _residual(Y, f0_train, K_train.shape[0])
        self.eigenvalues, self.vectors = _eigh(K_train, None)
        self.projected = self.vectors.T @ residual

    def predict(self, K_test, f0_test, times, learning_rate):
        """Return ``f_t`` at the test rows, shape (n_times, n_test, n_targets).

        Without the first axis when ``times`` is a scalar.
        """
        times, scalar_time = _check_times(times)
        learning_rate = _check_learning_rate(learning_rate)
        factors = _flow_factors(self.eigenvalues, times, learning_rate, divide=True)
        coefficients = np.einsum("ij,tj,jk->tik", self.vectors, factors, self.projected)
        outputs = f0_test[None] + np.einsum("si,tik->tsk", K_test, coefficients)
        return outputs[0] if scalar_time else outputs


def _flow_factors(eigenvalues, times, learning_rate, divide):
    """Return the spectral factors of the flow, shape (n_times, n_train).

    With ``divide=True`` the factor is ``(1 - exp(-eta lambda t)) / lambda``,
    else ``1 - exp(-eta lambda t)``. Zero eigenvalues (already cut by
    ``rcond``) take the limits ``eta t`` and 0. At ``t = inf`` the factors are
    ``1 / lambda`` and 1 on the positive eigenvalues.
    """
    zero = eigenvalues == 0
    safe = np.where(zero, 1.0, eigenvalues)
    finite = np.isfinite(times)

    if not finite.all() and np.any(eigenvalues < 0):
        raise ValueError(
            "t = inf needs a positive semidefinite K_train, but it has the "
            f"eigenvalue {eigenvalues.min()!r}, so the flow diverges. Pass a "
            "positive semidefinite Gram matrix or finite times."
        )

    with np.errstate(over="ignore"):
        exponent = learning_rate * np.outer(np.where(finite, times, 0.0), safe)
        decay = -np.expm1(-exponent)
    if divide:
        factors = np.where(zero, learning_rate * times[:, None], decay / safe)
        limit = np.where(zero, 0.0, 1.0 / safe)
    else:
        factors = np.where(zero, 0.0, decay)
        limit = np.where(zero, 0.0, 1.0)
    return np.where(finite[:, None], factors, limit[None])


def _eigh(K, rcond):
    eigenvalues, vectors = scipy.linalg.eigh(K)
    if rcond is None:
        rcond = K.shape[0] * np.finfo(np.float64).eps
    elif not isinstance(rcond, Real) or not 0 <= rcond < 1:
        raise ValueError(f"rcond must be a number in [0, 1), got {rcond!r}.")
    cutoff = rcond * np.max(np.abs(eigenvalues), initial=0.0)
    eigenvalues = np.where(np.abs(eigenvalues) <= cutoff, 0.0, eigenvalues)
    return eigenvalues, vectors


def _check_finite(array, name):
    array = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def _check_gram(K):
    K = _check_finite(K, "K_train")
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(
            f"K_train must be a non-empty square matrix, got shape {K.shape}."
        )
    return (K + K.T) / 2.0


def _residual(y, f0_train, n_train):
    """Return ``y - f0_train`` as a 2-D array and whether ``y`` was 1-D."""
    y = _check_finite(y, "y")
    if y.ndim not in (1, 2) or y.shape[0] != n_train:
        raise ValueError(
            f"y must have shape ({n_train},) or ({n_train}, n_targets) to match "
            f"K_train, got shape {y.shape}."
        )
    one_target = y.ndim == 1
    y = y.reshape(n_train, -1)
    f0_train = _initial_outputs(f0_train, n_train, y.shape[1], "f0_train")
    return y - f0_train, one_target


def _initial_outputs(f0, n_rows, n_targets, name):
    if f0 is None:
        return np.zeros((n_rows, n_targets))
    f0 = _check_finite(f0, name)
    if f0.ndim == 1 and n_targets == 1:
        f0 = f0[:, None]
    if f0.shape != (n_rows, n_targets):
        expected = (n_rows,) if n_targets == 1 else (n_rows, n_targets)
        raise ValueError(f"{name} must have shape {expected}, got shape {f0.shape}.")
    return f0


def _check_times(times):
    array = np.asarray(times, dtype=np.float64)
    scalar = array.ndim == 0
    array = np.atleast_1d(array)
    if array.ndim != 1:
        raise ValueError(
            f"times must be a number or a 1-D array, got shape {array.shape}."
        )
    if np.any(np.isnan(array)) or np.any(array < 0):
        raise ValueError(f"times must be >= 0 and not NaN, got {times!r}.")
    return array, scalar


def _check_learning_rate(learning_rate):
    if not isinstance(learning_rate, Real) or isinstance(learning_rate, bool):
        raise TypeError(f"learning_rate must be a real number, got {learning_rate!r}.")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(
            f"learning_rate must be a finite number > 0, got {learning_rate!r}."
        )
    return float(learning_rate)


def _finish(outputs, one_target, scalar_time):
    if one_target:
        outputs = outputs[..., 0]
    if scalar_time:
        outputs = outputs[0]
    return outputs
