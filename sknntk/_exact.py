"""The exact empirical neural tangent kernel, computed with :mod:`torch.func`.

``K(x, x') = sum_j grad_theta f_j(x) . grad_theta f_j(x')``, the trace over the
``m`` outputs, returned as an ``(n_X, n_Y)`` array of ``fmodel.dtype``.

The trainable parameters are split between two paths, whose blocks add up:

1. **Factored linear layers** (:mod:`sknntk._structured`). An ``nn.Linear``
   layer contributes ``(sum_j g_j(x) . g_j(x')) (h(x) . h(x') + 1)`` from its
   input ``h`` and output gradients ``g_j``: one forward and ``m`` backward
   passes per row chunk, then ``O(n_X n_Y (m * out + in))`` per layer. Memory:
   ``m * out + in + 1`` scalars per row and layer. Layers with tied weights,
   layers run more than once and layers that fail a check against autograd go
   to the generic path.
2. **Generic path**, for every other trainable parameter (``d_g`` scalars):

   - *Jacobian contraction*: ``vmap(jacrev)`` Jacobians of row chunks, then
     ``J(X) J(Y)^T``. Cost ``O((n_X + n_Y) m)`` backward passes plus
     ``O(n_X n_Y m d_g)``. A chunk contains ``budget / (4 m d_g itemsize)`` rows,
     the factor 4 leaving room for the intermediates of ``jacrev``. The
     Jacobians of ``Y`` are kept between chunks of ``X`` when they fit in
     ``budget``, and recomputed otherwise.
   - *NTK-vector products*: for a batch of ``k`` pairs (row ``y`` of ``Y``,
     output ``j``), ``v = J(y)^T e_j`` by ``vjp``, then ``J(X) v`` by ``jvp``
     over chunks of ``X``. The Jacobian is never stored: memory is ``k d_g``
     for the vectors plus ``k`` times the activations of one chunk of ``X``.
     Cost ``O(n_Y m)`` backward passes plus ``O(n_X n_Y m)`` forward-mode
     passes.

   The contraction is used when the Jacobian of one row fits in the budget
   (``4 m d_g itemsize <= budget``), and NTK-vector products otherwise.

The generic path evaluates each row on its own. The factored path batches rows,
after checking on the first rows that batching leaves the gradients unchanged,
so a module whose rows interact gets the kernel of one row at a time. Modules
that :func:`torch.func.vmap` cannot batch (for example ones that call
``.item()``) fall back to one row at a time with :mod:`torch.autograd`, which
gives the same kernel more slowly.
"""

import logging
import math
import time
import warnings

import torch
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from sknntk._functional import _first_line, _is_vmap_error
from sknntk._montecarlo import DEFAULT_CHUNK_BYTES
from sknntk._structured import contract, plan_structured
from sknntk.exceptions import VmapFallbackWarning

logger = logging.getLogger(__name__)

# Bytes per Jacobian scalar, relative to the Jacobian itself, that ``jacrev``
# needs while building a chunk.
_JACOBIAN_OVERHEAD = 4
GENERIC_METHODS = ("auto", "contraction", "ntk-vp")


class ParameterSubset:
    """The module as a function of some of its trainable parameters.

    Parameters
    ----------
    fmodel : FunctionalModel
    names : list of str
        Trainable parameters that vary, in ``fmodel.names`` order; the others
        stay at ``fmodel.theta``.

    Attributes
    ----------
    theta : torch.Tensor of shape (d_g,)
        The varying parameters, flattened.
    """

    def __init__(self, fmodel, names):
        self.fmodel = fmodel
        index = {name: i for i, name in enumerate(fmodel.names)}
        self.names = list(names)
        self.shapes = [fmodel.shapes[index[name]] for name in self.names]
        self.numels = [fmodel.numels[index[name]] for name in self.names]
        self.n_params = sum(self.numels)
        params = fmodel.unflatten(fmodel.theta)
        self.theta = torch.cat([params[name].reshape(-1) for name in self.names])
        varying = set(self.names)
        self.fixed = {k: v for k, v in params.items() if k not in varying}

    def __call__(self, flat, X):
        """Return ``f(X)`` of shape ``(n, m)`` with the subset set to ``flat``."""
        params = dict(self.fixed)
        pieces = torch.split(flat, self.numels)
        for name, piece, shape in zip(self.names, pieces, self.shapes):
            params[name] = piece.view(shape)
        module = self.fmodel.module
        out = functional_call(module, (params, self.fmodel.buffers), (X,))
        return out.reshape(X.shape[0], -1)

    def single(self, flat, x):
        """Return ``f(x)`` of shape ``(m,)`` for one row ``x``."""
        return self(flat, x[None])[0]


