"""The Gaussian-process kernel adapter NNTKGPKernel."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import DotProduct
from sklearn.utils._param_validation import InvalidParameterError

from sknntk import NNTKGPKernel, NonlocalNTKKernel

SMALL = {"hidden_layer_sizes": (16,), "n_samples": 16, "random_state": 0}


def _linear_model(n_features=3):
    torch.manual_seed(0)
    return torch.nn.Linear(n_features, 1, bias=False).double()


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((12, 3))


def test_ntk_of_linear_model_is_dot_product(X):
    """The NTK of ``x -> w . x`` is ``x . x'``, scikit-learn's ``DotProduct(0)``."""
    X_other = X[:5] + 1.0
    kernel = NNTKGPKernel(_linear_model(), kernel="ntk")
    reference = DotProduct(sigma_0=0.0)

    np.testing.assert_allclose(kernel(X), reference(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        kernel(X, X_other), reference(X, X_other), rtol=0, atol=1e-12
    )


def test_call_matches_transformer(X):
    X_other = X[:4] * 2.0
    kernel = NNTKGPKernel(**SMALL)
    transformer = NonlocalNTKKernel(**SMALL).fit(X_other)

    np.testing.assert_array_equal(kernel(X, X_other), transformer.transform(X))


def test_call_shapes_and_symmetry(X):
    kernel = NNTKGPKernel(**SMALL)

    K = kernel(X)
    K_cross = kernel(X, X[:5])

    assert K.shape == (12, 12)
    assert K_cross.shape == (12, 5)
    np.testing.assert_allclose(K, K.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K_cross, K[:, :5], rtol=1e-10, atol=1e-12)


def test_diag_matches_call(X):
    kernel = NNTKGPKernel(**SMALL)

    np.testing.assert_allclose(kernel.diag(X), np.diag(kernel(X)), rtol=1e-12)


def test_eval_gradient_is_empty(X):
    kernel = NNTKGPKernel(**SMALL)

    K, gradient = kernel(X, eval_gradient=True)

    np.testing.assert_array_equal(K, kernel(X))
    assert gradient.shape == (12, 12, 0)


def test_eval_gradient_with_Y_raises(X):
    with pytest.raises(ValueError, match="Y is None"):
        NNTKGPKernel(**SMALL)(X, X[:3], eval_gradient=True)


def test_gaussian_process_std_grows_away_from_data():
    rng = np.random.default_rng(1)
    X_train = rng.uniform(-1.0, 1.0, size=(16, 1))
    y_train = np.sign(X_train).ravel()
    X_far = X_train[:4] + 8.0
    gp = GaussianProcessRegressor(kernel=NNTKGPKernel(**SMALL), alpha=1e-2)

    gp.fit(X_train, y_train)
    mean, std = gp.predict(np.vstack([X_train[:4], X_far]), return_std=True)

    assert np.all(np.isfinite(mean))
    assert np.all(np.isfinite(std))
    assert np.all(std >= 0.0)
    assert np.max(std[:4]) < np.min(std[4:])


def test_gaussian_process_mean_matches_kernel_ridge_formula():
    """The posterior mean is ``K(x, X) (K(X, X) + alpha I)^-1 y``."""
    rng = np.random.default_rng(2)
    X_train = rng.uniform(-1.0, 1.0, size=(10, 2))
    y_train = X_train[:, 0] * X_train[:, 1]
    X_test = rng.uniform(-1.0, 1.0, size=(4, 2))
    kernel = NNTKGPKernel(**SMALL)

    gp = GaussianProcessRegressor(kernel=kernel, alpha=0.1).fit(X_train, y_train)

    K = kernel(X_train)
    weights = np.linalg.solve(K + 0.1 * np.eye(10), y_train)
    np.testing.assert_allclose(
        gp.predict(X_test), kernel(X_test, X_train) @ weights, rtol=1e-8, atol=1e-10
    )


def test_hyperparameters_are_fixed():
    kernel = NNTKGPKernel(**SMALL)

    hyperparameters = {h.name: h for h in kernel.hyperparameters}

    assert set(hyperparameters) == {"gamma", "n_samples"}
    assert all(h.fixed for h in hyperparameters.values())
    assert kernel.n_dims == 0
    assert kernel.theta.shape == (0,)


def test_optimizer_leaves_parameters_alone():
    rng = np.random.default_rng(3)
    X_train = rng.uniform(-1.0, 1.0, size=(10, 1))
    kernel = NNTKGPKernel(gamma=0.3, **SMALL)

    gp = GaussianProcessRegressor(kernel=kernel, alpha=1e-2)
    gp.fit(X_train, np.sin(3 * X_train).ravel())

    assert gp.kernel_.gamma == 0.3
    assert gp.kernel_.n_samples == 16


def test_clone_keeps_parameters():
    model = _linear_model()
    kernel = NNTKGPKernel(model, kernel="ntk", gamma=0.2, n_samples=8)

    cloned = clone(kernel)

    params, cloned_params = kernel.get_params(), cloned.get_params()
    assert params.keys() == cloned_params.keys()
    for name, value in params.items():
        if name == "model":
            continue
        assert cloned_params[name] == value, name
    assert cloned_params["model"] is not model
    assert torch.equal(cloned_params["model"].weight, model.weight)


def test_set_params_changes_kernel(X):
    kernel = NNTKGPKernel(**SMALL)
    before = kernel(X)

    returned = kernel.set_params(gamma=0.5)

    assert returned is kernel
    assert kernel.get_params()["gamma"] == 0.5
    expected = NonlocalNTKKernel(**{**SMALL, "gamma": 0.5}).fit_transform(X)
    np.testing.assert_array_equal(kernel(X), expected)
    assert not np.allclose(kernel(X), before)


def test_set_params_through_gaussian_process():
    gp = GaussianProcessRegressor(kernel=NNTKGPKernel(**SMALL))

    gp.set_params(kernel__gamma=0.4, kernel__n_samples=8)

    assert gp.kernel.gamma == 0.4
    assert gp.kernel.n_samples == 8
    assert gp.get_params()["kernel__gamma"] == 0.4


def test_random_state_none_raises(X):
    kernel = NNTKGPKernel(hidden_layer_sizes=(16,), n_samples=16, random_state=None)

    with pytest.raises(ValueError, match="random_state must be an int"):
        kernel(X)


def test_median_temperature_raises(X):
    kernel = NNTKGPKernel(kernel="attention", attention_temperature="median", **SMALL)

    with pytest.raises(ValueError, match="Pass a float or None"):
        kernel(X)


def test_repr_names_kernel_settings():
    kernel = NNTKGPKernel(kernel="attention", gamma=0.2, n_samples=8)

    assert repr(kernel) == "NNTKGPKernel(kernel='attention', gamma=0.2, n_samples=8)"
    assert not kernel.is_stationary()
    assert kernel.requires_vector_input


def test_repr_of_defaults_is_empty():
    assert repr(NNTKGPKernel()) == "NNTKGPKernel()"
    assert repr(NNTKGPKernel(gamma=0.1, random_state=0)) == "NNTKGPKernel()"


def test_fitted_gp_repr_shows_changes():
    X_train = np.linspace(-1.0, 1.0, 8)[:, None]
    kernel = NNTKGPKernel(
        activation="sign",
        hidden_layer_sizes=(16,),
        n_samples=16,
        sampler="orthogonal",
        random_state=3,
    )

    gp = GaussianProcessRegressor(kernel=kernel).fit(X_train, X_train[:, 0])

    assert repr(gp.kernel_) == (
        "NNTKGPKernel(n_samples=16, sampler='orthogonal', "
        "hidden_layer_sizes=(16,), activation='sign', random_state=3)"
    )


def test_repr_shows_model_on_one_line():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh())

    text = repr(NNTKGPKernel(model, kernel="ntk"))

    assert "\n" not in text
    assert text == (
        "NNTKGPKernel(model=Sequential( (0): Linear(in_features=2, "
        "out_features=3, bias=True) (1): Tanh() ), kernel='ntk')"
    )


def test_auto_n_samples_raises(X):
    kernel = NNTKGPKernel(hidden_layer_sizes=(16,), n_samples="auto")

    with pytest.raises(ValueError, match="Pass an int") as raised:
        kernel(X)
    assert "the data the kernel is evaluated on" in str(raised.value)


@pytest.mark.parametrize(
    ("options", "name"),
    [({"gamma": -1.0}, "gamma"), ({"sampler": "sobol"}, "sampler")],
)
def test_invalid_parameter_error_names_gp_kernel(X, options, name):
    kernel = NNTKGPKernel(**{**SMALL, **options})

    with pytest.raises(InvalidParameterError) as raised:
        kernel(X)
    message = str(raised.value)
    assert message.startswith(f"The '{name}' parameter of NNTKGPKernel must be")
    assert "NonlocalNTKKernel" not in message
