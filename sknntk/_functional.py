"""A frozen, functional view of a torch module with a flat parameter vector.

The kernels never write into a module: they evaluate it through
:func:`torch.func.functional_call` with parameter tensors of their own. Because
``functional_call`` swaps the module's attributes for the duration of a call,
one module instance must not be shared by threads; every parallel task works on
its own copy (see :meth:`FunctionalModel.copy`).
"""

import copy
import math
import re
import warnings

import numpy as np
import torch
from torch.func import functional_call, vmap

from sknntk.exceptions import TrainingModeWarning, VmapFallbackWarning

_STATEFUL_TRAINING_LAYERS = (
    torch.nn.modules.dropout._DropoutNd,
    torch.nn.modules.batchnorm._NormBase,
)

_SHAPE_ERROR = re.compile(r"shapes? cannot be multiplied|size mismatch|must match")


def resolve_dtype(dtype):
    """Return the torch dtype named by ``"float32"`` or ``"float64"``."""
    return {"float32": torch.float32, "float64": torch.float64}[dtype]


def as_tensor(X, dtype):
    """Return ``X`` as a CPU tensor of ``dtype``, copied when numpy forbids writes."""
    array = np.asarray(X)
    if not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array, dtype=dtype)


def resolve_devices(device):
    """Return a list of torch devices from a name, a device or a list of them."""
    names = list(device) if isinstance(device, list | tuple) else [device]
    try:
        devices = [torch.device(name) for name in names]
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device ({_first_line(exc)}). Use "
            "'cpu', 'cuda', 'cuda:N' or a list of them."
        ) from exc
    for d in devices:
        if d.type not in ("cpu", "cuda", "mps"):
            raise ValueError(
                f"device={device!r} is not supported: sknntk runs its forward "
                "passes on 'cpu', 'cuda' (or 'cuda:N') and 'mps' devices."
            )
        if d.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} asks for CUDA, but torch.cuda.is_available() "
                "is False on this machine. Use device='cpu'."
            )
    return devices


def _first_linear_width(module):
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            return layer.in_features
    return None


