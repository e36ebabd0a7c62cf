"""Spectrum convergence of the nonlocal kernel as the number of samples grows."""

import numpy as np

from sknntk.datasets import make_grid
from sknntk.diagnostics import effective_rank, spectrum
from sknntk.experiments._common import (
    DISPLAY_NAMES,
    build_network,
    describe_network,
    fit_kernel,
    new_figure,
    save_figure,
)
from sknntk.plotting import _label_log_ticks, plot_spectra


def relative_frobenius_error(K, K_reference):
    """Return ``||K - K_reference||_F / ||K_reference||_F``."""
    return float(np.linalg.norm(K - K_reference) / np.linalg.norm(K_reference))


def run_spectrum(activation, settings, out_dir):
    """Compare nonlocal kernels with N samples against a high-N reference.

    The reference uses another perturbation seed than the estimates, so that
    it is an independent estimate. Its own Monte Carlo error, reported as
    ``reference.relative_std_error``, is therefore the floor of the measured
    error.

    Returns
    -------
    result : dict
        Reference and per-N errors, effective ranks and leading eigenvalues.
    figures : list of dict
        The record of the one figure written.
    """
    X, _ = make_grid(activation, settings.spectrum_points, domain=settings.domain)
    network = build_network(activation, 1, settings)
    top = settings.spectrum_top_eigenvalues

    reference_kernel, K_reference, seconds = fit_kernel(
        network,
        X,
        settings,
        random_state=settings.seed + 1,
        n_samples=settings.spectrum_reference_n_samples,
    )
    reference_eigenvalues = spectrum(K_reference)
    result = {
        "network": describe_network(activation, 1, settings),
        "grid_points": settings.spectrum_points,
        "gamma": settings.gamma,
        "reference": {
            "n_samples": reference_kernel.n_samples_,
            "relative_std_error": reference_kernel.kernel_std_error_,
            "effective_rank": effective_rank(reference_eigenvalues),
            "top_eigenvalues": reference_eigenvalues[:top].tolist(),
            "fit_seconds": seconds,
        },
        "n_samples": list(settings.spectrum_n_samples),
        "relative_frobenius_error": [],
        "top_eigenvalue_max_relative_error": [],
        "effective_rank": [],
        "top_eigenvalues": [],
        "fit_seconds": [],
    }

    spectra = {}
    for n_samples in settings.spectrum_n_samples:
        _, K, seconds = fit_kernel(network, X, settings, n_samples=n_samples)
        eigenvalues = spectrum(K)
        spectra[f"N = {n_samples}"] = eigenvalues

        leading_error = np.abs(eigenvalues[:top] - reference_eigenvalues[:top])
        leading_error = leading_error / np.abs(reference_eigenvalues[:top])
        result["relative_frobenius_error"].append(
            relative_frobenius_error(K, K_reference)
        )
        result["top_eigenvalue_max_relative_error"].append(float(leading_error.max()))
        result["effective_rank"].append(effective_rank(eigenvalues))
        result["top_eigenvalues"].append(eigenvalues[:top].tolist())
        result["fit_seconds"].append(seconds)

    name = DISPLAY_NAMES[activation]
    reference_n = settings.spectrum_reference_n_samples
    figure, (spectrum_ax, error_ax) = new_figure(2)
    plot_spectra(
        spectra,
        reference=reference_eigenvalues,
        ax=spectrum_ax,
        title=f"spectra, reference N = {reference_n}",
    )
    _plot_error_curve(error_ax, result)
    figure.suptitle(f"Spectrum convergence, {name} network")

    caption = (
        f"Eigenvalues (descending, log scale) of the Gaussian nonlocal kernel of "
        f"an MLP with {settings.hidden_width} {name} units on "
        f"{settings.spectrum_points} grid points, for several N against an "
        f"independent estimate with N = {reference_n} (left; the kernel of N "
        f"samples has rank at most N), and the relative Frobenius error against "
        f"that reference (right)."
    )
    record = save_figure(figure, out_dir, f"spectrum_{activation}.png", caption)
    return result, [record]


def _plot_error_curve(ax, result):
    n_samples = np.asarray(result["n_samples"], dtype=np.float64)
    errors = np.asarray(result["relative_frobenius_error"])

    ax.loglog(n_samples, errors, marker="o", label="relative Frobenius error")
    # A Monte Carlo error falls as N**-1/2. The guide starts at the first point.
    guide = errors[0] * np.sqrt(n_samples[0] / n_samples)
    ax.loglog(n_samples, guide, color="gray", linestyle=":", label="slope N^(-1/2)")
    floor = result["reference"]["relative_std_error"]
    if np.isfinite(floor) and floor > 0:
        ax.axhline(
            floor, color="black", linestyle="--", label="reference standard error"
        )

    _label_log_ticks(ax.xaxis, n_samples)
    ax.set_xlabel("Monte Carlo samples N")
    ax.set_ylabel("||K_N - K_ref||_F / ||K_ref||_F")
    ax.set_title("error against the reference")
    ax.legend(fontsize="small")
