"""Tests of the nonlocal gradient descent optimizer."""

import copy
import doctest

import numpy as np
import pytest
import torch

from sknntk._optim import NonlocalGD
from sknntk.datasets import make_nonsmooth
from sknntk.models import MLP


def _flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def _sign_problem(target):
    X, y = make_nonsmooth(target, 64, random_state=0)
    return torch.from_numpy(X), torch.from_numpy(y)[:, None]


def _sign_network_with_frozen_readout():
    """A 1 -> 16 -> 1 sign network whose output layer is fixed.

    Only the hidden layer (32 parameters) is trained, so any change in the loss
    comes from the hidden weights and biases, whose autograd gradient is zero.
    """
    net = MLP(1, (16,), activation="sign", random_state=0)
    net.layers[1].requires_grad_(False)
    return net


@pytest.mark.parametrize("target", ["sign", "square_wave", "sawtooth"])
def test_nonlocal_gd_trains_sign_network(target):
    """NonlocalGD trains the hidden layer of a sign network; SGD cannot.

    Budget: 64 points on [-2, 2], 200 steps, N = 32, lr = 0.03, gamma = 0.3,
    generator=0. Measured training MSE (torch 2.13, CPU):

    ============  =======  ================  =========
    target        initial  after NonlocalGD  reduction
    ============  =======  ================  =========
    sign          0.732    0.071             90 %
    square_wave   2.661    0.274             90 %
    sawtooth      1.319    0.095             93 %
    ============  =======  ================  =========

    SGD (lr = 0.03, 200 steps) leaves the loss and the hidden layer bitwise
    unchanged, because autograd returns a zero gradient through sign.
    """
    X, y = _sign_problem(target)

    net = _sign_network_with_frozen_readout()
    optimizer = NonlocalGD(
        net.layers[0].parameters(), lr=0.03, gamma=0.3, n_samples=32, generator=0
    )

    def closure():
        return torch.mean((net(X) - y) ** 2)

    with torch.no_grad():
        initial = float(closure())
    for _ in range(200):
        optimizer.step(closure)
    with torch.no_grad():
        final = float(closure())
    assert final <= 0.5 * initial

    baseline = _sign_network_with_frozen_readout()
    hidden = [p.detach().clone() for p in baseline.layers[0].parameters()]
    sgd = torch.optim.SGD(baseline.layers[0].parameters(), lr=0.03)
    for _ in range(200):
        sgd.zero_grad()
        loss = torch.mean((baseline(X) - y) ** 2)
        loss.backward()
        sgd.step()
    for before, after in zip(hidden, baseline.layers[0].parameters()):
        assert torch.equal(before, after)
    with torch.no_grad():
        assert float(torch.mean((baseline(X) - y) ** 2)) == initial


def test_sgd_leaves_sign_hidden_layer_unchanged():
    """Full-network SGD moves only the output layer of a sign network."""
    X, y = _sign_problem("sign")
    net = MLP(1, (16,), activation="sign", random_state=0)
    hidden = [p.detach().clone() for p in net.layers[0].parameters()]
    readout = net.layers[1].weight.detach().clone()

    sgd = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(20):
        sgd.zero_grad()
        torch.mean((net(X) - y) ** 2).backward()
        sgd.step()

    for before, after in zip(hidden, net.layers[0].parameters()):
        assert torch.equal(before, after)
    assert not torch.equal(readout, net.layers[1].weight)


def _tanh_problem():
    generator = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
    X = torch.randn(20, 1, generator=generator, dtype=torch.float64)
    y = torch.sin(3.0 * X)
    return net, X, y


@pytest.mark.parametrize(
    ("sampler", "n_samples", "min_cosine", "norm_tolerance"),
    [("antithetic", 4096, 0.99, 0.15), ("orthogonal", 13, 0.9999, 1e-3)],
)
def test_nonlocal_gd_step_follows_gradient(
    sampler, n_samples, min_cosine, norm_tolerance
):
    """On a smooth loss with small gamma the step is along the autograd gradient.

    tanh network 1 -> 4 -> 1 (d = 13), float64, MSE on 20 points,
    gamma = 1e-4, generator=0. Measured cosine similarity between the update
    and the gradient: 0.9964 with antithetic pairs at N = 4096 (the Monte
    Carlo error of the direction is of order sqrt(2 d / N) = 0.08), and
    1 - 4e-8 with one orthonormal block at N = d = 13. The ratio of the
    update's norm to the gradient's is 1.046 and 1.0002, near 1 because
    c = d.
    """
    net, X, y = _tanh_problem()
    loss = torch.mean((net(X) - y) ** 2)
    gradient = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(loss, list(net.parameters()))]
    )
    before = _flat(net)

    optimizer = NonlocalGD(
        net.parameters(),
        lr=1.0,
        gamma=1e-4,
        n_samples=n_samples,
        sampler=sampler,
        generator=0,
    )
    optimizer.step(lambda: torch.mean((net(X) - y) ** 2))
    update = before - _flat(net)

    cosine = float(update @ gradient / (update.norm() * gradient.norm()))
    assert cosine > min_cosine
    ratio = float(update.norm() / gradient.norm())
    assert ratio == pytest.approx(1.0, abs=norm_tolerance)
    assert optimizer.state["estimate_norm"] == pytest.approx(float(update.norm()))
    assert optimizer.state["loss"] == pytest.approx(float(loss.detach()))


