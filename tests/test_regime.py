"""Tests of the kernel-regime predictions of gradient flow."""

import numpy as np
import pytest
import scipy.linalg
import torch

from sknntk import NonlocalNTKKernel
from sknntk._regime import gradient_flow_predict, gradient_flow_train
from sknntk.models import MLP


def _feature_kernel(n_train=6, n_test=4, n_features=8, seed=0):
    """Return K_train, K_test from random features, with ``n_features`` columns.

    With ``n_features < n_train`` the training Gram matrix has rank
    ``n_features``, and the test rows lie in the span of the features.
    """
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_train, n_features)) / np.sqrt(n_features)
    features_test = rng.standard_normal((n_test, n_features)) / np.sqrt(n_features)
    return features @ features.T, features_test @ features.T


def _exact_flow(K_train, K_test, y, f0_train, f0_test, t, learning_rate):
    """Solve the flow with a matrix exponential of the joint linear system.

    ``z = (f(X) - y, f(X_test))`` obeys ``dz/dt = A z`` with
    ``A = [[-eta K, 0], [-eta K_test, 0]]``, which needs no inverse of K.
    """
    n_train, n_test = K_train.shape[0], K_test.shape[0]
    A = np.zeros((n_train + n_test, n_train + n_test))
    A[:n_train, :n_train] = -learning_rate * K_train
    A[n_train:, :n_train] = -learning_rate * K_test
    z = scipy.linalg.expm(A * t) @ np.concatenate([f0_train - y, f0_test])
    return z[:n_train] + y, z[n_train:]


def test_infinite_time_is_kernel_regression():
    K_train, K_test = _feature_kernel()
    rng = np.random.default_rng(1)
    y = rng.standard_normal((6, 2))
    f0_train = rng.standard_normal((6, 2))
    f0_test = rng.standard_normal((4, 2))

    predicted = gradient_flow_predict(
        K_train, K_test, y, f0_train, f0_test, np.inf, learning_rate=0.3
    )
    expected = f0_test + K_test @ np.linalg.solve(K_train, y - f0_train)
    np.testing.assert_allclose(predicted, expected, rtol=1e-9, atol=1e-10)

    trained = gradient_flow_train(K_train, y, f0_train, np.inf, learning_rate=0.3)
    np.testing.assert_allclose(trained, y, atol=1e-10)


def test_flow_matches_euler_integration():
    """Explicit Euler with dt = 1e-4 agrees to 1e-4 relative up to t = 1.

    Measured: 2.3e-5 of max |y - f_0(X)| on the training inputs and 9e-6 on
    the test inputs. Euler's own error is O(dt).
    """
    K_train, K_test = _feature_kernel()
    rng = np.random.default_rng(2)
    y = rng.standard_normal(6)
    f0_train = rng.standard_normal(6)
    f0_test = rng.standard_normal(4)
    learning_rate = 0.5
    times = np.array([0.0, 0.05, 0.5, 1.0])

    predicted_test = gradient_flow_predict(
        K_train, K_test, y, f0_train, f0_test, times, learning_rate
    )
    predicted_train = gradient_flow_train(K_train, y, f0_train, times, learning_rate)
    assert predicted_test.shape == (4, 4)
    assert predicted_train.shape == (4, 6)

    dt = 1e-4
    f, f_test = f0_train.copy(), f0_test.copy()
    euler_train, euler_test = [f.copy()], [f_test.copy()]
    for step in range(1, int(round(times[-1] / dt)) + 1):
        velocity = -learning_rate * (f - y)
        f_test = f_test + dt * K_test @ velocity
        f = f + dt * K_train @ velocity
        if np.any(np.isclose(step * dt, times[1:])):
            euler_train.append(f.copy())
            euler_test.append(f_test.copy())

    scale = np.max(np.abs(y - f0_train))
    assert np.max(np.abs(predicted_train - euler_train)) < 1e-4 * scale
    assert np.max(np.abs(predicted_test - euler_test)) < 1e-4 * scale


