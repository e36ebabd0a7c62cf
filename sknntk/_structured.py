"""Factored empirical NTK of the ``nn.Linear`` layers of a module.

A linear layer ``z = W h + b`` has ``df_j/dW = g_j h^T`` and ``df_j/db = g_j``,
where ``h`` is the layer's input and ``g_j = df_j/dz`` the gradient of output
``j`` with respect to the layer's output. Its contribution to the NTK is
therefore

.. math::

    K_l(x, x') = \\Big(\\sum_j g_j(x) \\cdot g_j(x')\\Big)
    \\big(h(x) \\cdot h(x')\\,[W\\ \\text{trainable}] + [b\\ \\text{trainable}]\\big),

which costs ``O(n n' (m * out + in))`` instead of the ``O(n n' m * in * out)`` of
contracting the Jacobian of ``W``. One forward pass records ``h`` with forward
hooks and adds a zero "probe" to each layer's output. The gradient of
``f_j(X).sum()`` with respect to the probe is ``g_j`` for every row at once,
because the rows of a module in evaluation mode do not interact.

A layer is factored only when all of the following hold. Every other trainable
parameter goes to the generic Jacobian path of :mod:`sknntk._exact`.

- It is an ``nn.Linear`` that keeps ``nn.Linear.forward`` and has no
  parametrization, and at least one of its weight and bias is trainable.
- No other module registers its weight or bias (no tied weights).
- It runs exactly once per forward pass, on a ``(rows, in_features)`` input.
- On a few rows, its factored gradient of a random combination of the outputs
  matches the gradient that autograd computes one row at a time. This catches
  weights also used outside the layer and rows that interact.
"""

import logging
import math
import weakref
from collections import Counter
from dataclasses import dataclass

import torch
from torch.func import functional_call

logger = logging.getLogger(__name__)

# Rows of the input on which each candidate layer is checked against autograd.
_VERIFY_ROWS = 3

# Plans are cached per module, and hold names only, so a cached plan never keeps
# its module alive.
_PLANS = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LinearLayer:
    """An ``nn.Linear`` layer whose NTK contribution is computed in factored form.

    Attributes
    ----------
    module_name : str
        Qualified name of the layer in the module (``""`` for the module itself).
    weight_name, bias_name : str or None
        Names of the trainable weight and bias in ``fmodel.names``; None when the
        parameter is frozen or absent.
    in_features, out_features : int
    """

    module_name: str
    weight_name: str | None
    bias_name: str | None
    in_features: int
    out_features: int

    @property
    def parameter_names(self):
        return [name for name in (self.weight_name, self.bias_name) if name]


class StructuredPlan:
    """The factored layers of a module and the trainable parameters left over.

    Parameters
    ----------
    layers : list of LinearLayer
    generic_names : list of str
        Trainable parameters outside the factored layers, in ``fmodel.names``
        order.
    """

    def __init__(self, layers, generic_names):
        self.layers = list(layers)
        self.generic_names = list(generic_names)

    def __repr__(self):
        names = [layer.module_name for layer in self.layers]
        return f"StructuredPlan(layers={names}, generic_names={self.generic_names})"

    def feature_width(self, n_outputs):
        """Return the number of scalars :meth:`features` stores per row."""
        return sum(
            n_outputs * layer.out_features + layer.in_features + 1
            for layer in self.layers
        )

    def features(self, fmodel, rows):
        """Return the per-layer factors ``(G, H)`` of ``rows`` for :func:`contract`.

        ``G`` has shape ``(r, m * out_features)`` and contains ``g_j`` for every
        output ``j``. ``H`` has shape ``(r, in_features)``, with a column of ones
        appended when the bias is trainable too, or is None when only the bias
        is trainable.
        """
        inputs, grads, _ = _capture(fmodel, self.layers, rows)
        factors = []
        for layer, h, g in zip(self.layers, inputs, grads):
            G = g.reshape(rows.shape[0], -1)
            if layer.weight_name is None:
                factors.append((G, None))
                continue
            if layer.bias_name is not None:
                h = torch.cat([h, torch.ones_like(h[:, :1])], dim=1)
            factors.append((G, h))
        return factors


def contract(factors_a, factors_b):
    """Return the factored NTK block between two sets of rows, ``(r_a, r_b)``."""
    block = None
    for (G_a, H_a), (G_b, H_b) in zip(factors_a, factors_b):
        term = G_a @ G_b.T
        if H_a is not None:
            term *= H_a @ H_b.T
        block = term if block is None else block.add_(term)
    return block


def plan_structured(fmodel, rows):
    """Return the :class:`StructuredPlan` of ``fmodel``, checked on ``rows``.

    The plan is cached per module, so later calls ignore ``rows``.
    """
    plan = _PLANS.get(fmodel.module)
    if plan is not None:
        return plan

    layers = _candidate_layers(fmodel)
    rows = rows[:_VERIFY_ROWS]
    if layers and rows.shape[0] > 0:
        layers = _verified_layers(fmodel, layers, rows)
    else:
        layers = []
    factored = {name for layer in layers for name in layer.parameter_names}
    plan = StructuredPlan(layers, [n for n in fmodel.names if n not in factored])
    _PLANS[fmodel.module] = plan
    logger.debug("factored NTK plan: %r", plan)
    return plan