class FunctionalModel:
    """A module frozen at parameters ``theta`` and evaluated functionally.

    Parameters
    ----------
    module : torch.nn.Module
        The module. It is deep-copied, converted to ``dtype`` and put in
        evaluation mode; the caller's module is never modified.
    dtype : torch.dtype

    Attributes
    ----------
    names : list of str
        Names of the trainable parameters, in ``named_parameters()`` order (tied
        parameters appear once).
    shapes : list of torch.Size
    n_params : int
        Number of trainable scalars ``d``.
    theta : torch.Tensor of shape (d,)
        The flattened parameters on the CPU.
    """

    def __init__(self, module, dtype):
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"model must be a torch.nn.Module, got {type(module).__name__}."
            )
        self.was_training = module.training
        self.module = copy.deepcopy(module).to(dtype=dtype, device="cpu").eval()
        self.dtype = dtype
        named = [
            (name, p) for name, p in self.module.named_parameters() if p.requires_grad
        ]
        if not named:
            raise ValueError(
                f"The model {type(module).__name__} has no trainable parameters "
                "(none with requires_grad=True), so its tangent kernel is zero. "
                "Pass a module with at least one trainable parameter."
            )
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.n_params = sum(self.numels)
        self.theta = torch.cat([p.detach().reshape(-1) for _, p in named])
        self.frozen = {
            name: p.detach()
            for name, p in self.module.named_parameters()
            if not p.requires_grad
        }
        self.buffers = {name: b for name, b in self.module.named_buffers()}
        self.uses_vmap = True
        self.device = torch.device("cpu")

    @property
    def has_training_layers(self):
        return any(
            isinstance(layer, _STATEFUL_TRAINING_LAYERS)
            for layer in self.module.modules()
        )

    def warn_if_training(self):
        """Warn when the original module was training with dropout or batch norm."""
        if self.was_training and self.has_training_layers:
            warnings.warn(
                "The model is in training mode and contains dropout or batch "
                "normalization. The kernel is computed in evaluation mode "
                "(model.eval()); the model's own training flag is left unchanged.",
                TrainingModeWarning,
                stacklevel=4,
            )

    def copy(self, device=None):
        """Return an independent copy, optionally moved to ``device``."""
        other = copy.copy(self)
        other.module = copy.deepcopy(self.module)
        device = torch.device("cpu") if device is None else torch.device(device)
        if device.type != "cpu":
            other.module = other.module.to(device)
        other.theta = self.theta.to(device)
        other.frozen = {k: v.to(device) for k, v in self.frozen.items()}
        other.buffers = {k: v.to(device) for k, v in other.module.named_buffers()}
        other.device = device
        return other

    def unflatten(self, flat):
        """Split a flat parameter vector into a name-to-tensor dictionary."""
        params = dict(self.frozen)
        for name, piece, shape in zip(
            self.names, torch.split(flat, self.numels), self.shapes
        ):
            params[name] = piece.view(shape)
        return params

    def _call(self, flat, X):
        out = functional_call(self.module, (self.unflatten(flat), self.buffers), (X,))
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"The model returned a {type(out).__name__}, but sknntk needs one "
                "tensor of shape (n_rows, ...) per forward pass. Wrap the model "
                "so that forward returns a tensor."
            )
        return out.reshape(X.shape[0], -1)

    def forward(self, X, flat=None):
        """Return ``f(X; theta)`` (or at ``flat``) with shape ``(n, m)``."""
        with torch.no_grad():
            return self._call(self.theta if flat is None else flat, X)

    def forward_batch(self, thetas, X):
        """Return ``f(X; thetas[k])`` for every row ``k``, shape ``(c, n, m)``.

        The evaluation is batched with :func:`torch.func.vmap`. Modules that vmap
        cannot batch (for example ones that call ``.item()``) are evaluated one
        parameter vector at a time after a :class:`VmapFallbackWarning`.
        """
        with torch.no_grad():
            if self.uses_vmap:
                try:
                    return vmap(self._call, in_dims=(0, None))(thetas, X)
                except RuntimeError as exc:
                    if not _is_vmap_error(exc):
                        raise
                    self.uses_vmap = False
                    warnings.warn(
                        "The model cannot be batched with torch.func.vmap "
                        f"({_first_line(exc)}); the perturbed forward passes run "
                        "one at a time, which is slower but gives the same kernel.",
                        VmapFallbackWarning,
                        stacklevel=2,
                    )
            return torch.stack([self._call(theta, X) for theta in thetas])

    def check_input(self, X):
        """Run one forward pass on a row of ``X`` and return the output width ``m``.

        Raises a ValueError naming both widths when the module rejects the
        number of features of ``X``.
        """
        try:
            out = self.forward(X[:1])
        except RuntimeError as exc:
            if not _SHAPE_ERROR.search(str(exc)):
                raise
            width = _first_linear_width(self.module)
            expected = f"{width} input features" if width else "a different width"
            raise ValueError(
                f"X has {X.shape[1]} features, but the model expects {expected} "
                f"(torch reported: {_first_line(exc)}). Pass X with the model's "
                "input width or a model built for this X."
            ) from exc
        if out.numel() == 0:
            raise ValueError("The model returned an empty output for one row of X.")
        if not torch.isfinite(out).all():
            raise ValueError(
                "The model's output at its own parameters is not finite. "
                "Check the model and its inputs."
            )
        return out.shape[1]

    def activation_size(self, X):
        """Estimate the number of scalars a forward pass stores per input row."""
        sizes = []

        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                sizes.append(output.numel())

        handles = [m.register_forward_hook(hook) for m in self.module.modules()]
        try:
            self.forward(X[:2])
        finally:
            for handle in handles:
                handle.remove()
        rows = min(2, X.shape[0])
        return max(1, math.ceil(sum(sizes) / rows))


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _is_vmap_error(exc):
    text = str(exc).lower()
    return any(word in text for word in ("vmap", "batched", "batching", ".item()"))