@pytest.mark.parametrize("rank", [6, 3])
def test_flow_matches_matrix_exponential(rank):
    """Finite times agree with expm of the joint system, also for singular K."""
    K_train, K_test = _feature_kernel(n_features=rank)
    rng = np.random.default_rng(3)
    y = rng.standard_normal(6)
    f0_train = rng.standard_normal(6)
    f0_test = rng.standard_normal(4)
    times = np.array([0.0, 0.3, 4.0, 50.0])

    predicted_test = gradient_flow_predict(
        K_train, K_test, y, f0_train, f0_test, times, learning_rate=0.7
    )
    predicted_train = gradient_flow_train(K_train, y, f0_train, times, 0.7)
    for row, t in enumerate(times):
        train, test = _exact_flow(K_train, K_test, y, f0_train, f0_test, t, 0.7)
        np.testing.assert_allclose(predicted_train[row], train, atol=1e-10)
        np.testing.assert_allclose(predicted_test[row], test, atol=1e-9)


def test_singular_kernel_infinite_time_uses_pseudo_inverse():
    K_train, K_test = _feature_kernel(n_features=3)
    rng = np.random.default_rng(4)
    y = rng.standard_normal(6)
    f0_train = rng.standard_normal(6)
    f0_test = rng.standard_normal(4)

    predicted = gradient_flow_predict(
        K_train, K_test, y, f0_train, f0_test, np.inf, learning_rate=1.0
    )
    expected = f0_test + K_test @ np.linalg.pinv(K_train, rcond=1e-10) @ (y - f0_train)
    assert np.all(np.isfinite(predicted))
    np.testing.assert_allclose(predicted, expected, atol=1e-9)

    # In the null space of K the training outputs keep their initial values.
    trained = gradient_flow_train(K_train, y, f0_train, np.inf)
    projector = K_train @ np.linalg.pinv(K_train, rcond=1e-10)
    np.testing.assert_allclose(
        trained, f0_train + projector @ (y - f0_train), atol=1e-9
    )


def test_zero_kernel_keeps_initial_outputs():
    y = np.ones(3)
    f0 = np.array([0.5, -0.5, 0.0])
    outputs = gradient_flow_predict(
        np.zeros((3, 3)), np.zeros((2, 3)), y, f0, np.zeros(2), [0.0, 1.0, np.inf]
    )
    np.testing.assert_array_equal(outputs, np.zeros((3, 2)))
    trained = gradient_flow_train(np.zeros((3, 3)), y, f0, [1.0, np.inf])
    np.testing.assert_array_equal(trained, np.stack([f0, f0]))


def test_time_zero_returns_initial_outputs_and_shapes():
    K_train, K_test = _feature_kernel()
    y = np.arange(6.0)
    f0_train = np.full(6, 0.25)
    f0_test = np.full(4, -1.0)

    at_zero = gradient_flow_predict(K_train, K_test, y, f0_train, f0_test, 0.0)
    assert at_zero.shape == (4,)
    np.testing.assert_array_equal(at_zero, f0_test)

    default_f0 = gradient_flow_predict(K_train, K_test, y, None, None, [1.0, 2.0])
    explicit = gradient_flow_predict(
        K_train, K_test, y, np.zeros(6), np.zeros(4), [1.0, 2.0]
    )
    assert default_f0.shape == (2, 4)
    np.testing.assert_array_equal(default_f0, explicit)

    two_targets = gradient_flow_predict(
        K_train, K_test, np.stack([y, -y], axis=1), None, None, [1.0, 2.0, 3.0]
    )
    assert two_targets.shape == (3, 4, 2)
    np.testing.assert_allclose(two_targets[..., 0], -two_targets[..., 1])


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"times": -1.0}, "times must be >= 0"),
        ({"times": [0.0, np.nan]}, "times must be >= 0"),
        ({"times": [[1.0]]}, "1-D array"),
        ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0"),
        ({"K_test": np.zeros((4, 5))}, "K_test must have shape"),
        ({"y": np.zeros(5)}, "y must have shape"),
        ({"f0_train": np.zeros(5)}, "f0_train must have shape"),
        ({"f0_test": np.zeros(3)}, "f0_test must have shape"),
        ({"K_train": np.zeros((6, 5))}, "square matrix"),
        ({"K_train": np.full((6, 6), np.nan)}, "NaN or infinite"),
        ({"rcond": 2.0}, r"rcond must be a number in \[0, 1\)"),
    ],
)
def test_gradient_flow_predict_validates(arguments, match):
    K_train, K_test = _feature_kernel()
    values = {
        "K_train": K_train,
        "K_test": K_test,
        "y": np.zeros(6),
        "f0_train": np.zeros(6),
        "f0_test": np.zeros(4),
        "times": 1.0,
        "learning_rate": 1.0,
    }
    values.update(arguments)
    with pytest.raises(ValueError, match=match):
        gradient_flow_predict(**values)