def _linear_problem(n_params=6):
    """A loss linear in theta: L = a . theta, whose nonlocal gradient is a.

    With one orthonormal block (orthogonal sampler, N = d) the estimate
    ``d / N * sum_k (a . u_k) u_k`` equals ``a`` up to rounding, for every
    theta and gamma.
    """
    weight = torch.nn.Parameter(torch.zeros(n_params, dtype=torch.float64))
    a = torch.linspace(-1.0, 2.0, n_params, dtype=torch.float64)

    def closure():
        return a @ weight

    return weight, a, closure


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_nonlocal_gd_momentum_closed_form(momentum):
    """With a constant estimate a, theta_s = -lr a sum_j (1 - mu^j) / (1 - mu)."""
    weight, a, closure = _linear_problem()
    optimizer = NonlocalGD(
        [weight],
        lr=0.1,
        n_samples=6,
        sampler="orthogonal",
        momentum=momentum,
        generator=3,
    )
    for _ in range(5):
        optimizer.step(closure)

    factor = sum((1 - momentum**j) / (1 - momentum) for j in range(1, 6))
    np.testing.assert_allclose(weight.detach(), -0.1 * factor * a, atol=1e-12)
    assert optimizer.state["step"] == 5
    assert optimizer.state["estimate_norm"] == pytest.approx(float(a.norm()))


def test_nonlocal_gd_normalize_false_divides_by_d():
    weight, a, closure = _linear_problem()
    optimizer = NonlocalGD(
        [weight],
        lr=1.0,
        n_samples=6,
        sampler="orthogonal",
        normalize=False,
        generator=0,
    )
    optimizer.step(closure)
    np.testing.assert_allclose(weight.detach(), -a / 6, atol=1e-13)


def test_nonlocal_gd_param_groups_use_their_own_lr():
    first = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    second = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    a = torch.tensor([1.0, -1.0, 2.0, 0.5, -0.5], dtype=torch.float64)
    optimizer = NonlocalGD(
        [{"params": [first]}, {"params": [second], "lr": 0.5}],
        lr=0.1,
        n_samples=5,
        sampler="orthogonal",
        generator=0,
    )
    optimizer.step(lambda: a @ torch.cat([first, second]))
    np.testing.assert_allclose(first.detach(), -0.1 * a[:2], atol=1e-13)
    np.testing.assert_allclose(second.detach(), -0.5 * a[2:], atol=1e-13)


def test_nonlocal_gd_float32_parameters():
    weight = torch.nn.Parameter(torch.zeros(4, dtype=torch.float32))
    a = torch.tensor([1.0, 2.0, -1.0, 0.5])
    optimizer = NonlocalGD(
        [weight], lr=1.0, gamma=0.5, n_samples=4, sampler="orthogonal", generator=0
    )
    optimizer.step(lambda: a @ weight)
    assert weight.dtype == torch.float32
    np.testing.assert_allclose(weight.detach(), -a, atol=1e-5)


def test_nonlocal_gd_restores_parameters_when_closure_raises():
    net, X, y = _tanh_problem()
    before = [p.detach().clone() for p in net.parameters()]
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("failure in the third perturbed call")
        return torch.mean((net(X) - y) ** 2)

    optimizer = NonlocalGD(net.parameters(), n_samples=8, generator=0)
    with pytest.raises(RuntimeError, match="third perturbed call"):
        optimizer.step(closure)
    for saved, p in zip(before, net.parameters()):
        assert torch.equal(saved, p)
    assert optimizer.state["step"] == 0


def test_nonlocal_gd_rejects_non_finite_loss_and_restores():
    net, X, y = _tanh_problem()
    before = _flat(net).clone()
    calls = []

    def closure():
        calls.append(1)
        return torch.tensor(float("nan")) if len(calls) > 1 else torch.tensor(1.0)

    optimizer = NonlocalGD(net.parameters(), n_samples=2, generator=0)
    with pytest.raises(ValueError, match="non-finite loss"):
        optimizer.step(closure)
    assert torch.equal(before, _flat(net))