def _itemsize(fmodel):
    return torch.finfo(fmodel.dtype).bits // 8


def _bounds(n_rows, chunk):
    return [(lo, min(lo + chunk, n_rows)) for lo in range(0, n_rows, chunk)]


def _disable_vmap(fmodel, exc):
    logger.debug("vmap failed (%s); computing one row at a time", exc)
    fmodel.uses_vmap = False
    warnings.warn(
        "The model cannot be batched with torch.func.vmap "
        f"({_first_line(exc)}); its Jacobians are computed one row at a time, "
        "which is slower but gives the same kernel.",
        VmapFallbackWarning,
        stacklevel=2,
    )


# ------------------------------------------------------------ Jacobians


def _subset_jacobian(subset, rows):
    """Return the Jacobian of ``subset`` at ``rows``, shape ``(r, m, d_g)``."""
    fmodel = subset.fmodel
    if fmodel.uses_vmap:
        try:
            jac = vmap(jacrev(subset.single), in_dims=(None, 0))(subset.theta, rows)
            return jac.detach()
        except RuntimeError as exc:
            if not _is_vmap_error(exc):
                raise
            _disable_vmap(fmodel, exc)
    jacobians = [
        torch.autograd.functional.jacobian(
            lambda t, x=x: subset.single(t, x), subset.theta
        )
        for x in rows
    ]
    return torch.stack(jacobians).detach()


def _jacobian_rows(fmodel, rows):
    """Return the Jacobian of ``f`` at ``rows`` w.r.t. ``theta``, shape (r, m, d)."""
    return _subset_jacobian(ParameterSubset(fmodel, fmodel.names), rows)


