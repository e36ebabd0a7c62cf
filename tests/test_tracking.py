"""Tests of the kernel tracker and the tracked training loop."""

import copy
import doctest
import warnings

import numpy as np
import pytest
import torch

from sknntk import NonlocalNTKKernel
from sknntk._optim import NonlocalGD
from sknntk._tracking import KernelTracker, train_and_track
from sknntk.datasets import make_nonsmooth
from sknntk.diagnostics import alignment, spectrum
from sknntk.models import MLP


@pytest.fixture
def sign_data():
    return make_nonsmooth("sign", 24, random_state=0)


def _tanh_net():
    return MLP(1, (8,), activation="tanh", random_state=0)


def test_tracker_records_listed_steps_only(sign_data):
    X, y = sign_data
    tracker = KernelTracker(X, y, steps=[0, 3, 5], n_samples=16)
    model = _tanh_net()
    for step in range(7):
        tracker(model, step)

    recorded = [(r["step"], r["kernel"]) for r in tracker.history_]
    assert recorded == [
        (0, "ntk"),
        (0, "nonlocal"),
        (3, "ntk"),
        (3, "nonlocal"),
        (5, "ntk"),
        (5, "nonlocal"),
    ]


def test_tracker_records_every_k_steps(sign_data):
    X, y = sign_data
    tracker = KernelTracker(X, y, kernels="ntk", steps=2)
    model = _tanh_net()
    for step in range(7):
        tracker(model, step)
    np.testing.assert_array_equal(tracker.to_arrays()["ntk"]["step"], [0, 2, 4, 6])

    every = KernelTracker(X, y, kernels="ntk")
    for step in range(3):
        every(model, step)
    np.testing.assert_array_equal(every.to_arrays()["ntk"]["step"], [0, 1, 2])


def test_tracker_matches_direct_kernel(sign_data):
    """The records equal the diagnostics of the kernel computed directly."""
    X, y = sign_data
    model = MLP(1, (8,), activation="sign", random_state=1)
    tracker = KernelTracker(
        X, y, kernels=("ntk", "nonlocal"), gamma=0.2, n_samples=32, random_state=5
    )
    tracker(model, 0)

    for record in tracker.history_:
        gram = NonlocalNTKKernel(
            model=model,
            kernel=record["kernel"],
            gamma=0.2,
            n_samples=32,
            random_state=5,
        ).fit_transform(X)
        np.testing.assert_allclose(record["spectrum"], spectrum(gram), rtol=1e-10)
        assert record["alignment"] == pytest.approx(alignment(gram, y), rel=1e-10)
        assert record["trace"] == pytest.approx(np.trace(gram), rel=1e-10)


def test_tracker_alignment_in_range_and_spectrum_sorted(sign_data):
    X, y = sign_data
    for centered in (False, True):
        tracker = KernelTracker(
            X,
            y,
            kernels=("ntk", "nonlocal", "attention"),
            n_samples=16,
            centered=centered,
        )
        tracker(MLP(1, (8,), activation="sign", random_state=0), 0)
        for record in tracker.history_:
            assert -1.0 <= record["alignment"] <= 1.0
            assert np.all(np.diff(record["spectrum"]) <= 0)
            assert 1.0 <= record["effective_rank"] <= X.shape[0]


def test_tracker_unchanged_model_repeats_first_record(sign_data):
    """For a model that does not change, every record equals the first one."""
    X, y = sign_data
    tracker = KernelTracker(X, y, n_samples=16)
    model = _tanh_net()
    for step in range(3):
        tracker(model, step)

    arrays = tracker.to_arrays()
    for name in ("ntk", "nonlocal"):
        data = arrays[name]
        for row in range(1, 3):
            np.testing.assert_allclose(
                data["spectrum"][row], data["spectrum"][0], rtol=1e-12
            )
            assert data["alignment"][row] == pytest.approx(data["alignment"][0])
        np.testing.assert_allclose(data["distance"], 0.0, atol=1e-12)


