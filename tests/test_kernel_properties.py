"""Structural properties of the kernels: symmetry, PSD, reproducibility.

Also checks that fitting never changes the wrapped module.
"""

import warnings

import joblib
import numpy as np
import pytest
import torch

from sknntk import NNTKClassifier, NNTKRegressor, NonlocalNTKKernel
from sknntk.exceptions import TrainingModeWarning, VmapFallbackWarning

KERNEL_CONFIGS = {
    "ntk": dict(kernel="ntk"),
    "nonlocal": dict(kernel="nonlocal", n_samples=64),
    "attention": dict(kernel="attention", n_samples=64),
    "gradient": dict(kernel="nonlocal", form="gradient", n_samples=64),
}
MONTE_CARLO_CONFIGS = ["nonlocal", "attention", "gradient"]


def _make_kernel(model, name, **params):
    return NonlocalNTKKernel(
        model, random_state=0, **{**KERNEL_CONFIGS[name], **params}
    )


@pytest.mark.parametrize("name", sorted(KERNEL_CONFIGS))
def test_gram_symmetric_psd(make_tanh_mlp, X_small, name):
    K = _make_kernel(make_tanh_mlp(2, 8), name).fit_transform(X_small)
    scale = np.abs(K).max()
    eigenvalues = np.linalg.eigvalsh(K)

    assert K.shape == (12, 12)
    assert scale > 0
    assert np.abs(K - K.T).max() <= 1e-12 * scale
    assert eigenvalues.min() >= -1e-10 * eigenvalues.max()


@pytest.mark.parametrize("name", sorted(KERNEL_CONFIGS))
def test_transform_equals_fit_transform(make_tanh_mlp, X_small, name):
    kernel = _make_kernel(make_tanh_mlp(2, 8), name)

    K_fit = kernel.fit_transform(X_small)
    K = kernel.transform(X_small)

    np.testing.assert_allclose(K, K_fit, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(KERNEL_CONFIGS))
def test_transform_new_rows_shape(make_tanh_mlp, X_small, name):
    X_new = np.random.default_rng(1).standard_normal((5, 2))
    kernel = _make_kernel(make_tanh_mlp(2, 8), name).fit(X_small)

    K_new = kernel.transform(X_new)

    assert K_new.shape == (5, 12)
    assert K_new.dtype == np.float64


