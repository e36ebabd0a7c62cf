"""Helpers shared by the reproduction steps: networks, kernels and figures."""

import time

import torch

from sknntk import NonlocalNTKKernel
from sknntk.models import MLP
from sknntk.plotting import _import_matplotlib

# Display names of the activations and targets, for titles and tables.
DISPLAY_NAMES = {
    "sign": "step (sign)",
    "piecewise": "piecewise",
    "relu": "ReLU",
    "tanh": "tanh",
    "square_wave": "square wave",
    "sawtooth": "sawtooth",
    "weierstrass": "Weierstrass-like",
    "diabetes": "diabetes",
    "digits": "digits",
}

FIGURE_DPI = 110


def build_network(activation, n_features, settings):
    """Build the one-hidden-layer MLP of the run, seeded from ``settings.seed``."""
    return MLP(
        n_features,
        hidden_layer_sizes=(settings.hidden_width,),
        activation=activation,
        random_state=settings.seed,
        dtype=torch.float64,
    )


def describe_network(activation, n_features, settings):
    """Return a short dictionary that describes the network of the run."""
    return {
        "architecture": "MLP",
        "n_features": int(n_features),
        "hidden_layer_sizes": [settings.hidden_width],
        "activation": activation,
        "parameterization": "standard",
        "dtype": "float64",
    }


def fit_kernel(network, X, settings, *, random_state=None, **params):
    """Fit a kernel of ``network`` on ``X`` and return it with ``K(X, X)``.

    Parameters not given take the run's defaults: ``gamma``, ``n_jobs`` and
    the seed of the perturbations.

    Returns
    -------
    kernel : NonlocalNTKKernel
        The fitted kernel.
    K : ndarray of shape (n_samples, n_samples)
        The Gram matrix of ``X``.
    seconds : float
        Wall time of ``fit_transform``.
    """
    params.setdefault("gamma", settings.gamma)
    seed = settings.seed if random_state is None else random_state
    kernel = NonlocalNTKKernel(
        network, n_jobs=settings.n_jobs, random_state=seed, **params
    )

    tic = time.perf_counter()
    K = kernel.fit_transform(X)
    return kernel, K, time.perf_counter() - tic


def new_figure(n_panels, *, panel_width=4.4, panel_height=3.6):
    """Create a figure with ``n_panels`` axes side by side, drawn by Agg.

    The figure is built without :mod:`matplotlib.pyplot`, so the run neither
    changes the user's backend nor keeps figures open.

    Returns
    -------
    figure : matplotlib.figure.Figure
    axes : ndarray of matplotlib.axes.Axes of shape (n_panels,)
    """
    _import_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(
        figsize=(panel_width * n_panels, panel_height), layout="constrained"
    )
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, n_panels, squeeze=False)[0]
    return figure, axes


def save_figure(figure, out_dir, name, caption):
    """Write ``figure`` to ``out_dir / name`` as PNG and return its record."""
    figure.savefig(out_dir / name, dpi=FIGURE_DPI)
    return {"file": name, "caption": caption}
