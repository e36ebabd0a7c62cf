"""Limits and closed forms of the Monte Carlo nonlocal kernel.

Two checks:

- For a smooth network and ``gamma -> 0``,
  ``delta_k(x) = grad f(x) . Delta_k + O(gamma**2)``, so the term
  ``c delta_k(x) delta_k(x') / ||Delta_k||**2`` tends to
  ``c (grad f(x) . u_k) (grad f(x') . u_k)`` with ``u_k`` the unit direction,
  whose mean is ``(c / d) NTK(x, x')``.
- For ``f(x; theta) = sign(x - theta)`` at ``theta = 0`` the NTK is zero
  almost everywhere, but the nonlocal kernel has a closed form (see
  :func:`_sign_kernel_closed_form`).
"""

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from sknntk import NonlocalNTKKernel

N_STD_ERRORS = 5
X_GRID = np.linspace(-2.0, 2.0, 16).reshape(-1, 1)


def _relative_error(K, reference):
    return np.linalg.norm(K - reference) / np.linalg.norm(reference)


def _autograd_jacobian(module, X):
    """Return the gradients of the scalar output at each row, shape (n, d)."""
    params = [p for p in module.parameters() if p.requires_grad]
    rows = []
    for x in torch.as_tensor(X):
        grads = torch.autograd.grad(module(x[None]).sum(), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows).detach().numpy()


@pytest.fixture
def tanh_network(make_tanh_mlp):
    """A 1-32-1 tanh network (d = 97) and its exact NTK on 16 points of [-2, 2]."""
    model = make_tanh_mlp(1, 32, seed=0)
    ntk = NonlocalNTKKernel(model, kernel="ntk").fit_transform(X_GRID)
    return model, ntk


def test_nonlocal_tends_to_ntk_as_n_grows(tanh_network):
    """gamma=1e-3, iid sampler, N in (256, 1024, 4096): error below 5 % at 4096.

    The Frobenius error of the mean of ``N`` independent terms is about
    ``sqrt((1 + tr(K)**2 / ||K||_F**2) / N)``, near 3 % here at ``N = 4096``.
    Antithetic pairs do not help in this limit: ``delta(-Delta)`` is
    ``-delta(Delta)`` to first order, so both members of a pair give the same
    term and ``N`` antithetic samples are worth ``N / 2`` independent ones.
    """
    model, ntk = tanh_network
    errors = []
    for n_samples in (256, 1024, 4096):
        K = NonlocalNTKKernel(
            model, gamma=1e-3, n_samples=n_samples, sampler="iid", random_state=0
        ).fit_transform(X_GRID)
        errors.append(_relative_error(K, ntk))
    print(f"\nnormalized nonlocal vs NTK, N=256/1024/4096: {np.round(errors, 4)}")

    assert errors[2] < 0.05
    assert errors[1] < errors[0]
    assert errors[2] < errors[1]
    assert errors[2] < errors[0] / 2


def test_unnormalized_tends_to_ntk_over_d(tanh_network):
    """gamma=1e-3, N=4096, iid: ``normalize=False`` is within 5 % of ``NTK / d``."""
    model, ntk = tanh_network
    kernel = NonlocalNTKKernel(
        model,
        gamma=1e-3,
        n_samples=4096,
        sampler="iid",
        normalize=False,
        random_state=0,
    )

    K = kernel.fit_transform(X_GRID)
    error = _relative_error(K, ntk / kernel.n_params_)
    print(f"\nunnormalized nonlocal vs NTK/d (d={kernel.n_params_}): {error:.4f}")

    assert kernel.n_params_ == 97
    assert error < 0.05


