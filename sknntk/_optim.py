"""Nonlocal gradient descent: a torch optimizer that needs forward passes only."""

import math
from numbers import Integral, Real

import numpy as np
import torch

from sknntk._montecarlo import draw_perturbations
from sknntk._perturbations import (
    DISTRIBUTIONS,
    PERTURBATIONS,
    SAMPLERS,
    SOBOL_MAX_DIM,
    PerturbationSampler,
)

__all__ = ["NonlocalGD"]

# Options that shape the one estimate shared by all parameter groups, so a
# parameter group may not override them.
_SHARED_OPTIONS = (
    "gamma",
    "n_samples",
    "distribution",
    "sampler",
    "perturbation",
    "normalize",
)


class NonlocalGD(torch.optim.Optimizer):
    r"""Gradient descent along a Monte Carlo nonlocal gradient of the loss.

    .. math::

        \hat G_\gamma L(\theta) = \frac{c}{N} \sum_{k=1}^{N}
        \big(L(\theta + \Delta_k) - L(\theta)\big)
        \frac{\Delta_k}{\|\Delta_k\|^2},
        \qquad \Delta_k \sim \rho_\gamma,

        b \leftarrow \mu\, b + \hat G_\gamma L(\theta), \qquad
        \theta \leftarrow \theta - \eta\, b,

    Here ``theta`` is the vector of the parameters of all parameter groups
    that require gradients, with ``d`` scalars. As with
    :class:`torch.optim.SGD`, parameters with ``requires_grad=False`` are
    frozen, so they are neither perturbed nor updated and do not count in
    ``d``. The perturbation law ``rho_gamma`` is Gaussian,
    ``N(0, gamma**2 / 2 I)``, or uniform on the ball of radius ``gamma``. The
    scale is ``c = d`` when ``normalize=True`` and ``c = 1`` otherwise, ``mu``
    is the momentum and ``eta`` the learning rate. Because
    ``E[Delta Delta^T / ||Delta||^2] = I / d`` for both laws, the expectation
    of the estimate with ``c = d`` tends to ``grad L(theta)`` as
    ``gamma -> 0`` wherever the loss is differentiable. The estimate uses loss
    values only, so it trains modules whose autograd gradient is zero or
    undefined, such as networks with sign or step activations.

    Each :meth:`step` costs ``N + 1`` calls of the closure: one at ``theta``
    and one per perturbation. The parameters are overwritten in place for the
    perturbed calls and restored bitwise afterwards, also when the closure
    raises. Memory is ``O(N d)`` for the perturbations of one step.

    Parameters
    ----------
    params : iterable of torch.Tensor or of dict
        Parameters to optimize, or parameter groups. A group may set its own
        ``lr`` and ``momentum``. The other options define the one estimate
        shared by all groups, so a group may not override them.
    lr : float, default=1e-2
        Learning rate ``eta``, at least 0. With 0 a step evaluates the loss and
        leaves the parameters unchanged.
    gamma : float, default=0.1
        Width of the perturbation law, positive.
    n_samples : int, default=64
        Number of perturbations ``N`` per step, at least 1.
    distribution : {"gaussian", "uniform"}, default="gaussian"
        Perturbation law.
    sampler : {"antithetic", "iid", "orthogonal", "qmc"}, default="antithetic"
        How the perturbations are drawn. ``"antithetic"`` uses pairs
        ``+Delta, -Delta``, so for an even ``N`` the differences become
        central differences and the error of a smooth loss is ``O(gamma**2)``.
    perturbation : {"isotropic", "directional"}, default="isotropic"
        ``"directional"`` draws ``Delta = t phi`` with ``phi`` uniform on the
        unit sphere and ``t`` from the one-dimensional law of width ``gamma``.
    momentum : float, default=0.0
        Momentum factor ``mu`` in ``[0, 1)``.
    normalize : bool, default=True
        Whether ``c = d`` (the estimate tends to the gradient) or ``c = 1``.
    generator : None, int or torch.Generator, default=None
        Source of the perturbations. An int or a generator fixes one seed at
        construction, and step ``s`` then draws from a stream derived from
        that seed and ``s``, so two optimizers built alike take the same
        steps. None draws the seed from torch's global random state.
    device : None, str or torch.device, default=None
        Device on which the ``(N, d)`` perturbations are stored and the
        estimate is computed. None uses the device of the first parameter.

    Attributes
    ----------
    state : dict
        Besides the momentum buffer of each parameter, ``state["loss"]`` is
        the loss at ``theta`` of the last step (a float),
        ``state["estimate_norm"]`` the Euclidean norm of the last estimate
        ``G_gamma L(theta)``, ``state["step"]`` the number of steps taken and
        ``state["seed"]`` the seed of the perturbation streams.

    Raises
    ------
    ValueError
        If an option is outside its range or a closure returns a loss that is
        not a finite scalar.
    RuntimeError
        If the closure calls ``backward``, which fails under
        :func:`torch.no_grad`.

    See Also
    --------
    sknntk.NonlocalNTKKernel : The tangent kernel built from the same
        perturbations.

    Notes
    -----
    The closure returns the loss and must not call ``backward``. It is
    evaluated under :func:`torch.no_grad`. For a loss that is piecewise
    constant in ``theta``, the estimate follows the loss averaged over
    perturbations of size ``gamma``, so ``gamma`` should be about the distance
    in parameter space over which the loss changes. The relative error of
    the estimate is of order ``sqrt(d / N)``, or ``sqrt(2 d / N)`` for
    antithetic pairs, which share a direction, so larger models need more
    samples or a smaller learning rate.

    The estimator is the Monte Carlo nonlocal gradient of "Nonlocal Neural
    Tangent Kernels via Parameter-Space Interactions" (Nagaraj and Hari,
    2025), with the baseline ``L(theta)`` subtracted and the factor ``c``.

    Examples
    --------
    >>> import torch
    >>> from sknntk import NonlocalGD
    >>> from sknntk.models import MLP
    >>> X = torch.linspace(-2, 2, 32, dtype=torch.float64)[:, None]
    >>> y = torch.sign(X)
    >>> net = MLP(1, (8,), activation="sign", random_state=0)
    >>> optimizer = NonlocalGD(net.parameters(), lr=0.05, n_samples=16,
    ...                        generator=0)
    >>> def closure():
    ...     return torch.mean((net(X) - y) ** 2)
    >>> first = float(optimizer.step(closure))
    >>> for _ in range(50):
    ...     last = float(optimizer.step(closure))
    >>> last < first
    True
    """

    def __init__(
        self,
        params,
        lr=1e-2,
        gamma=0.1,
        n_samples=64,
        distribution="gaussian",
        sampler="antithetic",
        perturbation="isotropic",
        momentum=0.0,
        normalize=True,
        generator=None,
        device=None,
    ):
        _check_learning_rate(lr)
        _check_positive_real(gamma, "gamma")
        if not isinstance(n_samples, Integral) or isinstance(n_samples, bool):
            raise TypeError(f"NonlocalGD: n_samples must be an int, got {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(f"NonlocalGD: n_samples must be >= 1, got {n_samples}.")
        _check_option(distribution, "distribution", DISTRIBUTIONS)
        _check_option(sampler, "sampler", SAMPLERS)
        _check_option(perturbation, "perturbation", PERTURBATIONS)
        _check_momentum(momentum)
        if not isinstance(normalize, bool | np.bool_):
            raise TypeError(
                f"NonlocalGD: normalize must be True or False, got {normalize!r}."
            )

        defaults = {
            "lr": lr,
            "momentum": momentum,
            "gamma": gamma,
            "n_samples": int(n_samples),
            "distribution": distribution,
            "sampler": sampler,
            "perturbation": perturbation,
            "normalize": bool(normalize),
        }
        super().__init__(params, defaults)
        n_params = sum(p.numel() for p in self._trainable_params())
        if sampler == "qmc" and n_params + 1 > SOBOL_MAX_DIM:
            raise ValueError(
                f"NonlocalGD: sampler='qmc' needs a Sobol sequence of dimension "
                f"d + 1 = {n_params + 1}, but scipy supports at most "
                f"{SOBOL_MAX_DIM}. Use sampler='antithetic' or 'orthogonal'."
            )
        self.device = None if device is None else torch.device(device)
        # Kept in the state so that state_dict() and load_state_dict() resume
        # the same sequence of perturbations.
        self.state["seed"] = _draw_seed(generator)
        self.state["step"] = 0

    def add_param_group(self, param_group):
        """Add a parameter group after checking its ``lr`` and ``momentum``."""
        for name in _SHARED_OPTIONS:
            if name in param_group and param_group[name] != self.defaults[name]:
                raise ValueError(
                    f"NonlocalGD: a parameter group sets {name}="
                    f"{param_group[name]!r}, but {name} is shared by all groups "
                    "because one estimate covers every parameter. Pass it to "
                    "NonlocalGD(...) instead."
                )
        if "lr" in param_group:
            _check_learning_rate(param_group["lr"])
        if "momentum" in param_group:
            _check_momentum(param_group["momentum"])
        super().add_param_group(param_group)

    def step(self, closure=None):
        """Take one step along the nonlocal gradient estimate.

        Parameters
        ----------
        closure : callable
            Function of no arguments that evaluates the model and returns the
            loss (a scalar tensor or a float), without calling ``backward``.

        Returns
        -------
        loss : torch.Tensor or float
            The closure's output at the parameters before the step.

        Notes
        -----
        The parameters that require gradients are collected at every step, so
        freezing or unfreezing one between steps takes effect at the next
        step. With no such parameter the step only evaluates the loss.
        """
        if closure is None:
            raise ValueError(
                "NonlocalGD.step needs a closure that returns the loss: the "
                "estimate evaluates the loss at N + 1 parameter vectors."
            )
        params = self._trainable_params()
        n_params = sum(p.numel() for p in params)
        if n_params == 0:
            with torch.no_grad():
                loss = _call_closure(closure)
            self.state["loss"] = _loss_value(loss, "the current parameters")
            self.state["estimate_norm"] = 0.0
            self.state["step"] += 1
            return loss
        deltas, squared_norms = self._draw(params, n_params)

        loss, base, perturbed = self._evaluate(closure, params, deltas)

        scale = n_params if self.defaults["normalize"] else 1
        weights = scale * (perturbed - base) / squared_norms / deltas.shape[0]
        estimate = weights @ deltas
        self._update(estimate)

        self.state["loss"] = base
        self.state["estimate_norm"] = float(torch.linalg.vector_norm(estimate))
        self.state["step"] += 1
        return loss

    def _trainable_params(self):
        """Return the parameters of all groups that require gradients, in order."""
        return [
            p for group in self.param_groups for p in group["params"] if p.requires_grad
        ]

    def _draw(self, params, n_params):
        """Return the perturbations of this step, rounded to each parameter's dtype.

        Returns
        -------
        deltas : torch.Tensor of shape (N, d), float64
        squared_norms : torch.Tensor of shape (N,), float64
        """
        options = self.defaults
        seed = np.random.SeedSequence([self.state["seed"], self.state["step"]])
        sampler = PerturbationSampler(
            n_params,
            options["n_samples"],
            options["distribution"],
            options["sampler"],
            options["perturbation"],
            int(seed.generate_state(1, dtype=np.uint64)[0] >> 1),
        )
        deltas, _ = draw_perturbations(
            sampler, 0, options["n_samples"], options["gamma"], torch.float64
        )

        # The estimate divides by the norm of the perturbation actually applied,
        # which for float32 parameters is the rounded one.
        pieces = torch.split(deltas, [p.numel() for p in params], dim=1)
        deltas = torch.cat(
            [piece.to(p.dtype).double() for piece, p in zip(pieces, params)], dim=1
        )
        # NOTE: parameters or a device on CUDA are supported by these moves,
        # but no test has run them on a GPU.
        deltas = deltas.to(self.device or params[0].device)
        squared_norms = torch.sum(deltas**2, dim=1)
        if torch.any(squared_norms == 0):
            raise ValueError(
                f"NonlocalGD: gamma={options['gamma']!r} is so small that a "
                "perturbation rounds to zero in the parameters' dtype. Use a "
                "larger gamma or float64 parameters."
            )
        return deltas, squared_norms

    @torch.no_grad()
    def _evaluate(self, closure, params, deltas):
        """Evaluate the closure at theta and at each theta + Delta_k.

        Returns the closure's output at theta, that loss as a float and the
        perturbed losses as a float64 tensor of shape (N,) on the device of
        ``deltas``.
        """
        saved = [p.detach().clone() for p in params]
        numels = [p.numel() for p in params]

        loss = _call_closure(closure)
        base = _loss_value(loss, "the current parameters")
        perturbed = torch.empty(deltas.shape[0], dtype=torch.float64)
        try:
            for k, delta in enumerate(deltas):
                pieces = torch.split(delta, numels)
                for p, theta, piece in zip(params, saved, pieces):
                    shift = piece.view(p.shape).to(dtype=p.dtype, device=p.device)
                    p.copy_(theta + shift)
                perturbed[k] = _loss_value(_call_closure(closure), f"perturbation {k}")
        finally:
            for p, theta in zip(params, saved):
                p.copy_(theta)
        return loss, base, perturbed.to(deltas.device)

    @torch.no_grad()
    def _update(self, estimate):
        offset = 0
        for group in self.param_groups:
            for p in group["params"]:
                if not p.requires_grad:
                    continue
                piece = estimate[offset : offset + p.numel()].view(p.shape)
                direction = piece.to(dtype=p.dtype, device=p.device)
                offset += p.numel()

                if group["momentum"] > 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = direction.clone()
                    else:
                        buffer = state["momentum_buffer"]
                        buffer.mul_(group["momentum"]).add_(direction)
                    direction = state["momentum_buffer"]
                p.sub_(group["lr"] * direction)


def _call_closure(closure):
    """Call the closure, explaining the error that ``backward`` raises under no_grad."""
    try:
        return closure()
    except RuntimeError as error:
        if "does not require grad" not in str(error):
            raise
        raise RuntimeError(
            "NonlocalGD: the closure called backward (or torch.autograd.grad), "
            "which fails because NonlocalGD evaluates the closure under "
            "torch.no_grad(). Return the "
            "loss without calling backward or zero_grad, for example "
            "`lambda: loss_fn(model(X), y)`."
        ) from error


def _loss_value(loss, where):
    """Return a closure's loss as a float, rejecting non-scalar or non-finite ones."""
    if torch.is_tensor(loss):
        if loss.numel() != 1:
            raise ValueError(
                "NonlocalGD: the closure must return a scalar loss, got a tensor "
                f"of shape {tuple(loss.shape)} at {where}. Reduce it, for example "
                "with .mean()."
            )
        value = float(loss.detach())
    else:
        value = float(loss)
    if not math.isfinite(value):
        raise ValueError(
            f"NonlocalGD: the closure returned a non-finite loss {value!r} at "
            f"{where}. Check the model, or use a smaller gamma."
        )
    return value


def _draw_seed(generator):
    if generator is None:
        return int(torch.randint(0, 2**62, (1,)).item())
    if isinstance(generator, torch.Generator):
        return int(torch.randint(0, 2**62, (1,), generator=generator).item())
    if isinstance(generator, Integral) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(
                f"NonlocalGD: generator must be a non-negative seed, got {generator}."
            )
        return int(generator)
    raise TypeError(
        "NonlocalGD: generator must be None, an int seed or a torch.Generator, "
        f"got {type(generator).__name__}."
    )


def _check_learning_rate(lr):
    if not isinstance(lr, Real) or isinstance(lr, bool):
        raise TypeError(f"NonlocalGD: lr must be a real number, got {lr!r}.")
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(f"NonlocalGD: lr must be a finite number >= 0, got {lr!r}.")


def _check_positive_real(value, name):
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"NonlocalGD: {name} must be a real number, got {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"NonlocalGD: {name} must be a finite number > 0, got {value!r}."
        )


def _check_momentum(momentum):
    if not isinstance(momentum, Real) or isinstance(momentum, bool):
        raise TypeError(
            f"NonlocalGD: momentum must be a real number, got {momentum!r}."
        )
    if not 0 <= momentum < 1:
        raise ValueError(f"NonlocalGD: momentum must be in [0, 1), got {momentum!r}.")


def _check_option(value, name, accepted):
    if value not in accepted:
        raise ValueError(
            f"NonlocalGD: {name} must be one of {', '.join(map(repr, accepted))}; "
            f"got {value!r}."
        )