def jacobian_row_chunk(fmodel, n_outputs, budget=None):
    """Return how many rows of Jacobians fit in the memory budget."""
    budget = DEFAULT_CHUNK_BYTES if budget is None else budget
    per_row = _JACOBIAN_OVERHEAD * n_outputs * fmodel.n_params * _itemsize(fmodel)
    return max(1, int(budget // per_row))


def jacobian(fmodel, X, row_chunk):
    """Return the Jacobians of every row of ``X``, shape (n, m, d)."""
    subset = ParameterSubset(fmodel, fmodel.names)
    pieces = [
        _subset_jacobian(subset, X[first : first + row_chunk])
        for first in range(0, X.shape[0], row_chunk)
    ]
    return torch.cat(pieces)


def _contract_jacobians(jac_a, jac_b):
    return jac_a.reshape(jac_a.shape[0], -1) @ jac_b.reshape(jac_b.shape[0], -1).T


# ------------------------------------------------------- block drivers


def _accumulate_blocks(gram, X, Y, symmetric, chunk, featurize, contract_fn, cache):
    """Add ``contract_fn(featurize(X_a), featurize(Y_b))`` to every block of ``gram``.

    With ``symmetric`` (``Y is X``) only the blocks on and below the diagonal
    are computed, and mirrored. With ``cache`` the features of ``Y`` are kept
    between chunks of ``X`` instead of recomputed.
    """
    stored = {}

    def y_features(lo, hi):
        if (lo, hi) in stored:
            return stored[(lo, hi)]
        features = featurize(Y[lo:hi])
        if cache:
            stored[(lo, hi)] = features
        return features

    y_bounds = _bounds(Y.shape[0], chunk)
    for lo_x, hi_x in _bounds(X.shape[0], chunk):
        x_features = featurize(X[lo_x:hi_x])
        if symmetric and cache:
            stored[(lo_x, hi_x)] = x_features
        for lo_y, hi_y in y_bounds:
            if symmetric and lo_y > lo_x:
                break
            if symmetric and lo_y == lo_x:
                y_feat = x_features
            else:
                y_feat = y_features(lo_y, hi_y)
            block = contract_fn(x_features, y_feat).to(gram.device)
            gram[lo_x:hi_x, lo_y:hi_y] += block
            if symmetric and lo_y != lo_x:
                gram[lo_y:hi_y, lo_x:hi_x] += block.T


def _pullbacks(subset, rows, cotangents):
    """Return ``J(rows[i])^T cotangents[i]`` for every ``i``, shape ``(k, d_g)``."""
    fmodel = subset.fmodel

    def pullback(x, cotangent):
        _, vjp_fn = vjp(lambda t: subset.single(t, x), subset.theta)
        return vjp_fn(cotangent)[0]

    if fmodel.uses_vmap:
        try:
            return vmap(pullback)(rows, cotangents).detach()
        except RuntimeError as exc:
            if not _is_vmap_error(exc):
                raise
            _disable_vmap(fmodel, exc)
    vectors = []
    for x, cotangent in zip(rows, cotangents):
        theta = subset.theta.detach().requires_grad_()
        with torch.enable_grad():
            out = subset.single(theta, x)
            (grad,) = torch.autograd.grad(out, theta, cotangent, allow_unused=True)
        vectors.append(torch.zeros_like(theta) if grad is None else grad)
    return torch.stack(vectors).detach()


def _pushforwards(subset, rows, tangents):
    """Return ``J(rows) v`` for every tangent ``v``, shape ``(k, r, m)``."""
    fmodel = subset.fmodel

    def pushforward(x, tangent):
        return jvp(lambda t: subset.single(t, x), (subset.theta,), (tangent,))[1]

    if fmodel.uses_vmap:
        try:
            per_tangent = vmap(pushforward, in_dims=(0, None))
            return vmap(per_tangent, in_dims=(None, 0))(rows, tangents).detach()
        except RuntimeError as exc:
            if not _is_vmap_error(exc):
                raise
            _disable_vmap(fmodel, exc)
    products = [
        torch.stack(
            [
                torch.autograd.functional.jvp(
                    lambda t, x=x: subset.single(t, x), subset.theta, tangent
                )[1]
                for x in rows
            ]
        )
        for tangent in tangents
    ]
    return torch.stack(products).detach()


def _accumulate_ntk_vector_products(gram, subset, X, Y, symmetric, n_outputs, plan):
    """Add the generic NTK to ``gram`` without storing any Jacobian.

    ``plan`` is ``(pairs_per_batch, x_rows)``. Pair ``p`` is row
    ``p // m`` of ``Y`` and output ``p % m``.
    """
    pair_batch, x_rows = plan
    n_pairs = Y.shape[0] * n_outputs
    identity = torch.eye(n_outputs, dtype=X.dtype, device=X.device)
    for first in range(0, n_pairs, pair_batch):
        pairs = torch.arange(first, min(first + pair_batch, n_pairs))
        y_index, outputs = pairs // n_outputs, pairs % n_outputs
        vectors = _pullbacks(subset, Y[y_index], identity[outputs])

        # By symmetry only the rows of X at or after the first y row are needed.
        x_start = int(y_index[0]) if symmetric else 0
        for lo, hi in _bounds(X.shape[0] - x_start, x_rows):
            lo, hi = lo + x_start, hi + x_start
            products = _pushforwards(subset, X[lo:hi], vectors)
            values = products[torch.arange(len(pairs)), :, outputs].to(gram.device)
            if not symmetric:
                gram[lo:hi].index_add_(1, y_index, values.T)
                continue
            x_index = torch.arange(lo, hi)
            lower = x_index[None, :] >= y_index[:, None]
            strict = x_index[None, :] > y_index[:, None]
            gram[lo:hi].index_add_(1, y_index, (values * lower).T)
            gram[:, lo:hi].index_add_(0, y_index, values * strict)


# ----------------------------------------------------------- exact NTK


def _structured_row_chunk(fmodel, plan, n_outputs, activations, budget):
    """Return rows per chunk of the factored path within ``budget`` bytes."""
    itemsize = _itemsize(fmodel)
    per_row = (plan.feature_width(n_outputs) + 3 * activations) * itemsize
    by_features = budget // (2 * per_row)
    # Each block needs about three (r, r) temporaries.
    by_block = math.isqrt(budget // (2 * 3 * itemsize))
    return max(1, min(by_features, by_block))


def choose_generic_method(fmodel, n_params, n_outputs, budget=None):
    """Return ``"contraction"`` or ``"ntk-vp"`` for ``n_params`` generic scalars.

    The contraction is chosen when the Jacobian of one row,
    ``4 * m * d_g * itemsize`` bytes with room for ``jacrev``, fits in
    ``budget``.
    """
    budget = DEFAULT_CHUNK_BYTES if budget is None else budget
    per_row = _JACOBIAN_OVERHEAD * n_outputs * n_params * _itemsize(fmodel)
    return "contraction" if per_row <= budget else "ntk-vp"


def _ntk_vp_plan(fmodel, n_params, n_pairs, activations, budget, row_chunk):
    """Return ``(pairs_per_batch, x_rows)`` for the NTK-vector products."""
    itemsize = _itemsize(fmodel)
    pair_batch = max(1, min(n_pairs, budget // (2 * n_params * itemsize)))
    if row_chunk is not None:
        return pair_batch, int(row_chunk)
    per_row = 4 * pair_batch * activations * itemsize
    return pair_batch, max(1, budget // (2 * per_row))


def exact_ntk(
    fmodel,
    X,
    Y,
    row_chunk=None,
    cache_Y=True,
    *,
    structured=True,
    generic="auto",
    budget=None,
):
    """Return the empirical NTK ``K(X, Y)`` of shape ``(n_X, n_Y)`` as numpy.

    Parameters
    ----------
    fmodel : FunctionalModel
    X, Y : torch.Tensor of shape (n_X, n_features) and (n_Y, n_features)
        ``Y`` may be ``X`` (the same object), which halves the work.
    row_chunk : int or None, default=None
        Rows per chunk on every path. None picks each path's chunk from
        ``budget``.
    cache_Y : bool, default=True
        Keep the per-row factors or Jacobians of ``Y`` between chunks of
        ``X``. Generic Jacobians are kept only when all of them fit in
        ``budget``.
    structured : bool, default=True
        Factor the ``nn.Linear`` layers. False sends every parameter to the
        generic path.
    generic : {"auto", "contraction", "ntk-vp"}, default="auto"
        Method of the generic path; "auto" follows the rule in the module
        docstring.
    budget : int or None, default=None
        Bytes that one chunk may use; None means
        ``sknntk._montecarlo.DEFAULT_CHUNK_BYTES``.

    Returns
    -------
    K : ndarray of shape (n_X, n_Y)
        Of the numpy dtype that matches ``fmodel.dtype``.
    """
    if generic not in GENERIC_METHODS:
        raise ValueError(f"generic must be one of {GENERIC_METHODS}, got {generic!r}.")
    budget = DEFAULT_CHUNK_BYTES if budget is None else int(budget)
    tic = time.perf_counter()
    symmetric = Y is X
    n_x, n_y = X.shape[0], Y.shape[0]
    gram = torch.zeros((n_x, n_y), dtype=fmodel.dtype)
    if n_x == 0 or n_y == 0:
        return gram.numpy()

    rows = X if symmetric else torch.cat([X[:2], Y[:2]])
    n_outputs = fmodel.forward(rows[:1]).shape[1]
    activations = fmodel.activation_size(rows)
    if structured:
        plan = plan_structured(fmodel, rows)
        layers, generic_names = plan.layers, plan.generic_names
    else:
        layers, generic_names = [], list(fmodel.names)

    if layers:
        chunk = row_chunk or _structured_row_chunk(
            fmodel, plan, n_outputs, activations, budget
        )
        factor_bytes = plan.feature_width(n_outputs) * _itemsize(fmodel)
        cache = cache_Y and n_y * factor_bytes <= budget
        _accumulate_blocks(
            gram,
            X,
            Y,
            symmetric,
            int(chunk),
            lambda part: plan.features(fmodel, part),
            contract,
            cache,
        )
        logger.debug(
            "factored %d linear layers in chunks of %d rows", len(layers), chunk
        )

    if generic_names:
        subset = ParameterSubset(fmodel, generic_names)
        method = generic
        if method == "auto":
            method = choose_generic_method(fmodel, subset.n_params, n_outputs, budget)
        jacobian_bytes = n_outputs * subset.n_params * _itemsize(fmodel)
        if method == "contraction":
            chunk = row_chunk or max(1, budget // (_JACOBIAN_OVERHEAD * jacobian_bytes))
            cache = cache_Y and n_y * jacobian_bytes <= budget
            _accumulate_blocks(
                gram,
                X,
                Y,
                symmetric,
                int(chunk),
                lambda part: _subset_jacobian(subset, part),
                _contract_jacobians,
                cache,
            )
        else:
            ntk_vp_plan = _ntk_vp_plan(
                fmodel,
                subset.n_params,
                n_y * n_outputs,
                activations,
                budget,
                row_chunk,
            )
            _accumulate_ntk_vector_products(
                gram, subset, X, Y, symmetric, n_outputs, ntk_vp_plan
            )
        logger.debug("generic path (%s) for %d parameters", method, subset.n_params)

    logger.debug("exact NTK %d x %d: %.3f s", n_x, n_y, time.perf_counter() - tic)
    return gram.numpy()
