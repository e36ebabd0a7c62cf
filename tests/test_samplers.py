"""Samplers, forms and the adaptive number of samples against exact references."""

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from sknntk import NonlocalNTKKernel, nonlocal_gradient
from sknntk._montecarlo import draw_perturbations, make_sampler
from sknntk.models import MLP

SAMPLERS = ["iid", "antithetic", "orthogonal", "qmc"]
LAWS = ["gaussian", "uniform"]


class ShiftedSign(torch.nn.Module):
    """``f(x; theta) = sign(x - theta)`` with one scalar parameter at 0."""

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, X):
        return torch.sign(X[:, :1] - self.theta)


def sign_kernel(x, x_prime, gamma, distribution):
    """Closed form of the nonlocal kernel of ``sign(x - theta)`` at ``theta = 0``.

    With ``d = 1`` the normalization is 1. For ``x, x' > 0`` the difference
    ``sign(x - Delta) - sign(x)`` is ``-2`` when ``Delta > x`` and 0 otherwise,
    so ``K = 4 E[1{Delta > max(x, x')} / Delta^2]``; the negative side is the
    mirror image and opposite signs give 0.
    """
    if x * x_prime <= 0:
        return 0.0
    edge = max(abs(x), abs(x_prime))
    if distribution == "uniform":
        if edge >= gamma:
            return 0.0
        return 2.0 / gamma * (1.0 / edge - 1.0 / gamma)
    density = stats.norm(scale=gamma / np.sqrt(2.0)).pdf
    value, _ = integrate.quad(lambda t: density(t) / t**2, edge, np.inf)
    return 4.0 * value


class TinyLinear(torch.nn.Module):
    """``f(x; theta) = theta . x`` in float64."""

    def __init__(self, n_features):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        weight = torch.randn(n_features, generator=generator, dtype=torch.float64)
        self.weight = torch.nn.Parameter(weight)

    def forward(self, X):
        return X @ self.weight