@pytest.mark.parametrize("name", sorted(KERNEL_CONFIGS))
def test_features_reproduce_kernel(make_tanh_mlp, X_small, name):
    """``Phi(X_new) Phi(X)^T`` equals ``K(X_new, X)``.

    ``Phi`` has ``N * m`` columns for the Monte Carlo kernels and ``m * d``
    Jacobian entries for the exact NTK (``m = 1``, ``d = 33``, ``N = 64``).
    """
    X_new = np.random.default_rng(1).standard_normal((5, 2))
    model = make_tanh_mlp(2, 8)
    kernel = _make_kernel(model, name).fit(X_small)
    features = _make_kernel(model, name, output="features")

    Phi = features.fit_transform(X_small)
    Phi_new = features.transform(X_new)
    width = 33 if name == "ntk" else 64

    assert Phi.shape == (12, width)
    assert Phi_new.shape == (5, width)
    np.testing.assert_allclose(
        Phi_new @ Phi.T, kernel.transform(X_new), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("backend", ["threading", "loky"])
@pytest.mark.parametrize("name", MONTE_CARLO_CONFIGS)
def test_kernel_same_for_any_n_jobs(make_tanh_mlp, X_small, backend, name):
    """Eight chunks of eight perturbations, run by one or two workers."""
    model = make_tanh_mlp(2, 8)
    kernels = []
    for n_jobs in (1, 2):
        kernel = _make_kernel(model, name, sample_chunk_size=8, n_jobs=n_jobs)
        with joblib.parallel_config(backend=backend):
            kernels.append(kernel.fit_transform(X_small))

    assert kernels[0].dtype == np.float64
    assert np.array_equal(kernels[0], kernels[1])


@pytest.mark.parametrize("name", MONTE_CARLO_CONFIGS)
def test_random_state_changes_kernel(make_tanh_mlp, X_small, name):
    model = make_tanh_mlp(2, 8)
    params = KERNEL_CONFIGS[name]

    K0 = NonlocalNTKKernel(model, random_state=0, **params).fit_transform(X_small)
    K1 = NonlocalNTKKernel(model, random_state=1, **params).fit_transform(X_small)
    K0_again = NonlocalNTKKernel(model, random_state=0, **params).fit_transform(X_small)

    assert np.array_equal(K0, K0_again)
    assert not np.allclose(K0, K1, rtol=1e-3, atol=0)


def test_attention_flat_weights_is_expectation(make_tanh_mlp, X_small):
    """A huge temperature makes ``w_k(x) = 1 / N``, the expectation form."""
    model = make_tanh_mlp(2, 8)
    attention = _make_kernel(model, "attention", attention_temperature=1e8)

    K = attention.fit_transform(X_small)
    expected = _make_kernel(model, "nonlocal").fit_transform(X_small)

    np.testing.assert_allclose(K, expected, rtol=1e-10, atol=1e-14)
    assert attention.effective_sample_size_ == pytest.approx(64, rel=1e-10)


@pytest.mark.parametrize("n_small", [24, 25])
@pytest.mark.parametrize("sampler", ["iid", "antithetic"])
def test_larger_n_extends_smaller(make_tanh_mlp, X_small, sampler, n_small):
    """The first columns agree once the ``sqrt(c / N)`` factor is removed."""
    model = make_tanh_mlp(2, 8)
    small, large = (
        NonlocalNTKKernel(model, n_samples=n, sampler=sampler, random_state=0).fit(
            X_small
        )
        for n in (n_small, 64)
    )

    first = large.features_fit_[:, :n_small] * np.sqrt(64)
    np.testing.assert_allclose(
        first, small.features_fit_ * np.sqrt(n_small), rtol=1e-12, atol=1e-15
    )
    assert small.seed_ == large.seed_


# ------------------------------------------------------- wrapped module unchanged


def _stateful_network(training):
    """A network with batch-norm statistics and dropout, in the given mode."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.Tanh(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(8, 1),
    ).double()
    # Move the running statistics away from their initial values.
    with torch.no_grad():
        for _ in range(3):
            module(torch.randn(16, 2, dtype=torch.float64))
    return module.train(training)


def _snapshot(module):
    return {
        "state": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "training": [m.training for m in module.modules()],
        "requires_grad": [p.requires_grad for p in module.parameters()],
        "dtype": [p.dtype for p in module.parameters()],
    }


def _assert_unchanged(module, before):
    after = _snapshot(module)
    assert after["state"].keys() == before["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["dtype"] == before["dtype"]


@pytest.mark.filterwarnings("ignore::sknntk.exceptions.TrainingModeWarning")
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", sorted(KERNEL_CONFIGS))
def test_module_unchanged_by_kernel(X_small, name, training):
    module = _stateful_network(training)
    before = _snapshot(module)

    kernel = _make_kernel(module, name, n_samples=16)
    kernel.fit(X_small)
    kernel.transform(X_small[:3])
    kernel.fit_transform(X_small)
    _make_kernel(module, name, n_samples=16, output="features").fit_transform(X_small)

    _assert_unchanged(module, before)
    assert kernel.model_ is not module
    assert not kernel.model_.training


@pytest.mark.parametrize("name", ["ntk", "nonlocal"])
def test_module_unchanged_by_estimators(X_small, name):
    module = _stateful_network(training=True)
    before = _snapshot(module)
    y = X_small[:, 0] - X_small[:, 1]
    params = dict(random_state=0, **KERNEL_CONFIGS[name])

    with pytest.warns(TrainingModeWarning):
        regressor = NNTKRegressor(module, **params).fit(X_small, y)
    regressor.predict(X_small[:4])
    with pytest.warns(TrainingModeWarning):
        classifier = NNTKClassifier(module, **params).fit(X_small, y > 0)
    classifier.predict(X_small[:4])

    _assert_unchanged(module, before)


def test_module_dtype_unchanged(make_tanh_mlp, X_small):
    """A float32 module stays float32 when the kernel runs in float64."""
    module = make_tanh_mlp(2, 8).float()
    before = _snapshot(module)

    kernel = NonlocalNTKKernel(module, n_samples=16, dtype="float64", random_state=0)
    kernel.fit_transform(X_small)

    _assert_unchanged(module, before)
    assert next(kernel.model_.parameters()).dtype == torch.float64


class NaNWhenPerturbed(torch.nn.Module):
    """A linear layer whose output is NaN at any parameters but the initial ones."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1).double()
        self.register_buffer("reference", self.linear.weight.detach().clone())

    def forward(self, x):
        output = self.linear(x)
        unchanged = torch.all(self.linear.weight == self.reference)
        return torch.where(unchanged, output, torch.full_like(output, float("nan")))


class CholeskyFailsWhenPerturbed(torch.nn.Module):
    """A linear layer scaled by the Cholesky factor of ``1 - 1e6 s**2``, at ``s = 0``.

    Any perturbation of ``s`` larger than ``1e-3`` makes torch raise a
    ``LinAlgError`` inside the perturbed forward pass.
    """

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1).double()
        self.shift = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x):
        matrix = (1.0 - 1e6 * self.shift**2).reshape(1, 1)
        return self.linear(x) * torch.linalg.cholesky(matrix)[0, 0]


