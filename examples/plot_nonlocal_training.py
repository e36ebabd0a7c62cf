r"""
Training a sign network with nonlocal gradient descent
======================================================

A network with the sign activation has a zero derivative with respect to
every hidden weight and bias, so autograd, and every optimizer built on it,
cannot train its hidden layer. :class:`~sknntk.NonlocalGD` replaces the
gradient by a Monte Carlo nonlocal gradient built from loss values at
randomly perturbed parameters,

.. math::

    \hat G_\gamma L(\theta) = \frac{d}{N} \sum_{k=1}^N
    \big(L(\theta + \Delta_k) - L(\theta)\big)
    \frac{\Delta_k}{\|\Delta_k\|^2},

which needs forward passes only. This example trains a one-hidden-layer
sign network on the sign target with both optimizers, then follows the
exact and the nonlocal tangent kernels of the network while it learns with
:class:`~sknntk.KernelTracker`.
"""

import os

import matplotlib.pyplot as plt
import torch

from sknntk import KernelTracker, NonlocalGD, train_and_track
from sknntk.datasets import make_grid, make_nonsmooth
from sknntk.models import MLP

QUICK = os.environ.get("SKNNTK_EXAMPLES_QUICK", "0") not in ("", "0")

# %%
# Settings
# --------
#
# ``SKNNTK_EXAMPLES_QUICK=1`` shrinks the data, the network and the number of
# steps. Every run starts from the same network (``random_state=0``) and the
# perturbations are seeded (``generator=0``), so the figures are reproducible.

if QUICK:
    n_points, width, n_steps, track_every = 32, 16, 120, 20
else:
    n_points, width, n_steps, track_every = 64, 32, 400, 40
learning_rate, gamma, n_samples = 0.03, 0.1, 32

X, y = make_nonsmooth("sign", n_points, random_state=0)
X_grid, y_grid = make_grid("sign", 200)
X_grid = X_grid.reshape(-1, 1)


def sign_network(train_readout=True):
    net = MLP(1, (width,), activation="sign", random_state=0)
    net.layers[-1].requires_grad_(train_readout)
    return net


def trainable(net):
    return [p for p in net.parameters() if p.requires_grad]


# %%
# NonlocalGD against SGD
# ----------------------
#
# Each optimizer trains the network twice: first with the output layer frozen,
# so that only the hidden weights and biases can lower the loss, then with
# all layers trainable. ``train_and_track`` runs full-batch training on the
# mean squared error. For ``NonlocalGD`` its closure returns the loss without
# calling ``backward``, and each step costs ``N + 1 = 33`` forward passes.

histories = {}
networks = {}
for train_readout in (False, True):
    for name in ("NonlocalGD", "SGD"):
        net = sign_network(train_readout)
        if name == "NonlocalGD":
            optimizer = NonlocalGD(
                trainable(net),
                lr=learning_rate,
                gamma=gamma,
                n_samples=n_samples,
                generator=0,
            )
        else:
            optimizer = torch.optim.SGD(trainable(net), lr=learning_rate)
        histories[name, train_readout] = train_and_track(net, X, y, optimizer, n_steps)
        networks[name, train_readout] = net

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
for col, train_readout in enumerate((False, True)):
    ax = axes[col]
    for name in ("NonlocalGD", "SGD"):
        ax.plot(histories[name, train_readout], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training MSE")
    ax.set_title("all layers" if train_readout else "hidden layer only")
    ax.legend()

with torch.no_grad():
    grid = torch.from_numpy(X_grid)
    axes[2].plot(X_grid[:, 0], y_grid, color="black", lw=1, label="target")
    for name in ("NonlocalGD", "SGD"):
        outputs = networks[name, True](grid)[:, 0].numpy()
        axes[2].plot(X_grid[:, 0], outputs, label=f"{name}, all layers")
axes[2].set_xlabel("x")
axes[2].set_title("fitted functions")
axes[2].legend()
plt.show()

for (name, train_readout), losses in histories.items():
    layers = "all layers" if train_readout else "hidden layer"
    print(
        f"{name:>10}, {layers:<12}: MSE {losses[0]:.3f} -> {losses[-1]:.4f} "
        f"({1 - losses[-1] / losses[0]:.0%} lower)"
    )

# %%
# With the output layer frozen, SGD's loss curve is flat: autograd returns a
# zero gradient for every hidden parameter, so SGD never changes them.
# NonlocalGD moves the jumps of the hidden units, because a perturbation of a
# weight or bias that moves a jump across a training point changes the loss.
# Its curve is noisy: every step uses a fresh estimate from 32 perturbations
# of a loss that is piecewise constant in the hidden parameters.
#
# When all layers train, SGD lowers the loss too, but only through the output
# layer. It fits a linear combination of the step functions of the initial
# network, whose jumps stay where the initialization put them. These jumps
# are the spikes of its fitted function. NonlocalGD trains both layers.
#
# Kernels during training
# -----------------------
#
# ``KernelTracker`` computes, every ``track_every`` steps, the Gram matrix of
# the exact NTK and of the Monte Carlo nonlocal kernel on the training inputs,
# and records their spectra and their alignment
# ``y^T K y / (||K||_F ||y||^2)`` with the targets. The nonlocal kernel uses
# the same perturbations at every step (a fixed ``random_state``), so its
# changes come from the parameters, not from Monte Carlo noise.

tracker = KernelTracker(
    X,
    y,
    kernels=("ntk", "nonlocal"),
    steps=track_every,
    gamma=gamma,
    n_samples=128,
    random_state=0,
)
net = sign_network()
optimizer = NonlocalGD(
    net.parameters(), lr=learning_rate, gamma=gamma, n_samples=n_samples, generator=0
)
train_and_track(net, X, y, optimizer, n_steps, tracker)

axes = tracker.plot()
axes[0].set_title("alignment with the targets")
axes[1].set_title("leading eigenvalues")
plt.show()

for name, data in tracker.to_arrays().items():
    print(
        f"{name:>8}: alignment {data['alignment'][0]:.3f} -> "
        f"{data['alignment'][-1]:.3f}, effective rank "
        f"{data['effective_rank'][0]:.2f} -> {data['effective_rank'][-1]:.2f}, "
        f"distance from the initial kernel {data['distance'][-1]:.3f}"
    )

# %%
# The exact NTK of a sign network contains only the output layer: its Gram
# matrix is ``h(x) . h(x') + 1``, where ``h`` are the hidden units' outputs.
# It changes only when NonlocalGD moves a unit's jump across a training
# point, and in this run its alignment falls. The nonlocal kernel also
# contains the hidden parameters, through the perturbations that move the
# jumps. While the loss falls, its alignment with the targets rises and its
# effective rank falls: the kernel of the trained network adapts to the
# target, which a kernel fixed at initialization cannot do. The printed
# numbers come from one run and change with the seeds and with ``gamma``.