def _candidate_layers(fmodel):
    """Return the linear layers that pass the checks made without a forward pass."""
    trainable = set(fmodel.names)
    owners = Counter()
    for module in fmodel.module.modules():
        for param in module._parameters.values():
            if param is not None:
                owners[id(param)] += 1

    layers = []
    for module_name, module in fmodel.module.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if type(module).forward is not torch.nn.Linear.forward:
            continue
        if torch.nn.utils.parametrize.is_parametrized(module):
            continue
        own = [p for p in module._parameters.values() if p is not None]
        if any(owners[id(p)] > 1 for p in own):
            continue
        prefix = f"{module_name}." if module_name else ""
        weight_name = f"{prefix}weight"
        bias_name = f"{prefix}bias" if module.bias is not None else None
        layer = LinearLayer(
            module_name,
            weight_name if weight_name in trainable else None,
            bias_name if bias_name in trainable else None,
            module.in_features,
            module.out_features,
        )
        if layer.parameter_names:
            layers.append(layer)
    return layers


def _capture(fmodel, layers, rows):
    """Run one forward pass and return the layer inputs and output gradients.

    Returns ``inputs`` (each ``(r, in_features)``), ``grads`` (each
    ``(r, m, out_features)``) and ``valid``, a flag per layer that is False when
    the layer ran more than once or on an input that is not ``(r, in_features)``.
    The entries of a layer that is not valid are meaningless.
    """
    n_rows = rows.shape[0]
    probes = [
        torch.zeros(
            n_rows, layer.out_features, dtype=rows.dtype, device=rows.device
        ).requires_grad_()
        for layer in layers
    ]
    inputs = [None] * len(layers)
    calls = [0] * len(layers)

    def make_hook(index):
        def hook(_module, args, output):
            calls[index] += 1
            h = args[0] if args else None
            shape_ok = (
                isinstance(h, torch.Tensor)
                and h.dim() == 2
                and h.shape[0] == n_rows
                and output.shape == probes[index].shape
            )
            if calls[index] > 1 or not shape_ok:
                return None
            inputs[index] = h.detach()
            return output + probes[index]

        return hook

    modules = [fmodel.module.get_submodule(layer.module_name) for layer in layers]
    handles = [m.register_forward_hook(make_hook(i)) for i, m in enumerate(modules)]
    try:
        with torch.enable_grad():
            out = fmodel._call(fmodel.theta, rows)
    finally:
        for handle in handles:
            handle.remove()

    valid = [count == 1 and h is not None for count, h in zip(calls, inputs)]
    inputs = [
        h if ok else torch.zeros(n_rows, layer.in_features, dtype=rows.dtype)
        for h, ok, layer in zip(inputs, valid, layers)
    ]
    n_outputs = out.shape[1]
    per_output = []
    for j in range(n_outputs):
        if out.requires_grad:
            grads = torch.autograd.grad(
                out[:, j].sum(),
                probes,
                retain_graph=j + 1 < n_outputs,
                allow_unused=True,
            )
        else:
            grads = [None] * len(probes)
        per_output.append(
            [torch.zeros_like(p) if g is None else g for g, p in zip(grads, probes)]
        )
    grads = [
        torch.stack([per_output[j][i] for j in range(n_outputs)], dim=1).detach()
        for i in range(len(layers))
    ]
    return inputs, grads, valid


def _verified_layers(fmodel, layers, rows):
    """Keep the layers whose factored gradients match autograd row by row.

    NOTE: the check runs on at most three rows, so a module whose rows interact
    only for some inputs can pass it and get a batched, wrong kernel.
    """
    inputs, grads, valid = _capture(fmodel, layers, rows)
    n_rows, n_outputs = rows.shape[0], grads[0].shape[1]
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(n_rows, n_outputs, generator=generator, dtype=rows.dtype)
    weights = weights.to(rows.device)

    names = [name for layer in layers for name in layer.parameter_names]
    reference = _rowwise_gradients(fmodel, names, rows, weights)
    tolerance = math.sqrt(torch.finfo(rows.dtype).eps)

    verified = []
    for layer, h, g, ok in zip(layers, inputs, grads, valid):
        if not ok:
            logger.debug("layer %r runs more than once or on a non-2-D input", layer)
            continue
        combined = torch.einsum("rmo,rm->ro", g, weights)
        factored = {}
        if layer.weight_name is not None:
            factored[layer.weight_name] = combined[:, :, None] * h[:, None, :]
        if layer.bias_name is not None:
            factored[layer.bias_name] = combined
        if all(_close(factored[name], reference[name], tolerance) for name in factored):
            verified.append(layer)
        else:
            logger.debug("layer %r: factored gradient differs from autograd", layer)
    return verified


def _rowwise_gradients(fmodel, names, rows, weights):
    """Return ``grad (weights[i] . f(rows[i]))`` per parameter, one row at a time."""
    params = fmodel.unflatten(fmodel.theta)
    leaves = {name: params[name].detach().clone().requires_grad_() for name in names}
    params.update(leaves)
    gradients = {name: [] for name in names}
    for i in range(rows.shape[0]):
        with torch.enable_grad():
            out = functional_call(
                fmodel.module, (params, fmodel.buffers), (rows[i : i + 1],)
            )
            total = (out.reshape(-1) * weights[i]).sum()
            grads = torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
        for name, grad in zip(names, grads):
            grad = torch.zeros_like(leaves[name]) if grad is None else grad
            gradients[name].append(grad.detach())
    return {name: torch.stack(values) for name, values in gradients.items()}


def _close(factored, reference, tolerance):
    scale = float(reference.abs().max())
    error = float((factored - reference).abs().max())
    return error <= tolerance * max(scale, torch.finfo(reference.dtype).tiny)
