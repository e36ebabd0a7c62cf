"""The exact empirical neural tangent kernel, computed with :mod:`torch.func`.

``K(x, x') = sum_j grad_theta f_j(x) . grad_theta f_j(x')``, the trace over the
``m`` outputs. Jacobians are computed in row chunks of at most
``budget / (m * d * itemsize)`` rows, so memory stays bounded whatever ``n``.
"""

import logging
import time

import numpy as np
import torch
from torch.func import jacrev, vmap

from sknntk._montecarlo import DEFAULT_CHUNK_BYTES

logger = logging.getLogger(__name__)


def _jacobian_rows(fmodel, rows):
    """Return the Jacobian of ``f`` at ``rows`` w.r.t. ``theta``, shape (r, m, d)."""

    def single(flat, x):
        return fmodel._call(flat, x[None])[0]

    if fmodel.uses_vmap:
        try:
            return vmap(jacrev(single), in_dims=(None, 0))(fmodel.theta, rows)
        except RuntimeError as exc:
            if "vmap" not in str(exc).lower() and ".item()" not in str(exc):
                raise
            fmodel.uses_vmap = False
    jacobians = [
        torch.autograd.functional.jacobian(lambda t, x=x: single(t, x), fmodel.theta)
        for x in rows
    ]
    return torch.stack(jacobians)


def jacobian_row_chunk(fmodel, n_outputs, budget=None):
    """Return how many rows of Jacobians fit in the memory budget."""
    budget = DEFAULT_CHUNK_BYTES if budget is None else budget
    itemsize = torch.finfo(fmodel.dtype).bits // 8
    per_row = 4 * n_outputs * fmodel.n_params * itemsize
    return max(1, int(budget // per_row))


def jacobian(fmodel, X, row_chunk):
    """Return the Jacobians of every row of ``X``, shape (n, m, d)."""
    pieces = [
        _jacobian_rows(fmodel, X[first : first + row_chunk]).detach()
        for first in range(0, X.shape[0], row_chunk)
    ]
    return torch.cat(pieces)


def exact_ntk(fmodel, X, Y, row_chunk, cache_Y=True):
    """Return the empirical NTK ``K(X, Y)`` of shape ``(n_X, n_Y)`` as numpy.

    Parameters
    ----------
    fmodel : FunctionalModel
    X, Y : torch.Tensor of shape (n_X, n_features) and (n_Y, n_features)
        ``Y`` may be ``X`` (the same object), which halves the work.
    row_chunk : int
        Rows per Jacobian chunk.
    cache_Y : bool
        Keep the Jacobians of ``Y`` between chunks of ``X`` (memory
        ``n_Y * m * d``) instead of recomputing them.

    Notes
    -----
    Cost: ``O((n_X + n_Y) * m * cost(backward) + n_X * n_Y * m * d)``.
    """
    tic = time.perf_counter()
    symmetric = Y is X
    n_x, n_y = X.shape[0], Y.shape[0]
    gram = np.empty((n_x, n_y), dtype=torch.empty(0, dtype=fmodel.dtype).numpy().dtype)
    y_chunks = [(lo, min(lo + row_chunk, n_y)) for lo in range(0, n_y, row_chunk)]
    cached = {}

    def y_jacobian(lo, hi):
        if (lo, hi) in cached:
            return cached[(lo, hi)]
        jac = _jacobian_rows(fmodel, Y[lo:hi]).detach()
        if cache_Y:
            cached[(lo, hi)] = jac
        return jac

    for lo_x in range(0, n_x, row_chunk):
        hi_x = min(lo_x + row_chunk, n_x)
        jac_x = _jacobian_rows(fmodel, X[lo_x:hi_x]).detach()
        if symmetric and cache_Y:
            cached[(lo_x, hi_x)] = jac_x
        for lo_y, hi_y in y_chunks:
            if symmetric and lo_y > lo_x:
                break
            jac_y = jac_x if (symmetric and lo_y == lo_x) else y_jacobian(lo_y, hi_y)
            block = torch.einsum("amd,bmd->ab", jac_x, jac_y).numpy()
            gram[lo_x:hi_x, lo_y:hi_y] = block
            if symmetric and lo_y != lo_x:
                gram[lo_y:hi_y, lo_x:hi_x] = block.T
    logger.debug("exact NTK %d x %d: %.3f s", n_x, n_y, time.perf_counter() - tic)
    return gram
