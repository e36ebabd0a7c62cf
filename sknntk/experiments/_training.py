"""Kernel-target alignment for the sign target over training steps.

Two networks with the width of the other alignment networks learn the sign
target on the alignment grid by full-batch minimization of the mean squared
error. A :class:`~sknntk.KernelTracker` records the exact NTK and the
Gaussian nonlocal kernel of each network at fixed steps, always with the
same perturbations, so the changes come from the parameters:

- a tanh network, a smooth surrogate of the step network, trained with Adam
  on autograd gradients;
- a step (sign) network trained with :class:`~sknntk.NonlocalGD`, the Monte
  Carlo nonlocal gradient flow. Autograd gives its hidden units zero
  derivatives, so its exact NTK is the output layer's alone.
"""

import collections

import numpy as np
import torch

from sknntk import KernelTracker, NonlocalGD, train_and_track
from sknntk.datasets import make_grid
from sknntk.experiments._common import (
    DISPLAY_NAMES,
    build_network,
    describe_network,
    new_figure,
    save_figure,
)
from sknntk.experiments._settings import TRAINING_SURROGATE_ACTIVATION
from sknntk.plotting import plot_alignment_curves

TARGET = "sign"

# Kernels recorded during training: (result key, legend label).
TRACKED_KERNELS = (("ntk", "exact NTK"), ("nonlocal", "nonlocal"))


def _adam(network, settings):
    learning_rate = settings.training_adam_learning_rate
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    return optimizer, {"optimizer": "Adam", "learning_rate": learning_rate}


def _nonlocal_gd(network, settings):
    learning_rate = settings.training_nonlocal_learning_rate
    optimizer = NonlocalGD(
        network.parameters(),
        lr=learning_rate,
        gamma=settings.gamma,
        n_samples=settings.training_nonlocal_n_samples,
        generator=settings.seed,
    )
    description = {
        "optimizer": "NonlocalGD",
        "learning_rate": learning_rate,
        "gamma": settings.gamma,
        "n_samples": settings.training_nonlocal_n_samples,
    }
    return optimizer, description


# One training run: the result key, the hidden activation, the legend label,
# and a function (network, settings) -> (optimizer, description).
Training = collections.namedtuple(
    "Training", ["key", "activation", "label", "make_optimizer"]
)

TRAININGS = (
    Training("adam", TRAINING_SURROGATE_ACTIVATION, "tanh + Adam", _adam),
    Training("nonlocal_gd", "sign", "step + NonlocalGD", _nonlocal_gd),
)


def record_steps(settings):
    """Return the steps at which the kernels are recorded, from 0 to the last."""
    steps = list(range(0, settings.training_steps + 1, settings.training_record_every))
    if steps[-1] != settings.training_steps:
        steps.append(settings.training_steps)
    return steps


def train_and_record(training, X, y, settings):
    """Train one network on ``(X, y)`` and record its kernels at fixed steps.

    Returns
    -------
    dict
        The network's description, the optimizer's settings and ``"loss"``,
        the training loss after ``s`` steps at index ``s``
        (``training_steps + 1`` values). Under ``"kernels"``, each tracked
        kernel has lists with one entry per recorded step: ``"step"``,
        ``"alignment"`` with ``y``, ``"loss"``, ``"distance"`` from the Gram
        matrix at step 0 and ``"effective_rank"``.
    """
    network = build_network(training.activation, X.shape[1], settings)
    optimizer, description = training.make_optimizer(network, settings)
    tracker = KernelTracker(
        X,
        y,
        kernels=[kernel for kernel, _ in TRACKED_KERNELS],
        steps=record_steps(settings),
        gamma=settings.gamma,
        n_samples=settings.training_kernel_n_samples,
        random_state=settings.seed,
        kernel_params={"n_jobs": settings.n_jobs},
    )

    # Training runs thousands of forward passes on a few hundred rows; one
    # torch thread is faster for such small operations than several.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        losses = train_and_track(
            network, X, y, optimizer, settings.training_steps, tracker=tracker
        )
    finally:
        torch.set_num_threads(threads)

    result = {
        "network": describe_network(training.activation, X.shape[1], settings),
        **description,
        "n_steps": settings.training_steps,
        "loss": losses.tolist(),
        "kernels": {},
    }
    for kernel, history in tracker.to_arrays().items():
        result["kernels"][kernel] = {
            "step": history["step"].tolist(),
            "alignment": history["alignment"].tolist(),
            "loss": losses[history["step"]].tolist(),
            "distance": history["distance"].tolist(),
            "effective_rank": history["effective_rank"].tolist(),
        }
    return result


def run_alignment_training(settings, out_dir):
    """Train the networks of :data:`TRAININGS` and draw their alignment over steps.

    Returns
    -------
    result : dict
        The target, the grid size, the tracked kernels' ``gamma`` and ``N``,
        and under ``"trainings"`` the result of :func:`train_and_record` for
        each training.
    figures : list of dict
        The record of the one figure written.
    """
    X, y = make_grid(TARGET, settings.alignment_points, domain=settings.domain)
    result = {
        "target": TARGET,
        "grid_points": settings.alignment_points,
        "kernel_gamma": settings.gamma,
        "kernel_n_samples": settings.training_kernel_n_samples,
        "trainings": {
            training.key: train_and_record(training, X, y, settings)
            for training in TRAININGS
        },
    }

    figure, (alignment_ax, loss_ax) = new_figure(2)
    curves = {}
    for training in TRAININGS:
        kernels = result["trainings"][training.key]["kernels"]
        for kernel, label in TRACKED_KERNELS:
            curves[f"{training.label}, {label}"] = kernels[kernel]["alignment"]
    plot_alignment_curves(
        record_steps(settings),
        curves,
        ax=alignment_ax,
        title="alignment during training",
        xlabel="training step",
        xscale="linear",
    )
    # Four curves share the panel, so a smaller legend hides fewer points.
    alignment_ax.legend(fontsize="small")
    _plot_losses(loss_ax, result)
    figure.suptitle("Kernel-target alignment over training, sign target")

    surrogate = DISPLAY_NAMES[TRAINING_SURROGATE_ACTIVATION]
    caption = (
        f"Alignment of the exact NTK and of the Gaussian nonlocal kernel "
        f"(gamma = {settings.gamma}, N = {settings.training_kernel_n_samples}, "
        f"the same perturbations at every step) with the sign target on "
        f"{settings.alignment_points} grid points, every "
        f"{settings.training_record_every} steps while MLPs with "
        f"{settings.hidden_width} units fit that target (left), and their "
        f"mean squared training error (right): a {surrogate} network trained "
        f"with Adam (lr = {settings.training_adam_learning_rate}) and a step "
        f"network trained with NonlocalGD (lr = "
        f"{settings.training_nonlocal_learning_rate}, N = "
        f"{settings.training_nonlocal_n_samples} per step), whose exact NTK is "
        f"its output layer's alone."
    )
    record = save_figure(figure, out_dir, "alignment_training_sign.png", caption)
    return result, [record]


def _plot_losses(ax, result):
    for index, training in enumerate(TRAININGS):
        losses = np.asarray(result["trainings"][training.key]["loss"])
        ax.plot(
            np.arange(losses.size),
            losses,
            color=f"C{2 * index}",
            label=training.label,
        )
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean squared error")
    ax.set_title("training loss")
    ax.legend()