@pytest.mark.parametrize(
    ("sampler", "order"), [("iid", 1), ("antithetic", 2)], ids=["iid", "antithetic"]
)
def test_nonlocal_bias_vanishes_with_gamma(tanh_network, sampler, order):
    """With the Monte Carlo noise held fixed, the bias is O(gamma) or O(gamma**2).

    Perturbation ``k`` depends only on the seed, ``k`` and ``d``, so the linear
    model ``theta . J(x)``, with ``J(x)`` the network's gradient (``d = 97``),
    draws the same unit directions ``u_k`` as the network. Its kernel is
    ``(c / N) sum_k (J(x) . u_k) (J(x') . u_k)``: the ``gamma -> 0`` limit of the
    network's estimate at the same samples. The second-order term of
    ``delta_k`` is even in ``Delta``, so antithetic pairs cancel it.
    """
    model, _ = tanh_network
    J = _autograd_jacobian(model, X_GRID)
    params = dict(n_samples=512, sampler=sampler, random_state=3)
    linear = NonlocalNTKKernel(
        torch.nn.Linear(J.shape[1], 1, bias=False).double(), gamma=1.0, **params
    )
    limit = linear.fit_transform(J)

    errors = []
    for gamma in (1e-2, 1e-3):
        kernel = NonlocalNTKKernel(model, gamma=gamma, **params)
        errors.append(_relative_error(kernel.fit_transform(X_GRID), limit))
        assert kernel.seed_ == linear.seed_
        assert kernel.n_params_ == J.shape[1]
    print(f"\n{sampler} bias at gamma=1e-2/1e-3: {errors[0]:.2e} / {errors[1]:.2e}")

    # A tenfold smaller gamma divides the bias by about 10**order.
    assert errors[0] / errors[1] > 0.5 * 10**order
    assert errors[1] < 10.0 ** (-3 * order)


class SignModel(torch.nn.Module):
    """``f(x; theta) = sign(x - theta)`` with one scalar parameter, zero at first."""

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x):
        return torch.sign(x - self.theta)


def _sign_kernel_closed_form(x, distribution, gamma):
    """Return ``E[delta(x) delta(x') / Delta**2]`` for ``sign(x - theta)`` at 0.

    With ``d = 1`` the scale is ``c = d = 1`` either way. For ``x > 0``,
    ``delta(x) = sign(x - Delta) - 1`` is ``-2`` when ``Delta > x`` and 0
    otherwise; for ``x < 0`` it is ``+2`` when ``Delta < x``. So the kernel is
    0 for ``x, x'`` of opposite signs and otherwise, with
    ``M = max(|x|, |x'|)`` and the law's symmetric density ``p``,

        K(x, x') = 4 int_M^inf p(t) / t**2 dt,

    finite since ``t >= M > 0``. For the uniform law on ``[-gamma, gamma]``,
    ``p = 1 / (2 gamma)`` and ``K = (2 / gamma) (1 / M - 1 / gamma)`` when
    ``M < gamma``, else 0. For the Gaussian law ``N(0, gamma**2 / 2)`` the
    integral is computed with quadrature.
    """
    n = x.shape[0]
    K = np.zeros((n, n))
    scale = gamma / np.sqrt(2.0)
    for i in range(n):
        for j in range(n):
            if x[i] * x[j] < 0:
                continue
            bound = max(abs(x[i]), abs(x[j]))
            if distribution == "uniform":
                K[i, j] = (2.0 / gamma) * (1.0 / bound - 1.0 / gamma)
                K[i, j] = max(K[i, j], 0.0)
            else:
                integral, _ = integrate.quad(
                    lambda t: stats.norm.pdf(t, scale=scale) / t**2, bound, np.inf
                )
                K[i, j] = 4.0 * integral
    return K


@pytest.mark.parametrize("sampler", ["iid", "antithetic"])
@pytest.mark.parametrize("distribution", ["gaussian", "uniform"])
def test_sign_model_matches_closed_form(sample_terms, distribution, sampler):
    """gamma=1, N=4000: every entry within 5 Monte Carlo standard errors."""
    x = np.array([-1.5, -0.8, -0.3, -0.1, 0.1, 0.3, 0.8, 1.5])
    expected = _sign_kernel_closed_form(x, distribution, gamma=1.0)
    kernel = NonlocalNTKKernel(
        SignModel(),
        gamma=1.0,
        n_samples=4000,
        distribution=distribution,
        sampler=sampler,
        random_state=0,
    )

    K = kernel.fit_transform(x.reshape(-1, 1))
    mean, std_error = sample_terms(kernel.features_fit_, sampler)
    exact_zero = expected == 0.0

    assert kernel.n_params_ == 1
    np.testing.assert_allclose(K, mean, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(K[exact_zero], 0.0)
    assert np.all(std_error[~exact_zero] > 0)
    np.testing.assert_array_less(
        np.abs(K - expected)[~exact_zero], N_STD_ERRORS * std_error[~exact_zero]
    )


def test_sign_model_exact_ntk_is_zero():
    """Autograd returns a zero derivative for sign, so the exact NTK vanishes."""
    x = np.array([-0.5, 0.2, 0.7]).reshape(-1, 1)

    K = NonlocalNTKKernel(SignModel(), kernel="ntk").fit_transform(x)

    np.testing.assert_array_equal(K, np.zeros((3, 3)))