def test_infinite_time_rejects_indefinite_kernel():
    K = np.diag([1.0, -1.0])
    with pytest.raises(ValueError, match="positive semidefinite"):
        gradient_flow_train(K, np.ones(2), None, np.inf)
    # Finite times are defined for any symmetric K.
    finite = gradient_flow_train(K, np.ones(2), None, 1.0)
    np.testing.assert_allclose(finite, [1 - np.exp(-1.0), 1 - np.exp(1.0)])


def test_wide_network_follows_kernel_regime():
    """A wide tanh network trained by SGD follows the NTK gradient-flow formula.

    MLP(1, (2048,), "tanh", parameterization="ntk") in float64 (d = 6145),
    12 training points on [-2, 2] with y = sin(2x), 25 test points on
    [-2.3, 2.3], loss 0.5 * sum (f - y)**2, torch.optim.SGD with lr = 0.005,
    50 steps. The largest NTK eigenvalue is about 9.9, so lr * lambda_max is
    about 0.05, and the largest change of a training output is 51 % of
    max |y - f_0(X)|.

    Measured, as a fraction of max |y - f_0(X)|, the maximum over the 50
    steps and all points of |network - prediction|:

    - continuous time, t = number of steps: 5.7e-3 (train), 6.0e-3 (test).
      This is mostly the O(lr) gap between gradient descent and gradient
      flow: (1 - lr lambda)^s against exp(-lr lambda s).
    - the same kernel with discrete time, (1 - lr lambda)^s: 2.2e-4 (train),
      3.1e-4 (test), the finite-width error of the kernel regime.
    """
    X = np.linspace(-2.0, 2.0, 12)[:, None]
    y = np.sin(2.0 * X[:, 0])
    X_test = np.linspace(-2.3, 2.3, 25)[:, None]
    net = MLP(1, (2048,), "tanh", parameterization="ntk", random_state=0)

    kernel = NonlocalNTKKernel(model=net, kernel="ntk").fit(X)
    K_train = kernel.transform(X)
    K_test = kernel.transform(X_test)
    X_t, X_test_t = torch.from_numpy(X), torch.from_numpy(X_test)
    y_t = torch.from_numpy(y)[:, None]
    with torch.no_grad():
        f0_train = net(X_t)[:, 0].numpy()
        f0_test = net(X_test_t)[:, 0].numpy()

    learning_rate, n_steps = 0.005, 50
    sgd = torch.optim.SGD(net.parameters(), lr=learning_rate)
    outputs_train, outputs_test = [], []
    for _ in range(n_steps):
        sgd.zero_grad()
        (0.5 * torch.sum((net(X_t) - y_t) ** 2)).backward()
        sgd.step()
        with torch.no_grad():
            outputs_train.append(net(X_t)[:, 0].numpy())
            outputs_test.append(net(X_test_t)[:, 0].numpy())
    outputs_train = np.array(outputs_train)
    outputs_test = np.array(outputs_test)

    steps = np.arange(1, n_steps + 1)
    flow_train = gradient_flow_train(K_train, y, f0_train, steps, learning_rate)
    flow_test = gradient_flow_predict(
        K_train, K_test, y, f0_train, f0_test, steps, learning_rate
    )

    scale = np.max(np.abs(y - f0_train))
    assert np.max(np.abs(outputs_train[-1] - f0_train)) > 0.2 * scale
    assert np.max(np.abs(outputs_train - flow_train)) < 1e-2 * scale
    assert np.max(np.abs(outputs_test - flow_test)) < 1e-2 * scale

    # Discrete time isolates the finite-width error from the time step.
    eigenvalues, vectors = np.linalg.eigh(K_train)
    decay = -np.expm1(steps[:, None] * np.log1p(-learning_rate * eigenvalues))
    projected = vectors.T @ (y - f0_train)
    discrete_train = f0_train + (decay * projected) @ vectors.T
    discrete_test = f0_test + ((decay / eigenvalues) * projected) @ (K_test @ vectors).T
    assert np.max(np.abs(outputs_train - discrete_train)) < 1e-3 * scale
    assert np.max(np.abs(outputs_test - discrete_test)) < 1e-3 * scale