def test_nonlocal_gd_rejects_vector_loss():
    weight = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    optimizer = NonlocalGD([weight], n_samples=2, generator=0)
    with pytest.raises(ValueError, match="scalar loss"):
        optimizer.step(lambda: weight * 2)


def test_nonlocal_gd_requires_closure():
    weight = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="closure"):
        NonlocalGD([weight]).step()


def test_nonlocal_gd_returns_loss_before_step():
    weight, a, closure = _linear_problem()
    with torch.no_grad():
        weight.fill_(1.0)
    optimizer = NonlocalGD([weight], lr=0.1, n_samples=4, generator=0)
    loss = optimizer.step(closure)
    assert float(loss) == pytest.approx(float(a.sum()))
    assert optimizer.state["loss"] == pytest.approx(float(a.sum()))


def _run(generator, n_steps=3, start=None):
    net, X, y = _tanh_problem()
    optimizer = NonlocalGD(net.parameters(), lr=0.05, n_samples=8, generator=generator)
    if start is not None:
        optimizer.load_state_dict(start)
    for _ in range(n_steps):
        optimizer.step(lambda: torch.mean((net(X) - y) ** 2))
    return net, optimizer


def test_nonlocal_gd_is_reproducible():
    first, _ = _run(generator=7)
    second, _ = _run(generator=7)
    other, _ = _run(generator=8)
    assert torch.equal(_flat(first), _flat(second))
    assert not torch.equal(_flat(first), _flat(other))

    from_generator, _ = _run(generator=torch.Generator().manual_seed(1))
    again, _ = _run(generator=torch.Generator().manual_seed(1))
    assert torch.equal(_flat(from_generator), _flat(again))


def test_nonlocal_gd_state_dict_resumes_same_perturbations():
    reference, _ = _run(generator=7, n_steps=3)

    net, X, y = _tanh_problem()
    optimizer = NonlocalGD(net.parameters(), lr=0.05, n_samples=8, generator=7)
    optimizer.step(lambda: torch.mean((net(X) - y) ** 2))
    resumed = NonlocalGD(net.parameters(), lr=0.05, n_samples=8, generator=99)
    resumed.load_state_dict(optimizer.state_dict())
    for _ in range(2):
        resumed.step(lambda: torch.mean((net(X) - y) ** 2))

    assert torch.equal(_flat(reference), _flat(net))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"lr": -1.0}, ValueError, "lr must be a finite number >= 0"),
        ({"lr": float("nan")}, ValueError, "lr must be"),
        ({"lr": "0.1"}, TypeError, "lr must be a real number"),
        ({"gamma": 0.0}, ValueError, "gamma must be a finite number > 0"),
        ({"gamma": float("inf")}, ValueError, "gamma must be"),
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
        ({"sampler": "sobol"}, ValueError, "sampler must be one of"),
        ({"distribution": "cauchy"}, ValueError, "distribution must be one of"),
        ({"perturbation": "radial"}, ValueError, "perturbation must be one of"),
        ({"momentum": 1.0}, ValueError, r"momentum must be in \[0, 1\)"),
        ({"momentum": -0.1}, ValueError, "momentum must be"),
        ({"generator": "seed"}, TypeError, "generator must be None"),
        ({"generator": -1}, ValueError, "non-negative seed"),
        ({"normalize": "yes"}, TypeError, "normalize must be True or False"),
    ],
)
def test_nonlocal_gd_validates_options(options, error, match):
    weight = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(error, match=match):
        NonlocalGD([weight], **options)


def test_nonlocal_gd_rejects_qmc_beyond_sobol_limit():
    weight = torch.nn.Parameter(torch.zeros(30_000))
    with pytest.raises(ValueError, match="Sobol"):
        NonlocalGD([weight], sampler="qmc")


@pytest.mark.parametrize(
    ("sampler", "n_samples"), [("iid", 2000), ("qmc", 2000), ("orthogonal", 5)]
)
@pytest.mark.parametrize("distribution", ["gaussian", "uniform"])
def test_nonlocal_gd_samplers_follow_gradient(sampler, n_samples, distribution):
    """Every sampler and law gives a step close to the gradient on a smooth loss.

    Quadratic loss ||theta - 1||^2 / 2 in d = 5 with gamma = 1e-3, so the
    expectation of the estimate is the gradient ``theta - 1``. With N = 2000
    the relative error of iid and Sobol draws is about sqrt(d / N) = 0.05;
    one orthonormal block (N = d = 5) is exact up to O(gamma).
    """
    weight = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    optimizer = NonlocalGD(
        [weight],
        lr=1.0,
        gamma=1e-3,
        n_samples=n_samples,
        sampler=sampler,
        distribution=distribution,
        generator=0,
    )
    optimizer.step(lambda: 0.5 * torch.sum((weight - 1.0) ** 2))
    np.testing.assert_allclose(weight.detach(), np.ones(5), atol=0.15)


