"""The Monte Carlo nonlocal gradient of a network's outputs."""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

from sknntk import _montecarlo as mc
from sknntk._functional import (
    FunctionalModel,
    as_tensor,
    resolve_devices,
    resolve_dtype,
)
from sknntk._perturbations import DISTRIBUTIONS, PERTURBATIONS, SAMPLERS


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}."
        )


def nonlocal_gradient(
    model,
    X,
    *,
    gamma=0.1,
    n_samples=256,
    distribution="gaussian",
    sampler="antithetic",
    perturbation="isotropic",
    normalize=True,
    dtype="float64",
    random_state=None,
    n_jobs=None,
    device="cpu",
    sample_chunk_size="auto",
):
    """Estimate the nonlocal gradient of every output at every row of ``X``.

    .. math::

        \\hat G f(x) = \\frac{c}{N} \\sum_{k=1}^{N}
        \\big(f(x; \\theta + \\Delta_k) - f(x; \\theta)\\big)
        \\frac{\\Delta_k^\\top}{\\|\\Delta_k\\|^2}

    with ``Delta_k ~ rho_gamma`` and ``c = d`` (``normalize=True``), so that
    for a smooth network ``Ĝf(x)`` tends to the gradient ``∇θ f(x)`` as
    ``gamma -> 0`` and ``N`` grows. It needs forward passes only.

    Parameters
    ----------
    model : torch.nn.Module
        The network; it is copied and never modified, and its training flag
        is left as it was.
    X : array-like of shape (n_rows, n_features)
    gamma : float, default=0.1
        Width of the perturbation law.
    n_samples : int, default=256
        Number ``N`` of perturbations.
    distribution : {"gaussian", "uniform"}, default="gaussian"
    sampler : {"antithetic", "iid", "orthogonal", "qmc"}, default="antithetic"
    perturbation : {"isotropic", "directional"}, default="isotropic"
    normalize : bool, default=True
        ``c = d`` when True, ``c = 1`` otherwise.
    dtype : {"float64", "float32"}, default="float64"
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None
        joblib workers over chunks of perturbations; the result does not
        depend on it.
    device : str, torch.device or list, default="cpu"
    sample_chunk_size : int or "auto", default="auto"

    Returns
    -------
    gradient : ndarray of shape (n_rows, n_outputs, n_params)
        ``Ĝ f_j(x_i)`` for row ``i`` and output ``j``, over the trainable
        parameters flattened in ``named_parameters()`` order.

    Notes
    -----
    Cost: ``N + N / sample_chunk_size`` forward passes over ``X`` and
    ``O(n m N d)`` for the sum. Memory: the ``n * m * d`` result plus one
    chunk of perturbations.

    Examples
    --------
    >>> import torch
    >>> from sknntk import nonlocal_gradient
    >>> model = torch.nn.Linear(3, 1, bias=False).double()
    >>> X = torch.eye(3, dtype=torch.float64).numpy()
    >>> G = nonlocal_gradient(model, X, n_samples=3, sampler="orthogonal",
    ...                       random_state=0)
    >>> G.shape
    (3, 1, 3)

    For a linear model and orthonormal perturbations with ``N = d`` the
    estimate is exact: the gradient of ``w . x`` is ``x``.

    >>> bool(abs(G[:, 0, :] - X).max() < 1e-12)
    True
    """
    if not isinstance(gamma, int | float) or not gamma > 0:
        raise ValueError(f"gamma must be a float > 0, got {gamma!r}.")
    if not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}.")
    _check_choice(distribution, "distribution", DISTRIBUTIONS)
    _check_choice(sampler, "sampler", SAMPLERS)
    _check_choice(perturbation, "perturbation", PERTURBATIONS)
    _check_choice(dtype, "dtype", ("float32", "float64"))
    X = check_array(X, dtype=[np.float64, np.float32])

    torch_dtype = resolve_dtype(dtype)
    devices = resolve_devices(device)
    fmodel = FunctionalModel(model, torch_dtype)
    X_t = as_tensor(X, torch_dtype)
    n_outputs = fmodel.check_input(X_t)
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    draws = mc.make_sampler(
        fmodel.n_params,
        n_samples,
        distribution,
        sampler,
        perturbation,
        seed,
        torch_dtype,
    )
    plan = mc.plan_chunks(fmodel, X_t, sample_chunk_size)

    R, norms = mc.scaled_differences(
        fmodel, X_t, draws, gamma, 0, n_samples, plan, n_jobs=n_jobs, devices=devices
    )
    scale = (fmodel.n_params if normalize else 1.0) / n_samples
    gradient = np.zeros((X.shape[0], n_outputs, fmodel.n_params))
    for lo in range(0, n_samples, plan.sample_chunk):
        hi = min(lo + plan.sample_chunk, n_samples)
        deltas, _ = mc.draw_perturbations(draws, lo, hi, gamma, torch_dtype)
        weights = R[:, lo:hi].astype(np.float64) / norms[None, lo:hi, None]
        gradient += np.einsum("nkm,kd->nmd", weights, deltas.double().numpy())
    gradient *= scale
    return gradient.astype(X_t.numpy().dtype, copy=False)
