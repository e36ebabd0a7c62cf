"""Small models, data and Monte Carlo helpers shared by the kernel tests."""

import numpy as np
import pytest
import torch

import sknntk._cache


@pytest.fixture(autouse=True)
def no_difference_cache(monkeypatch):
    """Turn the cross-fit cache off, so that every test computes its kernels.

    Tests that compare two runs (n_jobs, backends, seeds) would otherwise
    compare a result with its cached copy. The cache has its own tests.
    """
    sknntk._cache.clear_cache()
    monkeypatch.setattr(sknntk._cache, "MAX_CACHE_BYTES", 0)


def _seeded_linear(in_features, out_features, bias, generator):
    layer = torch.nn.Linear(in_features, out_features, bias=bias).double()
    with torch.no_grad():
        layer.weight.copy_(
            torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64)
        )
        if bias:
            layer.bias.copy_(
                torch.randn(layer.bias.shape, generator=generator, dtype=torch.float64)
            )
    return layer


@pytest.fixture
def make_linear():
    """Return a factory of float64 ``Linear(p, 1, bias=False)`` with fixed weights.

    Its NTK is ``x . x'`` whatever the weights.
    """

    def factory(n_features, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return _seeded_linear(n_features, 1, False, generator)

    return factory


@pytest.fixture
def make_tanh_mlp():
    """Return a factory of float64 one-hidden-layer tanh networks with fixed weights.

    ``x -> w2 . tanh(W1 x + b1) + b2``, with standard normal weights, so
    ``d = (n_features + 2) * width + 1`` parameters.
    """

    def factory(n_features, width, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return torch.nn.Sequential(
            _seeded_linear(n_features, width, True, generator),
            torch.nn.Tanh(),
            _seeded_linear(width, 1, True, generator),
        )

    return factory


@pytest.fixture
def X_small():
    """Twelve rows of two standard normal features."""
    return np.random.default_rng(0).standard_normal((12, 2))


@pytest.fixture
def sample_terms():
    """Return a function giving the Monte Carlo mean and standard error per entry.

    For the expectation form with one output, the fitted feature map is
    ``Phi_k(x) = sqrt(c / N) delta_k(x) / ||Delta_k||``, so
    ``T_k(x, x') = N Phi_k(x) Phi_k(x')`` is the term of sample ``k`` and the
    kernel is the mean of the ``T_k``. Antithetic pairs ``+Delta, -Delta`` are
    dependent, so they are averaged first and the standard error uses the
    ``N / 2`` pair means, which are independent.
    """

    def terms(features, sampler):
        n_samples = features.shape[1]
        T = n_samples * features[:, None, :] * features[None, :, :]
        if sampler == "antithetic":
            T = 0.5 * (T[:, :, 0::2] + T[:, :, 1::2])
        mean = T.mean(axis=2)
        std_error = T.std(axis=2, ddof=1) / np.sqrt(T.shape[2])
        return mean, std_error

    return terms
