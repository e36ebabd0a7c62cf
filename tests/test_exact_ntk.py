"""The exact NTK and the Monte Carlo kernel's mean on models with a closed form.

For a model linear in its parameters, ``f(x; theta) = theta . phi(x)``, the
gradient is ``phi(x)``, so the NTK is ``phi(x) . phi(x')`` at every ``theta``.
The finite difference is exact, ``delta(x) = Delta . phi(x)``, so the Monte
Carlo term ``c (Delta . phi(x)) (Delta . phi(x')) / ||Delta||**2`` equals
``c (u . phi(x)) (u . phi(x'))`` with ``u = Delta / ||Delta||`` uniform on the
unit sphere for both laws. Since ``E[u u^T] = I / d``, its mean is
``(c / d) phi(x) . phi(x')``: the NTK for ``c = d`` and ``NTK / d`` for
``c = 1``, whatever ``gamma``.
"""

import numpy as np
import pytest
import torch

from sknntk import NonlocalNTKKernel

# Monte Carlo standard errors allowed between an estimate and its expectation.
N_STD_ERRORS = 5


def _autograd_jacobian(module, X):
    """Return the gradients of the scalar output at each row, shape (n, d)."""
    params = [p for p in module.parameters() if p.requires_grad]
    rows = []
    for x in torch.as_tensor(X):
        output = module(x[None]).sum()
        grads = torch.autograd.grad(output, params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows).detach().numpy()


def test_ntk_linear_model_is_inner_product(make_linear):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 3))
    X_new = rng.standard_normal((4, 3))
    kernel = NonlocalNTKKernel(make_linear(3), kernel="ntk")

    K = kernel.fit_transform(X)
    K_new = kernel.transform(X_new)

    np.testing.assert_allclose(K, X @ X.T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(K_new, X_new @ X.T, rtol=0, atol=1e-10)
    assert kernel.n_params_ == 3
    assert kernel.n_samples_ == 0


def test_ntk_bias_adds_one(make_linear):
    """With a bias, ``phi(x) = (x, 1)``, so the NTK is ``x . x' + 1``."""
    X = np.random.default_rng(2).standard_normal((6, 2))
    model = torch.nn.Linear(2, 1).double()

    K = NonlocalNTKKernel(model, kernel="ntk").fit_transform(X)

    np.testing.assert_allclose(K, X @ X.T + 1.0, rtol=0, atol=1e-10)


def test_ntk_frozen_feature_layer():
    """A frozen layer has no gradient, so the NTK is ``phi(x) . phi(x')``."""
    torch.manual_seed(0)
    features = torch.nn.Linear(2, 5).double()
    features.requires_grad_(False)
    model = torch.nn.Sequential(
        features, torch.nn.Tanh(), torch.nn.Linear(5, 1, bias=False).double()
    )
    X = np.random.default_rng(3).standard_normal((8, 2))
    with torch.no_grad():
        phi = torch.tanh(features(torch.as_tensor(X))).numpy()

    kernel = NonlocalNTKKernel(model, kernel="ntk")
    K = kernel.fit_transform(X)

    assert kernel.n_params_ == 5
    np.testing.assert_allclose(K, phi @ phi.T, rtol=0, atol=1e-10)


def test_ntk_traces_over_outputs():
    """Each of the two outputs of ``Linear(p, 2)`` contributes ``x . x'``."""
    X = np.random.default_rng(4).standard_normal((5, 3))
    model = torch.nn.Linear(3, 2, bias=False).double()

    kernel = NonlocalNTKKernel(model, kernel="ntk")
    K = kernel.fit_transform(X)

    assert kernel.n_outputs_ == 2
    np.testing.assert_allclose(K, 2.0 * X @ X.T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("row_chunk_size", ["auto", 3])
def test_ntk_tanh_mlp_matches_autograd(make_tanh_mlp, row_chunk_size):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((10, 2))
    X_new = rng.standard_normal((4, 2))
    model = make_tanh_mlp(2, 8)
    J = _autograd_jacobian(model, X)
    J_new = _autograd_jacobian(model, X_new)

    kernel = NonlocalNTKKernel(model, kernel="ntk", row_chunk_size=row_chunk_size)
    K = kernel.fit_transform(X)
    K_new = kernel.transform(X_new)

    np.testing.assert_allclose(K, J @ J.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K_new, J_new @ J.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sampler", ["iid", "antithetic"])
@pytest.mark.parametrize("distribution", ["gaussian", "uniform"])
@pytest.mark.parametrize("gamma", [0.01, 1.0, 10.0])
@pytest.mark.parametrize("normalize", [True, False])
def test_monte_carlo_mean_is_linear_ntk(
    make_linear, sample_terms, gamma, distribution, sampler, normalize
):
    """The kernel is within 5 standard errors of ``(c / d) x . x'``, ``N = 2048``."""
    n_features = 3
    X = np.random.default_rng(6).standard_normal((6, n_features))
    kernel = NonlocalNTKKernel(
        make_linear(n_features),
        gamma=gamma,
        n_samples=2048,
        distribution=distribution,
        sampler=sampler,
        normalize=normalize,
        random_state=0,
    )
    scale = n_features if normalize else 1.0
    expected = (scale / n_features) * X @ X.T

    K = kernel.fit_transform(X)
    mean, std_error = sample_terms(kernel.features_fit_, sampler)

    np.testing.assert_allclose(K, mean, rtol=1e-12, atol=0)
    assert np.all(std_error > 0)
    np.testing.assert_array_less(np.abs(K - expected), N_STD_ERRORS * std_error)


def test_linear_kernel_gamma_invariant(make_linear):
    """Draws are scaled from unit width, and the linear term ignores the radius."""
    X = np.random.default_rng(7).standard_normal((5, 3))
    kernels = [
        NonlocalNTKKernel(
            make_linear(3), gamma=gamma, n_samples=64, random_state=0
        ).fit_transform(X)
        for gamma in (0.01, 1.0, 10.0)
    ]

    np.testing.assert_allclose(kernels[0], kernels[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kernels[2], kernels[1], rtol=1e-9, atol=1e-12)
