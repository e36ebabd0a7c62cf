"""Monte Carlo estimates of the nonlocal tangent kernel as explicit feature maps.

For perturbations ``Delta_k`` and differences
``delta_k(x) = f(x; theta + Delta_k) - f(x; theta)``, the work splits into two
steps:

1. :func:`scaled_differences` runs the perturbed forward passes, batched over a
   chunk of perturbations, and returns ``R_k(x) = delta_k(x) / ||Delta_k||`` with
   shape ``(n, N, m)``. Chunks of perturbations are independent joblib tasks.
2. :func:`expectation_features`, :func:`attention_features` and
   :func:`gradient_features` turn ``R`` into a feature map ``Phi`` of shape
   ``(n, N * m)`` with ``K(X, X') = Phi(X) Phi(X')^T``.
"""

import logging
import math
import threading
import time

import numpy as np
import torch
from joblib import Parallel, delayed
from scipy import linalg

from sknntk._perturbations import PerturbationSampler

logger = logging.getLogger(__name__)

# Memory that one chunk of perturbed forward passes may use when the chunk
# sizes are chosen automatically.
DEFAULT_CHUNK_BYTES = 256 * 2**20
# Activations of one batched forward pass that keep matrix products in cache;
# 8 MiB measured fastest for an MLP 8-256-256-1 on a 2-core x86_64 machine.
CACHE_BYTES = 8 * 2**20
MAX_SAMPLE_CHUNK = 32
# Rows per plain forward pass when computing f(X; theta) once for all chunks.
_REFERENCE_ROWS = 4096


class ChunkPlan:
    """Sizes of the row and perturbation chunks of a Monte Carlo computation.

    Parameters
    ----------
    sample_chunk : int
        Perturbations evaluated in one batched (vmapped) forward pass.
    row_chunk : int
        Input rows in one forward pass.
    """

    def __init__(self, sample_chunk, row_chunk):
        self.sample_chunk = int(sample_chunk)
        self.row_chunk = int(row_chunk)

    def __repr__(self):
        return (
            f"ChunkPlan(sample_chunk={self.sample_chunk}, row_chunk={self.row_chunk})"
        )