@pytest.mark.parametrize("distribution", LAWS)
def test_orthogonal_linear_exact(distribution):
    """Orthonormal directions with N = d make the normalized estimate exact."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 5))
    kernel = NonlocalNTKKernel(
        TinyLinear(5),
        n_samples=5,
        sampler="orthogonal",
        distribution=distribution,
        gamma=0.7,
        random_state=0,
    )
    K = kernel.fit_transform(X)
    np.testing.assert_allclose(K, X @ X.T, rtol=0, atol=1e-8)


@pytest.mark.parametrize("distribution", LAWS)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sign_model_closed_form(sampler, distribution):
    """Every sampler and law matches the closed form within 4 standard errors.

    The standard error comes from 24 independent repetitions (seeds) of an
    estimate with N = 256.
    """
    gamma = 1.0
    points = np.array([[-0.6], [-0.3], [0.2], [0.5]])
    expected = np.array(
        [
            [sign_kernel(a, b, gamma, distribution) for b in points[:, 0]]
            for a in points[:, 0]
        ]
    )
    estimates = np.stack(
        [
            NonlocalNTKKernel(
                ShiftedSign(),
                gamma=gamma,
                n_samples=256,
                sampler=sampler,
                distribution=distribution,
                random_state=seed,
            ).fit_transform(points)
            for seed in range(24)
        ]
    )
    mean = estimates.mean(axis=0)
    std_error = estimates.std(axis=0, ddof=1) / np.sqrt(estimates.shape[0])
    nonzero = expected > 0
    assert np.all(mean[~nonzero] == 0.0)
    assert np.all(np.abs(mean - expected)[nonzero] <= 4 * std_error[nonzero] + 1e-12)


def test_gradient_form_tends_to_ntk():
    """The gradient form converges to the exact NTK as gamma -> 0 and N grows.

    Setting: tanh MLP 1 -> 8 -> 1 (d = 25), gamma = 1e-4, orthogonal sampler.
    With N = d orthonormal directions the Monte Carlo gradient is exact up to
    O(gamma), so the error is far below the tolerance of 1e-3.
    """
    X = np.linspace(-1, 1, 9).reshape(-1, 1)
    model = MLP(1, hidden_layer_sizes=(8,), activation="tanh", random_state=0)
    exact = NonlocalNTKKernel(model, kernel="ntk").fit_transform(X)
    errors = []
    for gamma in (1e-1, 1e-4):
        estimate = NonlocalNTKKernel(
            model,
            form="gradient",
            gamma=gamma,
            n_samples=25,
            sampler="orthogonal",
            random_state=0,
        ).fit_transform(X)
        errors.append(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))
    assert errors[1] < 1e-3
    assert errors[1] < errors[0]


def test_directional_size_independent_of_dimension():
    """Directional perturbations keep ||Delta|| of order gamma for every d."""
    means = {}
    for kind in ("isotropic", "directional"):
        for n_params in (10, 10_000):
            draws = make_sampler(n_params, 64, "gaussian", "iid", kind, seed=0)
            _, norms = draw_perturbations(draws, 0, 64, 0.1, torch.float64)
            means[kind, n_params] = float(norms.mean())
    # One-dimensional |t| with t ~ N(0, gamma^2 / 2) has mean gamma / sqrt(pi).
    assert means["directional", 10_000] == pytest.approx(0.1 / np.sqrt(np.pi), rel=0.3)
    assert means["directional", 10_000] / means["directional", 10] < 1.5
    # Isotropic perturbations grow like gamma * sqrt(d / 2).
    assert means["isotropic", 10_000] / means["isotropic", 10] > 20


def test_nonlocal_gradient_matches_autograd():
    """For a smooth network the nonlocal gradient tends to the autograd gradient."""
    model = MLP(2, hidden_layer_sizes=(6,), activation="tanh", random_state=1)
    X = np.array([[0.3, -0.2], [1.0, 0.5]])
    d = sum(p.numel() for p in model.parameters())
    estimate = nonlocal_gradient(
        model, X, gamma=1e-7, n_samples=d, sampler="orthogonal", random_state=0
    )
    for i, row in enumerate(torch.as_tensor(X)):
        model.zero_grad()
        model(row[None]).sum().backward()
        exact = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy()
        np.testing.assert_allclose(estimate[i, 0], exact, rtol=0, atol=1e-6)


def _smooth_setup():
    X = np.linspace(-1.5, 1.5, 24).reshape(-1, 1)
    model = MLP(1, hidden_layer_sizes=(16,), activation="tanh", random_state=0)
    return X, model


def test_auto_smaller_tol_draws_more():
    """n_samples='auto' stops at a larger N for a smaller tolerance."""
    X, model = _smooth_setup()
    used = {}
    for tol in (0.15, 0.05):
        kernel = NonlocalNTKKernel(
            model, n_samples="auto", tol=tol, gamma=0.05, random_state=0
        ).fit(X)
        used[tol] = kernel.n_samples_
        assert kernel.kernel_std_error_ <= tol
    assert used[0.05] > used[0.15]


@pytest.mark.parametrize("sampler", ["iid", "antithetic"])
def test_std_error_close_to_measured(sampler):
    """The reported standard error is within a factor 2 of the measured error.

    The reference is the mean of the same estimator over 64 times more
    samples, so its own error is about 8 times smaller.
    """
    X, model = _smooth_setup()
    params = dict(gamma=0.05, sampler=sampler, random_state=0)
    reference = NonlocalNTKKernel(model, n_samples=8192, **params).fit_transform(X)
    ratios = []
    for seed in range(3):
        params["random_state"] = 100 + seed
        kernel = NonlocalNTKKernel(model, n_samples=128, **params)
        K = kernel.fit_transform(X)
        measured = np.linalg.norm(K - reference) / np.linalg.norm(reference)
        ratios.append(kernel.kernel_std_error_ / measured)
    ratio = np.exp(np.mean(np.log(ratios)))
    assert 0.5 <= ratio <= 2.0, ratios


def test_attention_effective_sample_size_stored():
    """The attention kernel stores an effective sample size between 1 and N."""
    X, model = _smooth_setup()
    kernel = NonlocalNTKKernel(
        model, kernel="attention", n_samples="auto", tol=0.1, random_state=0
    ).fit(X)
    assert 1.0 <= kernel.effective_sample_size_ <= kernel.n_samples_


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_larger_n_extends_smaller(sampler):
    """The first perturbations of a larger N are those of a smaller N."""
    small = make_sampler(40, 16, "gaussian", sampler, "isotropic", seed=3)
    large = make_sampler(40, 64, "gaussian", sampler, "isotropic", seed=3)
    u_small, r_small = small.draw(0, 16)
    u_large, r_large = large.draw(0, 16)
    np.testing.assert_allclose(u_small, u_large, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r_small, r_large, rtol=0, atol=1e-12)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_chunking_does_not_change_draws(sampler):
    """Drawing samples in pieces gives exactly the draws made in one go."""
    draws = make_sampler(30, 50, "uniform", sampler, "isotropic", seed=5)
    whole_u, whole_r = draws.draw(0, 50)
    pieces = [draws.draw(lo, min(lo + 7, 50)) for lo in range(0, 50, 7)]
    assert torch.equal(torch.cat([u for u, _ in pieces]), whole_u)
    assert torch.equal(torch.cat([r for _, r in pieces]), whole_r)


def test_qmc_dimension_limit_message():
    """A model beyond Sobol's dimension limit gets an error naming the limit."""
    with pytest.raises(ValueError, match="21201"):
        make_sampler(30_000, 8, "gaussian", "qmc", "isotropic", seed=0)