@pytest.mark.parametrize("training", [True, False])
def test_module_unchanged_when_fit_raises(X_small, training):
    module = NaNWhenPerturbed().train(training)
    before = _snapshot(module)

    with pytest.raises(ValueError, match="not finite under perturbations"):
        NonlocalNTKKernel(module, n_samples=16, random_state=0).fit(X_small)
    with pytest.raises(ValueError, match="not finite under perturbations"):
        NNTKRegressor(module, n_samples=16, random_state=0).fit(X_small, X_small[:, 0])
    with pytest.raises(ValueError, match="features"):
        NonlocalNTKKernel(module, n_samples=16, random_state=0).fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="features"):
        NonlocalNTKKernel(module, kernel="ntk").fit(np.ones((4, 3)))

    _assert_unchanged(module, before)

    module = CholeskyFailsWhenPerturbed().train(training)
    before = _snapshot(module)

    with pytest.raises(torch.linalg.LinAlgError):
        NonlocalNTKKernel(module, n_samples=16, random_state=0).fit(X_small)
    with pytest.raises(torch.linalg.LinAlgError):
        NNTKClassifier(module, n_samples=16, random_state=0).fit(
            X_small, X_small[:, 0] > 0
        )

    _assert_unchanged(module, before)


class EqualityCheck(torch.nn.Module):
    """A linear layer that calls ``torch.equal``, which vmap cannot batch."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1).double()

    def forward(self, x):
        if not torch.equal(self.linear.bias, self.linear.bias):
            raise AssertionError("torch.equal of a tensor with itself failed")
        return self.linear(x)


def test_unbatchable_module_falls_back(X_small):
    """A module vmap rejects runs one perturbation at a time, with the same kernel."""
    module = EqualityCheck()
    linear = module.linear

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        K = NonlocalNTKKernel(module, n_samples=16, random_state=0).fit_transform(
            X_small
        )
    expected = NonlocalNTKKernel(linear, n_samples=16, random_state=0).fit_transform(
        X_small
    )

    assert any(issubclass(w.category, VmapFallbackWarning) for w in caught)
    np.testing.assert_allclose(K, expected, rtol=1e-12, atol=1e-14)