def test_nonlocal_training_changes_nonlocal_alignment():
    """Training a sign network with NonlocalGD raises the nonlocal alignment.

    1 -> 16 -> 1 sign network, 32 points of the sign target, 50 steps of
    NonlocalGD (lr = 0.03, gamma = 0.3, N = 32). Measured: the alignment of
    the nonlocal kernel (gamma = 0.3, N = 64) goes from 0.596 to 0.705, the
    kernel distance from the first Gram matrix reaches 0.13 and the training
    MSE falls from 0.549 to 0.043. Over optimizer seeds 0 to 4 and kernel
    seeds 0 and 1 the rise was between 0.05 and 0.21.
    """
    X, y = make_nonsmooth("sign", 32, random_state=0)
    net = MLP(1, (16,), activation="sign", random_state=0)
    tracker = KernelTracker(
        X, y, kernels="nonlocal", steps=[0, 50], gamma=0.3, n_samples=64
    )
    optimizer = NonlocalGD(
        net.parameters(), lr=0.03, gamma=0.3, n_samples=32, generator=0
    )
    losses = train_and_track(net, X, y, optimizer, 50, tracker)

    data = tracker.to_arrays()["nonlocal"]
    np.testing.assert_array_equal(data["step"], [0, 50])
    assert data["alignment"][1] - data["alignment"][0] > 0.02
    assert data["distance"][1] > 0.05
    assert losses[-1] < 0.5 * losses[0]


def test_train_and_track_matches_manual_sgd_loop():
    """With a torch optimizer the loop equals a hand-written SGD loop."""
    X = np.linspace(-1.0, 1.0, 10)[:, None]
    y = np.sin(3.0 * X[:, 0])
    net = _tanh_net()
    losses = train_and_track(
        net, X, y, torch.optim.SGD(net.parameters(), lr=0.1), n_steps=5
    )

    manual = _tanh_net()
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(y)[:, None]
    sgd = torch.optim.SGD(manual.parameters(), lr=0.1)
    expected = []
    for _ in range(5):
        sgd.zero_grad()
        loss = torch.nn.functional.mse_loss(manual(X_t), y_t)
        loss.backward()
        sgd.step()
        expected.append(float(loss.detach()))
    with torch.no_grad():
        expected.append(float(torch.nn.functional.mse_loss(manual(X_t), y_t)))

    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    for p, q in zip(net.parameters(), manual.parameters()):
        assert torch.equal(p, q)


def test_train_and_track_calls_tracker_each_step():
    calls = []
    X = np.zeros((4, 1))
    y = np.zeros(4)
    net = _tanh_net()
    optimizer = NonlocalGD(net.parameters(), n_samples=2, generator=0)
    losses = train_and_track(
        net, X, y, optimizer, 3, lambda model, step: calls.append(step)
    )
    assert calls == [0, 1, 2, 3]
    assert losses.shape == (4,)


def test_train_and_track_custom_loss():
    X = np.linspace(-1.0, 1.0, 6)[:, None]
    y = np.ones(6)
    net = _tanh_net()

    def sum_of_squares(output, target):
        return 0.5 * torch.sum((output - target) ** 2)

    losses = train_and_track(
        net, X, y, torch.optim.SGD(net.parameters(), lr=0.0), 0, loss=sum_of_squares
    )
    with torch.no_grad():
        output = net(torch.from_numpy(X))[:, 0].numpy()
    assert losses[0] == pytest.approx(0.5 * np.sum((output - y) ** 2))


def test_tracker_to_arrays_and_plot(sign_data):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = sign_data
    tracker = KernelTracker(X, y, n_samples=8)
    model = _tanh_net()
    tracker(model, 0)
    tracker(model, 1)
    arrays = tracker.to_arrays()
    assert set(arrays) == {"ntk", "nonlocal"}
    assert arrays["ntk"]["spectrum"].shape == (2, X.shape[0])
    assert arrays["nonlocal"]["alignment"].shape == (2,)

    axes = tracker.plot()
    assert len(axes) == 2
    assert len(axes[0].lines) == 2
    plt.close("all")


def test_tracker_plot_before_recording_raises(sign_data):
    X, y = sign_data
    with pytest.raises(ValueError, match="recorded nothing"):
        KernelTracker(X, y).plot()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"kernels": ("ntk", "rbf")}, ValueError, "kernels must name"),
        ({"kernels": ()}, ValueError, "kernels must name"),
        ({"kernels": ("ntk", "ntk")}, ValueError, "twice"),
        ({"steps": 0}, ValueError, "steps as an int must be >= 1"),
        ({"steps": 2.5}, TypeError, "steps must be None"),
        ({"steps": [1, -2]}, ValueError, "step must be an int >= 0"),
        ({"kernel_params": {"gamma": 1.0}}, ValueError, "may not set 'gamma'"),
        ({"kernel_params": {"kernel": "ntk"}}, ValueError, r"Pass kernels to"),
        ({"kernel_params": {"model": None}}, ValueError, r"tracker\(model, step\)"),
    ],
)
def test_tracker_validates_options(sign_data, options, error, match):
    X, y = sign_data
    with pytest.raises(error, match=match):
        KernelTracker(X, y, **options)