def plan_chunks(fmodel, X, sample_chunk="auto", row_chunk="auto", budget=None):
    """Choose the perturbation and row chunk sizes of the forward passes.

    One batched forward pass over ``c`` perturbations and ``r`` rows stores
    ``c * r * a`` activations, where ``a`` is the number of activations per
    row (measured with forward hooks). Matrix products run near peak only
    while those activations stay in the processor's cache, so ``c * r`` is
    sized to keep them near ``CACHE_BYTES``, with ``r`` at least
    ``min(n, 256)`` so that each product keeps enough rows, and ``c`` at
    most 32. Perturbations cost ``3 * d * 8`` bytes
    each and ``c`` also respects ``budget``. The sizes depend on the model,
    the dtype and the budget only, never on the number of workers.
    """
    budget = DEFAULT_CHUNK_BYTES if budget is None else budget
    itemsize = torch.finfo(fmodel.dtype).bits // 8
    per_row = max(1, fmodel.activation_size(X) * itemsize)
    per_sample = 3 * fmodel.n_params * 8
    sample_rows = max(256, CACHE_BYTES // per_row)

    if sample_chunk == "auto":
        # Rows per product at least min(n, 256), where matmul stays efficient.
        rows = max(1, min(X.shape[0], 256))
        sample_chunk = min(MAX_SAMPLE_CHUNK, sample_rows // rows, budget // per_sample)
        sample_chunk = max(1, sample_chunk)
    if row_chunk == "auto":
        row_chunk = max(1, min(X.shape[0], sample_rows // sample_chunk))
    return ChunkPlan(sample_chunk, row_chunk)


def _sample_ranges(start, stop, chunk):
    return [(s, min(s + chunk, stop)) for s in range(start, stop, chunk)]


def _pinned_threads(n_threads):
    class _Pin:
        def __enter__(self):
            self.previous = torch.get_num_threads()
            if n_threads and n_threads != self.previous:
                torch.set_num_threads(n_threads)

        def __exit__(self, *exc):
            if torch.get_num_threads() != self.previous:
                torch.set_num_threads(self.previous)

    return _Pin()


def draw_perturbations(sampler, start, stop, gamma, dtype):
    """Return the perturbations ``Delta_k`` of one chunk and their norms.

    Returns
    -------
    deltas : torch.Tensor of shape (stop - start, d), in ``dtype``
    norms : torch.Tensor of shape (stop - start,), float64
        ``||Delta_k|| = gamma * r_k``, exact up to the rounding of ``deltas``.
    """
    deltas, norms = sampler.draw(start, stop, gamma)
    return deltas.to(dtype), norms


def _chunk_task(fmodel, sampler, X, start, stop, gamma, row_chunk, device, threads):
    """Compute ``R_k(x)`` for perturbations ``start..stop-1`` and every row of X."""
    tic = time.perf_counter()
    with _pinned_threads(threads):
        # functional_call swaps the module's attributes, so a task on a worker
        # thread (threading backend) works on a private copy; so does one on
        # another device.
        shared = threading.current_thread() is threading.main_thread()
        if shared and torch.device(device).type == "cpu":
            local = fmodel
        else:
            local = fmodel.copy(device)
        deltas, norms = draw_perturbations(sampler, start, stop, gamma, fmodel.dtype)
        # In place: the perturbations are not needed after this.
        thetas = deltas.to(local.device)
        thetas += local.theta
        scale = (1.0 / norms).to(fmodel.dtype).to(local.device)
        # f(X; theta) on the same device as the perturbed passes, so that the
        # differences carry no rounding differences between devices.
        reference = torch.cat(
            [
                local.forward(X[lo : lo + _REFERENCE_ROWS].to(local.device))
                for lo in range(0, X.shape[0], _REFERENCE_ROWS)
            ]
        )
        n_rows = X.shape[0]
        out = np.empty(
            (n_rows, stop - start, reference.shape[1]),
            dtype=torch.empty(0, dtype=fmodel.dtype).numpy().dtype,
        )
        max_difference = 0.0
        for first in range(0, n_rows, row_chunk):
            rows = X[first : first + row_chunk].to(local.device)
            base = reference[first : first + row_chunk]
            difference = local.forward_batch(thetas, rows) - base
            # One pass: the maximum is NaN or infinite when any entry is.
            largest = difference.abs().max().item()
            if not math.isfinite(largest):
                raise ValueError(
                    "The model's output is not finite under perturbations of width "
                    f"gamma={gamma}. Use a smaller gamma, or dtype='float64' if "
                    "the model overflows in float32."
                )
            max_difference = max(max_difference, largest)
            difference *= scale[:, None, None]
            out[first : first + rows.shape[0]] = difference.permute(1, 0, 2).cpu()
    logger.debug(
        "perturbations %d-%d on %d rows (%s): %.3f s",
        start,
        stop - 1,
        n_rows,
        device,
        time.perf_counter() - tic,
    )
    max_output = reference.abs().max().item() if reference.numel() else 0.0
    return out, norms.numpy(), max_output, max_difference


class DifferenceStats:
    """Largest absolute unperturbed output and output difference seen."""

    def __init__(self):
        self.max_output = 0.0
        self.max_difference = 0.0

    def update(self, max_output, max_difference):
        self.max_output = max(self.max_output, max_output)
        self.max_difference = max(self.max_difference, max_difference)


def scaled_differences(
    fmodel,
    X,
    sampler,
    gamma,
    start,
    stop,
    plan,
    *,
    n_jobs=None,
    devices=("cpu",),
    threads=None,
    progress=None,
    stats=None,
):
    """Run the perturbed forward passes and return ``delta_k(x) / ||Delta_k||``.

    Parameters
    ----------
    fmodel : FunctionalModel
    X : torch.Tensor of shape (n, n_features)
    sampler : PerturbationSampler
    gamma : float
    start, stop : int
        Range of perturbation indices ``k``.
    plan : ChunkPlan
    n_jobs : int or None
        joblib workers; the chunks and the result do not depend on it.
    devices : sequence of torch.device
        Chunk ``i`` runs on ``devices[i % len(devices)]``.
    threads : int or None
        Torch threads each task pins while it runs.
    progress : tqdm or None
        Advanced by the number of perturbations in each finished chunk.
    stats : DifferenceStats or None
        Updated with the largest output and difference.

    Returns
    -------
    R : ndarray of shape (n, stop - start, m)
    norms : ndarray of shape (stop - start,)
        ``||Delta_k||``.

    Notes
    -----
    Cost: ``(stop - start + number of chunks)`` forward passes over ``X``.
    Memory: the result plus one chunk per worker.
    """
    ranges = _sample_ranges(start, stop, plan.sample_chunk)
    tasks = (
        delayed(_chunk_task)(
            fmodel,
            sampler,
            X,
            lo,
            hi,
            gamma,
            plan.row_chunk,
            devices[i % len(devices)],
            threads,
        )
        for i, (lo, hi) in enumerate(ranges)
    )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)

    R, norms = None, np.empty(stop - start)
    for (lo, hi), (chunk, chunk_norms, max_output, max_difference) in zip(
        ranges, results
    ):
        if R is None:
            R = np.empty((X.shape[0], stop - start, chunk.shape[2]), dtype=chunk.dtype)
        R[:, lo - start : hi - start] = chunk
        norms[lo - start : hi - start] = chunk_norms
        if stats is not None:
            stats.update(max_output, max_difference)
        if progress is not None:
            progress.update(hi - lo)
    return R, norms


def expectation_features(R, scale):
    """Return ``Phi_k(x) = sqrt(c / N) delta_k(x) / ||Delta_k||``, shape (n, N*m)."""
    n_rows, n_samples, width = R.shape
    factor = math.sqrt(scale / n_samples)
    return (R * R.dtype.type(factor)).reshape(n_rows, n_samples * width)


def attention_weights(R, norms, temperature):
    """Return the softmax weights ``w_k(x)`` over samples, shape (n, N).

    The scores are ``a_k(x) = ||delta_k(x)||**2`` and the weights
    ``softmax_k(-a_k(x) / tau**2)``.
    """
    scores = np.einsum("nkm,nkm->nk", R, R, dtype=np.float64) * norms[None, :] ** 2
    logits = -scores / float(temperature) ** 2
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights


def attention_features(R, norms, temperature, scale):
    """Return ``sqrt(c w_k(x)) delta_k(x) / ||Delta_k||`` and the weights.

    Returns
    -------
    Phi : ndarray of shape (n, N * m)
    weights : ndarray of shape (n, N)
    """
    n_rows, n_samples, width = R.shape
    weights = attention_weights(R, norms, temperature)
    factor = np.sqrt(scale * weights).astype(R.dtype)
    return (R * factor[:, :, None]).reshape(n_rows, n_samples * width), weights


def median_temperature(R, norms):
    """Return the median of ``||delta_k(x)||`` over rows and samples."""
    sizes = np.sqrt(np.einsum("nkm,nkm->nk", R, R, dtype=np.float64)) * norms
    tau = float(np.median(sizes))
    if tau <= 0.0:
        tau = float(sizes.max()) if sizes.max() > 0 else 1.0
    return tau


def perturbation_gram(sampler, gamma, start, stop, chunk, dtype):
    """Return the matrix ``Delta_k . Delta_l`` for ``start <= k, l < stop``.

    Perturbations are regenerated chunk by chunk, so memory stays
    ``O(chunk * d + N**2)`` for ``N = stop - start``; the cost is ``O(N**2 d)``.

    Returns
    -------
    gram : ndarray of shape (N, N), float64
    """
    size = stop - start
    gram = np.empty((size, size))
    ranges = _sample_ranges(start, stop, chunk)
    for a, (lo_a, hi_a) in enumerate(ranges):
        left = draw_perturbations(sampler, lo_a, hi_a, gamma, dtype)[0].double()
        for lo_b, hi_b in ranges[: a + 1]:
            if lo_b == lo_a:
                right = left
            else:
                right = draw_perturbations(sampler, lo_b, hi_b, gamma, dtype)[0]
                right = right.double()
            block = (left @ right.T).numpy()
            gram[lo_a - start : hi_a - start, lo_b - start : hi_b - start] = block
            gram[lo_b - start : hi_b - start, lo_a - start : hi_a - start] = block.T
    return gram


def gradient_factor(gram, scale):
    """Return ``L`` with ``L L^T = (c / N)**2 Delta Delta^T``, shape (N, N)."""
    n_samples = gram.shape[0]
    eigenvalues, eigenvectors = linalg.eigh(gram)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    return eigenvectors * (np.sqrt(eigenvalues) * scale / n_samples)


def gradient_features(R, norms, factor):
    """Return features of the gradient form ``D M D'^T``, shape (n, N*m).

    ``D_k(x) = delta_k(x) / ||Delta_k||**2``, and ``factor`` is ``L`` from
    :func:`gradient_factor`.
    """
    n_rows, n_samples, width = R.shape
    D = R / norms[None, :, None].astype(R.dtype)
    features = np.einsum("nkm,kj->njm", D, factor.astype(R.dtype))
    return features.reshape(n_rows, n_samples * width)


def batch_bounds(n_samples, n_batches, pair=False):
    """Split ``range(n_samples)`` into contiguous batches (whole pairs if ``pair``)."""
    unit = 2 if pair and n_samples >= 4 else 1
    units = n_samples // unit
    n_batches = max(2, min(n_batches, units))
    edges = [unit * round(units * b / n_batches) for b in range(n_batches + 1)]
    edges[-1] = n_samples
    return list(zip(edges[:-1], edges[1:]))


def relative_standard_error(batch_kernels):
    """Estimate ``||K_hat - E K_hat||_F / ||K_hat||_F`` from batch kernels.

    ``K_hat`` is the mean of the ``B`` batch kernels ``K_b``, each an
    independent estimate, so the standard error of the mean is
    ``sqrt(sum_b ||K_b - K_hat||_F**2 / (B (B - 1)))``.
    """
    stack = np.stack(batch_kernels)
    mean = stack.mean(axis=0)
    n_batches = stack.shape[0]
    spread = np.sum((stack - mean) ** 2) / (n_batches * (n_batches - 1))
    norm = np.linalg.norm(mean)
    if norm == 0.0:
        return float("inf")
    return float(math.sqrt(spread) / norm)


def make_sampler(
    n_params, n_samples, distribution, sampler, perturbation, seed, dtype=torch.float64
):
    """Return the :class:`PerturbationSampler` of these settings."""
    return PerturbationSampler(
        n_params, n_samples, distribution, sampler, perturbation, seed, dtype
    )
