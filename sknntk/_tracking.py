"""Tangent kernels of a model recorded while it trains."""

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch

from sknntk import diagnostics
from sknntk._kernel import NonlocalNTKKernel
from sknntk._optim import NonlocalGD
from sknntk._params import KERNELS

__all__ = ["KernelTracker", "train_and_track"]

# Parameters of NonlocalNTKKernel that the tracker sets itself, each with
# where the caller sets it instead.
_TRACKER_SET_PARAMS = {
    "model": "The model is the one passed as tracker(model, step).",
    "kernel": "Pass kernels to KernelTracker(...) instead.",
    "gamma": "Pass gamma to KernelTracker(...) instead.",
    "n_samples": "Pass n_samples to KernelTracker(...) instead.",
    "random_state": "Pass random_state to KernelTracker(...) instead.",
}


class KernelTracker:
    """Record the spectrum and target alignment of a model's kernels during training.

    Call the tracker as ``tracker(model, step)`` after each training step, or
    pass it to :func:`train_and_track`. At the requested steps it computes
    the Gram matrix ``K(X, X)`` of the model at its current parameters for
    each kernel in ``kernels`` with :class:`~sknntk.NonlocalNTKKernel`, and
    stores its spectrum, effective rank, alignment with ``y`` and distance
    from the first recorded Gram matrix. With an int ``random_state`` every
    nonlocal Gram matrix uses the same perturbations, so the changes between
    steps come from the parameters and not from Monte Carlo noise.

    Steps must not decrease from one call to the next. A call at a step
    smaller than the last recorded one raises :class:`ValueError`, and a call
    at the last recorded step records only the kernels not yet recorded
    there, so repeating a call is a no-op. Below, ``n_rows`` is the number of
    rows of ``X``, and ``n_samples`` is the number of Monte Carlo samples.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features)
        Inputs on which the kernels are computed.
    y : array-like of shape (n_rows,) or (n_rows, n_targets)
        Targets for the alignment.
    kernels : str or sequence of str, default=("ntk", "nonlocal")
        Kernels to record, among ``"ntk"``, ``"nonlocal"`` and
        ``"attention"``.
    steps : None, int or iterable of int, default=None
        Steps at which to record. None records at every call, an int ``k``
        records at the steps that are multiples of ``k`` (step 0 included),
        and an iterable records at exactly those steps.
    gamma : float, default=0.1
        Perturbation width of the nonlocal kernels.
    n_samples : int, default=256
        Monte Carlo samples of the nonlocal kernels.
    random_state : int or None, default=0
        Seed of the perturbations, the same at every step. None draws new
        perturbations at every record, which adds Monte Carlo noise to the
        changes between steps.
    centered : bool, default=False
        Whether the alignment is the centered one.
    kernel_params : dict, optional
        Further parameters of :class:`~sknntk.NonlocalNTKKernel`, for example
        ``{"sampler": "orthogonal", "dtype": "float32"}``.

    Attributes
    ----------
    history_ : list of dict
        One record per recorded step and kernel, in the order recorded, with
        keys ``"step"`` (int), ``"kernel"`` (str), ``"spectrum"`` (ndarray of
        shape (n_rows,), descending eigenvalues), ``"effective_rank"``,
        ``"alignment"``, ``"trace"`` and ``"distance"`` (floats). The distance
        is ``1 - <K_0, K>_F / (||K_0||_F ||K||_F)`` against the first Gram
        matrix recorded for that kernel: 0 when the kernel has only been
        rescaled, up to 1 when it has turned orthogonal.

    See Also
    --------
    train_and_track : A training loop that calls the tracker.
    sknntk.diagnostics.alignment : The alignment recorded.

    Notes
    -----
    Each record costs one kernel fit on ``X``: for the nonlocal kernels
    ``n_samples`` batched forward passes over ``X``, for the NTK one Jacobian
    of shape ``(n_rows, n_outputs, d)``. The first Gram matrix of each
    kernel is kept, ``n_rows**2`` floats per kernel.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk import KernelTracker
    >>> from sknntk.models import MLP
    >>> X = np.linspace(-1, 1, 8)[:, None]
    >>> y = np.sign(X[:, 0])
    >>> tracker = KernelTracker(X, y, kernels="nonlocal", n_samples=16)
    >>> tracker(MLP(1, (8,), activation="sign", random_state=0), step=0)
    >>> record = tracker.history_[0]
    >>> record["kernel"], record["spectrum"].shape
    ('nonlocal', (8,))
    """

    def __init__(
        self,
        X,
        y,
        *,
        kernels=("ntk", "nonlocal"),
        steps=None,
        gamma=0.1,
        n_samples=256,
        random_state=0,
        centered=False,
        kernel_params=None,
    ):
        self.X = _check_inputs(X)
        self.y = _check_targets(y, self.X.shape[0])
        self.kernels = _check_kernels(kernels)
        self.steps = steps
        self._should_record = _step_rule(steps)
        self.gamma = gamma
        self.n_samples = n_samples
        self.random_state = random_state
        self.centered = bool(centered)
        self.kernel_params = dict(kernel_params or {})
        for name, fix in _TRACKER_SET_PARAMS.items():
            if name in self.kernel_params:
                raise ValueError(
                    f"kernel_params may not set {name!r} because the tracker "
                    f"sets it. {fix}"
                )
        self.history_ = []
        self._first_gram = {}

    def __call__(self, model, step):
        """Record the kernels of ``model`` if ``step`` is one of the chosen steps.

        Parameters
        ----------
        model : torch.nn.Module
            The model at its current parameters. It is copied, never modified.
        step : int
            Number of training steps taken so far, at least the last recorded
            step.

        Raises
        ------
        ValueError
            If ``step`` is smaller than the last recorded step.
        """
        step = _check_step(step)
        if self.history_ and step < self.history_[-1]["step"]:
            raise ValueError(
                f"step {step} is smaller than the last recorded step "
                f"{self.history_[-1]['step']}, but steps must not decrease. Use a "
                "new KernelTracker to record another training run."
            )
        if not self._should_record(step):
            return

        recorded = {r["kernel"] for r in self.history_ if r["step"] == step}
        for name in self.kernels:
            if name in recorded:
                continue
            gram = self.gram(model, name)
            self._record(step, name, gram)

    def gram(self, model, kernel):
        """Compute the Gram matrix ``K(X, X)`` of one kernel of ``model``.

        Returns
        -------
        ndarray of shape (n_rows, n_rows)
        """
        transformer = NonlocalNTKKernel(
            model=copy.deepcopy(model),
            kernel=kernel,
            gamma=self.gamma,
            n_samples=self.n_samples,
            random_state=self.random_state,
            **self.kernel_params,
        )
        return transformer.fit_transform(self.X)

    def _record(self, step, name, gram):
        eigenvalues = diagnostics.spectrum(gram)
        first = self._first_gram.setdefault(name, gram)
        self.history_.append(
            {
                "step": step,
                "kernel": name,
                "spectrum": eigenvalues,
                "effective_rank": _effective_rank(eigenvalues),
                "alignment": _alignment(gram, self.y, self.centered),
                "trace": float(np.trace(gram)),
                "distance": _kernel_distance(first, gram),
            }
        )

    def to_arrays(self):
        """Collect the history of each kernel into arrays.

        Returns
        -------
        dict
            Maps each kernel name to a dict with ``"step"`` (int array of
            shape (n_records,)), ``"spectrum"`` (shape
            (n_records, n_rows)) and ``"effective_rank"``,
            ``"alignment"``, ``"trace"`` and ``"distance"`` (shape
            (n_records,)).
        """
        arrays = {}
        for name in self.kernels:
            records = [r for r in self.history_ if r["kernel"] == name]
            n_rows = self.X.shape[0]
            arrays[name] = {
                "step": np.array([r["step"] for r in records], dtype=int),
                "spectrum": np.array(
                    [r["spectrum"] for r in records], dtype=float
                ).reshape(len(records), n_rows),
            }
            for key in ("effective_rank", "alignment", "trace", "distance"):
                arrays[name][key] = np.array([r[key] for r in records], dtype=float)
        return arrays

    def plot(self, ax=None, n_eigenvalues=5):
        """Plot the alignment and the leading eigenvalues against the step.

        Parameters
        ----------
        ax : None or sequence of two matplotlib Axes, default=None
            Axes for the alignment and for the eigenvalues. None creates a
            figure with two panels side by side.
        n_eigenvalues : int, default=5
            Number of leading eigenvalues drawn per kernel, on a log scale.

        Returns
        -------
        ndarray of two matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        ax = np.asarray(ax, dtype=object).ravel()
        if ax.size != 2:
            raise ValueError(
                f"ax must be None or a sequence of two Axes, got {ax.size} Axes."
            )
        if not self.history_:
            raise ValueError(
                "The tracker has recorded nothing yet. Call it during training, "
                "for example through train_and_track, before plotting."
            )

        arrays = self.to_arrays()
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for index, (name, data) in enumerate(arrays.items()):
            color = colors[index % len(colors)]
            ax[0].plot(
                data["step"], data["alignment"], marker="o", color=color, label=name
            )
            leading = np.clip(data["spectrum"][:, :n_eigenvalues], 1e-300, None)
            for rank in range(leading.shape[1]):
                ax[1].plot(
                    data["step"],
                    leading[:, rank],
                    color=color,
                    alpha=1.0 - 0.6 * rank / max(leading.shape[1], 1),
                    label=name if rank == 0 else None,
                )

        ax[0].set_xlabel("step")
        ax[0].set_ylabel("centered alignment" if self.centered else "alignment")
        ax[0].legend()
        ax[1].set_xlabel("step")
        ax[1].set_ylabel(f"leading {n_eigenvalues} eigenvalues")
        ax[1].set_yscale("log")
        ax[1].legend()
        return ax


def train_and_track(
    model, X, y, optimizer, n_steps, tracker=None, loss=torch.nn.functional.mse_loss
):
    """Train a model for a number of steps, calling a tracker after each one.

    For :class:`~sknntk.NonlocalGD` the closure returns the loss without
    calling ``backward``; for any other torch optimizer it zeroes the
    gradients and calls ``backward``. The tracker, when given, is called as
    ``tracker(model, step)`` before the first step (``step=0``) and after
    every step.

    Parameters
    ----------
    model : torch.nn.Module
        The model, trained in place on the full batch ``X``.
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Training inputs, converted to the dtype of the model's parameters.
    y : array-like or torch.Tensor of shape (n_samples,) or (n_samples, n_outputs)
        Training targets, of the shape of the model's output. A 1-D ``y`` also
        matches an output of shape ``(n_samples, 1)``.
    optimizer : torch.optim.Optimizer
        An optimizer over the model's parameters.
    n_steps : int
        Number of optimizer steps, at least 0.
    tracker : callable, optional
        Called as ``tracker(model, step)``, for example a
        :class:`KernelTracker`.
    loss : callable, default=torch.nn.functional.mse_loss
        Function ``loss(output, target)`` returning a scalar tensor.

    Returns
    -------
    ndarray of shape (n_steps + 1,)
        Training loss after ``s`` steps at index ``s``, from the initial loss
        at index 0 to the final one.

    Raises
    ------
    ValueError
        If ``n_steps`` is invalid or the shape of ``y`` does not match the
        model's output. The output's shape comes from one forward pass over
        ``X`` in evaluation mode before the first step.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk import NonlocalGD, train_and_track
    >>> from sknntk.models import MLP
    >>> X = np.linspace(-2, 2, 16)[:, None]
    >>> y = np.sign(X[:, 0])
    >>> net = MLP(1, (8,), activation="sign", random_state=0)
    >>> optimizer = NonlocalGD(net.parameters(), lr=0.05, n_samples=16,
    ...                        generator=0)
    >>> losses = train_and_track(net, X, y, optimizer, n_steps=20)
    >>> losses.shape, bool(losses[-1] < losses[0])
    ((21,), True)
    """
    if not isinstance(n_steps, Integral) or isinstance(n_steps, bool) or n_steps < 0:
        raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}.")
    parameter = next(model.parameters(), None)
    dtype = torch.get_default_dtype() if parameter is None else parameter.dtype
    device = None if parameter is None else parameter.device
    X = _as_tensor(X, dtype, device)
    y = _match_output_shape(model, X, _as_tensor(y, dtype, device))
    nonlocal_optimizer = isinstance(optimizer, NonlocalGD)

    def closure():
        if nonlocal_optimizer:
            return loss(model(X), y)
        optimizer.zero_grad()
        value = loss(model(X), y)
        value.backward()
        return value

    losses = np.empty(n_steps + 1)
    if tracker is not None:
        tracker(model, 0)
    for step in range(n_steps):
        losses[step] = _as_float(optimizer.step(closure))
        if tracker is not None:
            tracker(model, step + 1)
    with torch.no_grad():
        losses[n_steps] = _as_float(loss(model(X), y))
    return losses


def _as_tensor(array, dtype, device):
    if not torch.is_tensor(array):
        array = torch.as_tensor(np.asarray(array))
    return array.to(dtype=dtype, device=device)


def _match_output_shape(model, X, y):
    """Return ``y`` with the shape of ``model(X)``, or raise if it cannot have it.

    The forward pass runs in evaluation mode, so that it leaves statistics such
    as batch normalization's running means unchanged, and each submodule's mode
    is restored afterwards.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            shape = tuple(model(X).shape)
    finally:
        # modules() lists each parent before its children, so every module
        # ends in its own mode although train() also sets the children.
        for module, training in modes:
            module.train(training)

    matched = y[:, None] if y.ndim == 1 and len(shape) == 2 else y
    if tuple(matched.shape) != shape:
        raise ValueError(
            f"The model's output has shape {shape}, but y has shape "
            f"{tuple(y.shape)}. Pass y of shape {shape}, with one column per "
            "output of the model."
        )
    return matched


