"""Matplotlib helpers for Gram matrices, their spectra and alignment curves.

matplotlib is an optional dependency, imported when a function is called.
Install it with ``pip install "sknntk[plot]"``. Each function draws on the
given axes, or on a new figure from :mod:`matplotlib.pyplot` when ``ax`` is
None, and returns the axes.
"""

import numpy as np

__all__ = [
    "plot_alignment_curves",
    "plot_kernel_heatmap",
    "plot_spectra",
]


def _import_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib, which is not installed. Install it with "
            'pip install "sknntk[plot]".'
        ) from error


def _new_axes(ax):
    _import_matplotlib()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _label_log_ticks(axis, values):
    """Put the major ticks of a logarithmic axis at ``values``, unlabelled minors.

    The default minor labels of a log axis that spans less than a decade
    overlap, so they are removed.
    """
    from matplotlib.ticker import NullFormatter

    values = np.asarray(values, dtype=np.float64).ravel()
    axis.set_ticks(values, labels=[f"{value:g}" for value in values])
    axis.set_minor_formatter(NullFormatter())


def plot_kernel_heatmap(
    K, ax=None, title=None, *, extent=None, cmap="viridis", colorbar=True
):
    """Draw a Gram matrix as an image, row ``i`` at the top.

    Parameters
    ----------
    K : array-like of shape (n_samples_X, n_samples_Y)
        Gram matrix.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. None draws on a new figure.
    title : str, default=None
        Axes title.
    extent : tuple of two floats, default=None
        Input range ``(low, high)`` of sorted 1-D inputs, used as the tick
        values of both axes. None labels the axes with row indices.
    cmap : str or matplotlib.colors.Colormap, default="viridis"
        Colormap.
    colorbar : bool, default=True
        Whether to add a colorbar beside the axes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If ``K`` is not a 2-D array.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> ax = plot_kernel_heatmap(np.eye(3), ax=ax, title="identity")
    >>> ax.get_title()
    'identity'
    """
    ax = _new_axes(ax)
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2:
        raise ValueError(f"K must be a 2-D Gram matrix, got shape {K.shape}.")

    if extent is None:
        image_extent = None
        label_x, label_y = "column index", "row index"
    else:
        low, high = (float(value) for value in extent)
        # Row 0 sits at the top, so the vertical axis runs from high to low.
        image_extent = (low, high, high, low)
        label_x, label_y = "x'", "x"
    image = ax.imshow(
        K, cmap=cmap, extent=image_extent, aspect="auto", interpolation="nearest"
    )

    ax.set_xlabel(label_x)
    ax.set_ylabel(label_y)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return ax


def plot_spectra(spectra, *, reference=None, ax=None, title=None):
    """Draw eigenvalue spectra in descending order on a logarithmic scale.

    Eigenvalues that are not positive cannot be shown on a logarithmic axis
    and are left out, so a curve ends where a spectrum reaches the rounding
    level of its Gram matrix.

    Parameters
    ----------
    spectra : dict of str to array-like of shape (n_eigenvalues,)
        Eigenvalues by curve label, for example from
        :func:`sknntk.diagnostics.spectrum`. Each array is sorted in
        descending order before drawing.
    reference : array-like of shape (n_eigenvalues,), default=None
        Eigenvalues of a reference Gram matrix, drawn as a black dashed line
        labelled "reference".
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. None draws on a new figure.
    title : str, default=None
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> ax = plot_spectra({"N=16": [4.0, 1.0, 0.0]}, reference=[3.0, 2.0, 1.0],
    ...                   ax=ax)
    >>> [line.get_label() for line in ax.get_lines()]
    ['N=16', 'reference']
    """
    ax = _new_axes(ax)

    for label, eigenvalues in spectra.items():
        index, values = _positive_descending(eigenvalues)
        ax.plot(index, values, label=label)
    if reference is not None:
        index, values = _positive_descending(reference)
        ax.plot(index, values, color="black", linestyle="--", label="reference")

    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue")
    if title is not None:
        ax.set_title(title)
    ax.legend()
    return ax


def _positive_descending(eigenvalues):
    values = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1]
    index = np.arange(1, values.size + 1)
    positive = values > 0
    return index[positive], values[positive]


def plot_alignment_curves(
    x, curves, *, baselines=None, ax=None, title=None, xlabel=None, xscale="log"
):
    """Draw alignment curves against a common variable, with constant baselines.

    Parameters
    ----------
    x : array-like of shape (n_points,)
        Values of the variable on the horizontal axis, for example the widths
        ``gamma``, the numbers of Monte Carlo samples or the training steps.
    curves : dict of str to array-like of shape (n_points,)
        Alignment values by curve label.
    baselines : dict of str to float, default=None
        Constant alignments by label, for example the exact NTK's, drawn as
        dashed horizontal lines. The i-th baseline takes the color of the
        i-th curve, so that a curve and its baseline can be paired by order.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on. None draws on a new figure.
    title : str, default=None
        Axes title.
    xlabel : str, default=None
        Label of the horizontal axis.
    xscale : {"log", "linear"}, default="log"
        Scale of the horizontal axis.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If a curve does not have one value per entry of ``x``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()
    >>> ax = plot_alignment_curves([0.01, 0.1, 1.0], {"nonlocal": [0.2, 0.4, 0.3]},
    ...                            baselines={"exact NTK": 0.25}, ax=ax)
    >>> len(ax.get_lines())
    2
    """
    ax = _new_axes(ax)
    x = np.asarray(x, dtype=np.float64).ravel()

    for index, (label, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.shape != x.shape:
            raise ValueError(
                f"The curve {label!r} has {values.size} values, but x has "
                f"{x.size}. Pass one alignment per entry of x."
            )
        ax.plot(x, values, marker="o", color=f"C{index % 10}", label=label)
    for index, (label, value) in enumerate((baselines or {}).items()):
        ax.axhline(float(value), color=f"C{index % 10}", linestyle="--", label=label)

    ax.set_xscale(xscale)
    if xscale == "log":
        # Label the measured values, without the crowded minor tick labels.
        _label_log_ticks(ax.xaxis, x)
    ax.set_ylabel("alignment")
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if title is not None:
        ax.set_title(title)
    ax.legend()
    return ax
