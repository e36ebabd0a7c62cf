"""Kernel heatmaps: four kernels of one network on a 1-D grid, side by side."""

import numpy as np
import torch

from sknntk.datasets import make_grid
from sknntk.diagnostics import kernel_summary
from sknntk.experiments._common import (
    DISPLAY_NAMES,
    build_network,
    describe_network,
    fit_kernel,
    new_figure,
    save_figure,
)
from sknntk.plotting import plot_kernel_heatmap

# (result key, panel title, kernel parameters)
HEATMAP_KERNELS = (
    ("ntk", "exact NTK", {"kernel": "ntk"}),
    ("attention", "attention", {"kernel": "attention"}),
    ("gaussian", "Monte Carlo Gaussian", {"kernel": "nonlocal"}),
    (
        "uniform",
        "Monte Carlo uniform",
        {"kernel": "nonlocal", "distribution": "uniform"},
    ),
)


def output_layer_trace_share(network, X, K_ntk):
    """Return the share of the exact NTK's trace that the output layer gives.

    The exact NTK is a sum of positive semidefinite terms, one per parameter,
    so traces add up. The output layer of a one-hidden-layer MLP with the
    standard parameterization contributes ``||h(x)||**2 + 1`` at each ``x``,
    with ``h`` the hidden activations. A share of 1 means that autograd returns
    zero derivatives for the hidden layer, as for sign and square-wave units.
    """
    with torch.no_grad():
        inputs = torch.as_tensor(X, dtype=torch.float64)
        hidden = network.activation(network.layers[0](inputs)).numpy()
    output_trace = float(np.sum(hidden**2) + hidden.shape[0])
    return output_trace / float(np.trace(K_ntk))


def run_heatmaps(activation, settings, out_dir):
    """Draw the exact, attention and nonlocal kernels of one network.

    The network is an MLP with one hidden layer of ``activation`` units on a
    grid of ``settings.heatmap_points`` points. The alignments in the result
    are with the target function of the same name on that grid.

    Returns
    -------
    result : dict
        Diagnostics of each kernel, keyed as in :data:`HEATMAP_KERNELS`.
    figures : list of dict
        The record of the one figure written.
    """
    X, y = make_grid(activation, settings.heatmap_points, domain=settings.domain)
    network = build_network(activation, 1, settings)
    result = {
        "network": describe_network(activation, 1, settings),
        "grid_points": settings.heatmap_points,
        "gamma": settings.gamma,
        "kernels": {},
    }

    figure, axes = new_figure(len(HEATMAP_KERNELS))
    for ax, (key, title, params) in zip(axes, HEATMAP_KERNELS):
        if params["kernel"] != "ntk":
            params = {**params, "n_samples": settings.heatmap_n_samples}
        kernel, K, seconds = fit_kernel(network, X, settings, **params)

        entry = {
            **kernel_summary(K, y),
            "n_samples": kernel.n_samples_,
            "relative_std_error": kernel.kernel_std_error_,
            "effective_sample_size": kernel.effective_sample_size_,
            "fit_seconds": seconds,
        }
        if key == "ntk":
            share = output_layer_trace_share(network, X, K)
            entry["output_layer_trace_share"] = share
            title = f"{title}\n(output layer: {share:.0%} of trace)"
        result["kernels"][key] = entry
        plot_kernel_heatmap(K, ax=ax, title=title, extent=settings.domain)

    name = DISPLAY_NAMES[activation]
    figure.suptitle(f"{name} network")
    caption = (
        f"Gram matrices on {settings.heatmap_points} grid points of "
        f"{list(settings.domain)} for an MLP with {settings.hidden_width} "
        f"{name} hidden units: exact NTK (autograd), attention, and the Monte "
        f"Carlo nonlocal NTK with Gaussian and uniform perturbations "
        f"(gamma = {settings.gamma}, N = {settings.heatmap_n_samples})."
    )
    record = save_figure(figure, out_dir, f"heatmap_{activation}.png", caption)
    return result, [record]
