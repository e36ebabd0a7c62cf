"""Kernel-target alignment of the exact and nonlocal kernels for the sign target.

Each panel of the figure is one curve function from :data:`ALIGNMENT_CURVES`:
it takes a network, the grid and its targets, and returns the values of its
variable with the nonlocal kernel's alignment at each. Another curve of a
fixed network is one more entry. The alignment over training steps trains
networks of its own and has its own figure, in
:mod:`sknntk.experiments._training`.
"""

import collections

from sknntk.datasets import make_grid
from sknntk.diagnostics import alignment
from sknntk.experiments._common import (
    DISPLAY_NAMES,
    build_network,
    fit_kernel,
    new_figure,
    save_figure,
)
from sknntk.experiments._settings import ALIGNMENT_ACTIVATIONS
from sknntk.plotting import plot_alignment_curves

TARGET = "sign"


def _alignments(K, y):
    return alignment(K, y), alignment(K, y, centered=True)


def alignment_over_gamma(network, X, y, settings):
    """Return the nonlocal kernel's alignment for each perturbation width."""
    curve = {
        "x": list(settings.alignment_gammas),
        "n_samples": settings.alignment_gamma_n_samples,
        "alignment": [],
        "centered_alignment": [],
    }
    for gamma in settings.alignment_gammas:
        _, K, _ = fit_kernel(
            network,
            X,
            settings,
            gamma=gamma,
            n_samples=settings.alignment_gamma_n_samples,
        )
        plain, centered = _alignments(K, y)
        curve["alignment"].append(plain)
        curve["centered_alignment"].append(centered)
    return curve


def alignment_over_n_samples(network, X, y, settings):
    """Return the nonlocal kernel's alignment for each number of samples N."""
    curve = {
        "x": list(settings.alignment_n_samples),
        "gamma": settings.gamma,
        "alignment": [],
        "centered_alignment": [],
    }
    for n_samples in settings.alignment_n_samples:
        _, K, _ = fit_kernel(network, X, settings, n_samples=n_samples)
        plain, centered = _alignments(K, y)
        curve["alignment"].append(plain)
        curve["centered_alignment"].append(centered)
    return curve


AlignmentCurve = collections.namedtuple(
    "AlignmentCurve", ["key", "function", "xlabel", "xscale", "title"]
)

ALIGNMENT_CURVES = (
    AlignmentCurve(
        "gamma",
        alignment_over_gamma,
        "perturbation width gamma",
        "log",
        "alignment against gamma",
    ),
    AlignmentCurve(
        "n_samples",
        alignment_over_n_samples,
        "Monte Carlo samples N",
        "log",
        "alignment against N",
    ),
)


def run_alignment(settings, out_dir):
    """Compute the alignment curves of every network and draw one panel each.

    Returns
    -------
    result : dict
        The target, the grid size, and under ``"networks"`` for each hidden
        activation the exact NTK's alignment and each curve.
    figures : list of dict
        The record of the one figure written.
    """
    X, y = make_grid(TARGET, settings.alignment_points, domain=settings.domain)
    result = {
        "target": TARGET,
        "grid_points": settings.alignment_points,
        "networks": {},
    }

    for activation in ALIGNMENT_ACTIVATIONS:
        network = build_network(activation, 1, settings)
        _, K_ntk, _ = fit_kernel(network, X, settings, kernel="ntk")
        plain, centered = _alignments(K_ntk, y)
        entry = {"exact_ntk": plain, "exact_ntk_centered": centered}
        for curve in ALIGNMENT_CURVES:
            entry[curve.key] = curve.function(network, X, y, settings)
        result["networks"][activation] = entry

    figure, axes = new_figure(len(ALIGNMENT_CURVES))
    for ax, curve in zip(axes, ALIGNMENT_CURVES):
        curves, baselines = {}, {}
        for activation in ALIGNMENT_ACTIVATIONS:
            name = DISPLAY_NAMES[activation]
            entry = result["networks"][activation]
            curves[f"nonlocal, {name}"] = entry[curve.key]["alignment"]
            baselines[f"exact NTK, {name}"] = entry["exact_ntk"]
        x = result["networks"][ALIGNMENT_ACTIVATIONS[0]][curve.key]["x"]
        plot_alignment_curves(
            x,
            curves,
            baselines=baselines,
            ax=ax,
            title=curve.title,
            xlabel=curve.xlabel,
            xscale=curve.xscale,
        )
    figure.suptitle("Kernel-target alignment, sign target")

    networks = " and ".join(DISPLAY_NAMES[name] for name in ALIGNMENT_ACTIVATIONS)
    caption = (
        f"Alignment y^T K y / (||K||_F ||y||^2) with the sign target on "
        f"{settings.alignment_points} grid points for MLPs with "
        f"{settings.hidden_width} {networks} units: the Gaussian nonlocal kernel "
        f"against gamma (N = {settings.alignment_gamma_n_samples}) and against N "
        f"(gamma = {settings.gamma}), with the exact NTK's alignment dashed."
    )
    record = save_figure(figure, out_dir, "alignment_sign.png", caption)
    return result, [record]