def _as_float(value):
    return float(value.detach()) if torch.is_tensor(value) else float(value)


def _alignment(gram, y, centered):
    try:
        return diagnostics.alignment(gram, y, centered=centered)
    except ValueError:
        # A zero Gram matrix (for example a network whose outputs do not move
        # under any perturbation) has no alignment.
        return math.nan


def _effective_rank(eigenvalues):
    if not np.any(eigenvalues > 0):
        return math.nan
    return diagnostics.effective_rank(eigenvalues)


def _kernel_distance(first, gram):
    norms = np.linalg.norm(first) * np.linalg.norm(gram)
    if norms == 0:
        return math.nan
    # Clipped at 0 because rounding can make the cosine exceed 1 slightly.
    return max(0.0, float(1.0 - np.sum(first * gram) / norms))


def _check_inputs(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must have shape (n_rows, n_features), got shape {X.shape}."
        )
    return X


def _check_targets(y, n_rows):
    y = np.asarray(y, dtype=np.float64)
    if y.ndim not in (1, 2) or y.shape[0] != n_rows:
        raise ValueError(
            f"y must have shape ({n_rows},) or ({n_rows}, n_targets) to "
            f"match X, got shape {y.shape}."
        )
    return y


def _check_kernels(kernels):
    if isinstance(kernels, str):
        kernels = (kernels,)
    kernels = tuple(kernels)
    unknown = [name for name in kernels if name not in KERNELS]
    if not kernels or unknown:
        raise ValueError(
            f"kernels must name one or more of {', '.join(map(repr, KERNELS))}; "
            f"got {kernels!r}."
        )
    if len(set(kernels)) != len(kernels):
        raise ValueError(f"kernels lists a kernel twice: {kernels!r}.")
    return kernels


def _check_step(step):
    if not isinstance(step, Integral) or isinstance(step, bool) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}.")
    return int(step)


def _step_rule(steps):
    """Return a predicate on step numbers from the ``steps`` argument."""
    if steps is None:
        return lambda step: True
    if isinstance(steps, Integral) and not isinstance(steps, bool):
        if steps < 1:
            raise ValueError(f"steps as an int must be >= 1, got {steps}.")
        every = int(steps)
        return lambda step: step % every == 0
    if isinstance(steps, Real | str | bool):
        raise TypeError(
            f"steps must be None, an int or an iterable of ints, got {steps!r}."
        )
    chosen = frozenset(_check_step(step) for step in steps)
    return lambda step: step in chosen