def test_tracker_validates_shapes():
    with pytest.raises(ValueError, match="X must have shape"):
        KernelTracker(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="y must have shape"):
        KernelTracker(np.zeros((5, 1)), np.zeros(4))


def test_tracker_repeated_step_is_noop(sign_data):
    X, y = sign_data
    tracker = KernelTracker(X, y, kernels="ntk")
    model = _tanh_net()
    tracker(model, 0)
    tracker(model, 1)
    with torch.no_grad():
        model.layers[0].weight.mul_(2.0)
    tracker(model, 1)

    np.testing.assert_array_equal(tracker.to_arrays()["ntk"]["step"], [0, 1])
    assert tracker.history_[1]["distance"] == 0.0


def test_tracker_rejects_decreasing_step(sign_data):
    X, y = sign_data
    tracker = KernelTracker(X, y, kernels="ntk", steps=[0, 5])
    model = _tanh_net()
    for step in range(7):
        tracker(model, step)

    with pytest.raises(ValueError, match="step 4 is smaller than the last recorded"):
        tracker(model, 4)
    with pytest.raises(ValueError, match="step 0 is smaller than the last recorded"):
        tracker(model, 0)
    np.testing.assert_array_equal(tracker.to_arrays()["ntk"]["step"], [0, 5])


def test_tracker_repeated_step_fills_missing_kernel(sign_data, monkeypatch):
    """A call that failed part way records the missing kernels when repeated."""
    X, y = sign_data
    tracker = KernelTracker(X, y, n_samples=8)
    model = _tanh_net()
    gram = tracker.gram

    def failing_gram(model, kernel):
        if kernel == "nonlocal":
            raise RuntimeError("out of memory")
        return gram(model, kernel)

    monkeypatch.setattr(tracker, "gram", failing_gram)
    with pytest.raises(RuntimeError, match="out of memory"):
        tracker(model, 0)
    monkeypatch.setattr(tracker, "gram", gram)
    tracker(model, 0)

    recorded = [(r["step"], r["kernel"]) for r in tracker.history_]
    assert recorded == [(0, "ntk"), (0, "nonlocal")]


def _two_output_net():
    return MLP(1, (8,), activation="tanh", n_outputs=2, random_state=0)


def test_train_and_track_rejects_shape_mismatch():
    X = np.linspace(-1.0, 1.0, 6)[:, None]
    net = _two_output_net()
    before = [p.detach().clone() for p in net.parameters()]
    calls = []

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"output has shape \(6, 2\).*\(6,\)"):
            train_and_track(
                net,
                X,
                np.zeros(6),
                torch.optim.SGD(net.parameters(), lr=0.1),
                3,
                lambda model, step: calls.append(step),
            )
    assert calls == []
    for saved, p in zip(before, net.parameters()):
        assert torch.equal(saved, p)


def test_train_and_track_shape_check_keeps_modes():
    """The shape check leaves batch statistics and every module's mode alone.

    With no step, the only training-mode forward pass is the one for the final
    loss, so the running mean must equal that of one forward pass.
    """
    X = np.linspace(-1.0, 1.0, 6)[:, None]
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 4),
        torch.nn.BatchNorm1d(4),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(4, 1),
    ).double()
    net[2].eval()
    reference = copy.deepcopy(net)
    with torch.no_grad():
        reference(torch.from_numpy(X))

    train_and_track(net, X, np.ones(6), torch.optim.SGD(net.parameters(), lr=0.0), 0)

    assert net.training
    assert net[1].training
    assert not net[2].training
    assert torch.equal(net[1].running_mean, reference[1].running_mean)
    assert int(net[1].num_batches_tracked) == 1


def test_train_and_track_two_outputs_matches_mse():
    X = np.linspace(-1.0, 1.0, 6)[:, None]
    y = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 0])])
    net = _two_output_net()

    losses = train_and_track(net, X, y, torch.optim.SGD(net.parameters(), lr=0.0), 0)

    with torch.no_grad():
        output = net(torch.from_numpy(X)).numpy()
    assert losses[0] == pytest.approx(np.mean((output - y) ** 2), rel=1e-12)


@pytest.mark.parametrize("function", [KernelTracker, train_and_track])
def test_examples_are_self_contained(function):
    """The docstring examples import every name they use, so they run when pasted."""
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(function, function.__name__, globs={})
    result = doctest.DocTestRunner().run(test, out=lambda text: None)
    assert result.failed == 0