def test_nonlocal_gd_rejects_group_gamma():
    weight = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="gamma is shared by all groups"):
        NonlocalGD([{"params": [weight], "gamma": 0.5}])
    with pytest.raises(ValueError, match="momentum must be"):
        NonlocalGD([{"params": [weight], "momentum": 2.0}])


def _frozen_first_layer_problem():
    generator = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()
    net[0].requires_grad_(False)
    X = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    return net, X


def test_nonlocal_gd_skips_frozen_parameters():
    """Frozen parameters stay bitwise unchanged, as with torch.optim.SGD."""
    net, X = _frozen_first_layer_problem()
    frozen = [p.detach().clone() for p in net[0].parameters()]
    trained = _flat(net[2]).clone()
    seen = []

    def closure():
        seen.append(net[0].weight.detach().clone())
        return net(X).pow(2).mean()

    NonlocalGD(net.parameters(), lr=0.1, n_samples=4, generator=0).step(closure)

    for before, after in zip(frozen, net[0].parameters()):
        assert torch.equal(before, after)
    for weight in seen:
        assert torch.equal(weight, frozen[0])
    assert not torch.equal(trained, _flat(net[2]))


def test_nonlocal_gd_frozen_parameters_not_in_d():
    """The step equals the one taken over the trainable parameters alone.

    With c = d, counting the 12 frozen scalars would scale the step by
    (12 + 5) / 5, and drawing perturbations for them would change the
    directions of the trainable ones.
    """
    net, X = _frozen_first_layer_problem()
    reference = copy.deepcopy(net)

    NonlocalGD(net.parameters(), lr=0.1, n_samples=4, generator=0).step(
        lambda: net(X).pow(2).mean()
    )
    NonlocalGD(reference[2].parameters(), lr=0.1, n_samples=4, generator=0).step(
        lambda: reference(X).pow(2).mean()
    )

    assert torch.equal(_flat(net), _flat(reference))


def test_nonlocal_gd_all_frozen_evaluates_loss():
    net, X = _frozen_first_layer_problem()
    net.requires_grad_(False)
    before = _flat(net).clone()

    optimizer = NonlocalGD(net.parameters(), n_samples=4, generator=0)
    loss = optimizer.step(lambda: net(X).pow(2).mean())

    assert torch.equal(before, _flat(net))
    with torch.no_grad():
        assert float(loss) == float(net(X).pow(2).mean())
    assert optimizer.state["estimate_norm"] == 0.0
    assert optimizer.state["step"] == 1


def test_nonlocal_gd_zero_learning_rate_keeps_parameters():
    weight, a, closure = _linear_problem()
    optimizer = NonlocalGD(
        [weight], lr=0.0, n_samples=6, sampler="orthogonal", generator=0
    )
    optimizer.step(closure)

    assert torch.equal(weight.detach(), torch.zeros(6, dtype=torch.float64))
    assert optimizer.state["estimate_norm"] == pytest.approx(float(a.norm()))
    NonlocalGD([{"params": [weight], "lr": 0.0}], lr=0.1)


def test_nonlocal_gd_closure_calling_backward_raises():
    net, X, y = _tanh_problem()
    before = _flat(net).clone()
    optimizer = NonlocalGD(net.parameters(), n_samples=4, generator=0)

    def closure():
        optimizer.zero_grad()
        loss = torch.mean((net(X) - y) ** 2)
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="without calling backward") as raised:
        optimizer.step(closure)
    assert "does not require grad" in str(raised.value.__cause__)
    assert torch.equal(before, _flat(net))
    assert optimizer.state["step"] == 0


def test_nonlocal_gd_other_runtime_errors_pass_through():
    weight = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    optimizer = NonlocalGD([weight], n_samples=2, generator=0)

    def closure():
        raise RuntimeError("shape mismatch in the model")

    with pytest.raises(RuntimeError, match="^shape mismatch in the model$"):
        optimizer.step(closure)


def test_nonlocal_gd_example_is_self_contained():
    """The docstring example imports every name it uses, so it runs when pasted."""
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(NonlocalGD, "NonlocalGD", globs={})
    result = doctest.DocTestRunner().run(test, out=lambda text: None)
    assert result.failed == 0
