"""Perturbation laws and samplers for the Monte Carlo nonlocal kernels.

Every perturbation is drawn at unit width as a direction ``u`` on the unit sphere
of ``R^d`` and a radius ``r >= 0``; the perturbation of width ``gamma`` is
``Delta = gamma * r * u``. Sample ``k`` depends only on the seed, ``k`` and, for
the orthogonal sampler, the total number of samples, so any chunking of the
sample indices, any number of workers and any device give the same draws, and a
larger number of samples extends a smaller one.
"""

import warnings

import numpy as np
import torch
from scipy import special, stats

DISTRIBUTIONS = ("gaussian", "uniform")
SAMPLERS = ("iid", "antithetic", "orthogonal", "qmc")
PERTURBATIONS = ("isotropic", "directional")

# Orthonormal blocks are QR factors of a (d, block) Gaussian matrix, so their
# cost is O(d * block**2); this caps the block width when d is large.
MAX_ORTHOGONAL_BLOCK = 1024

# scipy.stats.qmc.Sobol supports at most this many dimensions.
SOBOL_MAX_DIM = 21201


def _stream_seed(seed, *key):
    """Return a 63-bit torch seed derived from ``seed`` and an integer key."""
    state = np.random.SeedSequence([int(seed), *map(int, key)]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def _gaussians_and_uniforms(seed, indices, n_params, dtype):
    """Draw the standard normal vector and the uniform number of each index.

    Each index seeds the generator from ``(seed, index)``, so a draw never
    depends on which other indices are drawn with it.

    Returns
    -------
    z : torch.Tensor of shape (len(indices), n_params), of ``dtype``
    p : ndarray of shape (len(indices),), float64
    """
    z = torch.empty((len(indices), n_params), dtype=dtype)
    p = np.empty(len(indices))
    generator = torch.Generator()
    for row, index in enumerate(indices):
        generator.manual_seed(_stream_seed(seed, 0, index))
        torch.randn(n_params, generator=generator, dtype=dtype, out=z[row])
        p[row] = torch.rand((), generator=generator, dtype=torch.float64).item()
    return z, p


def _qr(matrix):
    """Return the reduced QR factors of a (d, b) matrix.

    torch's QR has a fixed cost near a millisecond, which dominates for small
    blocks, while numpy's competes with torch for threads on large ones.
    """
    if matrix.numel() <= 65536:
        q, r = np.linalg.qr(matrix.numpy())
        return torch.from_numpy(q), torch.from_numpy(r)
    return torch.linalg.qr(matrix)


def _row_factors(z, lengths):
    """Return ``lengths / ||z_row||`` in the dtype of ``z``, shape (rows,)."""
    norms = torch.linalg.vector_norm(z, dim=1).double()
    return (lengths / norms).to(z.dtype)


def unit_radius(p, n_params, distribution, perturbation):
    """Map uniform numbers ``p`` in (0, 1) to radii of the unit-width law.

    Parameters
    ----------
    p : ndarray of shape (n,)
        Uniform numbers in the open interval (0, 1).
    n_params : int
        Dimension ``d`` of the parameter space.
    distribution : {"gaussian", "uniform"}
        The law. ``"gaussian"`` is ``N(0, I/2)``, so ``r**2`` follows
        ``chi2(d) / 2``; ``"uniform"`` is the unit ball, so ``r = p**(1/d)``.
    perturbation : {"isotropic", "directional"}
        ``"directional"`` uses the one-dimensional law of the same name:
        ``|t|`` with ``t ~ N(0, 1/2)`` or ``t ~ U[-1, 1]``.

    Returns
    -------
    r : ndarray of shape (n,)
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-16, 1.0 - 1e-16)
    dim = 1 if perturbation == "directional" else n_params
    if distribution == "gaussian":
        return np.sqrt(special.gammaincinv(dim / 2.0, p))
    return p ** (1.0 / dim)


class PerturbationSampler:
    """Regenerate unit-width perturbations ``(u_k, r_k)`` for any range of ``k``.

    Parameters
    ----------
    n_params : int
        Dimension ``d`` of the parameter vector.
    n_samples : int
        Total number of samples ``N`` of the estimate. Only the orthogonal
        sampler uses it (the width of its last block).
    distribution : {"gaussian", "uniform"}
    sampler : {"iid", "antithetic", "orthogonal", "qmc"}
    perturbation : {"isotropic", "directional"}
    seed : int
        The fitted seed.
    dtype : torch.dtype, default=torch.float64
        Floating-point type in which the directions are drawn.

    Notes
    -----
    Memory is ``O(chunk * d)`` per call; nothing of size ``N * d`` is kept.
    The orthogonal sampler keeps the last orthonormal block it computed, of
    size ``d * min(d, N, 1024)``.
    """

    def __init__(
        self,
        n_params,
        n_samples,
        distribution,
        sampler,
        perturbation,
        seed,
        dtype=torch.float64,
    ):
        self.n_params = int(n_params)
        self.n_samples = int(n_samples)
        self.distribution = distribution
        self.sampler = sampler
        self.perturbation = perturbation
        self.seed = int(seed)
        self.dtype = dtype
        if sampler == "qmc" and self.n_params + 1 > SOBOL_MAX_DIM:
            raise ValueError(
                f"sampler='qmc' needs a Sobol sequence of dimension d + 1 = "
                f"{self.n_params + 1}, but scipy supports at most {SOBOL_MAX_DIM}. "
                "Use sampler='orthogonal' or 'antithetic' for this model."
            )
        self._block_cache = {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_block_cache"] = {}
        return state

    def draw(self, start, stop, gamma=1.0):
        """Return the perturbations ``start`` to ``stop - 1`` at width ``gamma``.

        Returns
        -------
        deltas : torch.Tensor of shape (stop - start, d)
            ``Delta_k = gamma * r_k * u_k``, of the sampler's dtype. The
            caller may modify them in place.
        lengths : torch.Tensor of shape (stop - start,), float64
            ``||Delta_k|| = gamma * r_k``.
        """
        if stop <= start:
            empty = torch.zeros((0, self.n_params), dtype=self.dtype)
            return empty, torch.zeros(0, dtype=torch.float64)
        if self.sampler == "qmc":
            z, p = self._qmc_points(start, stop)
        elif self.sampler == "orthogonal":
            z, p = self._orthogonal_rows(start, stop)
        else:
            indices = np.arange(start, stop)
            if self.sampler == "antithetic":
                return self._draw_antithetic(indices, gamma)
            z, p = _gaussians_and_uniforms(
                self.seed, indices, self.n_params, self.dtype
            )
        lengths = gamma * self._radii(p)
        # One pass scales every row to its length: z * (gamma r / ||z||).
        z *= _row_factors(z, lengths)[:, None]
        return z, lengths

    def _draw_antithetic(self, indices, gamma):
        # Both members of a pair share one draw; generate it once.
        start = int(indices[0])
        pairs, position = np.unique(indices // 2, return_inverse=True)
        z, p = _gaussians_and_uniforms(self.seed, pairs, self.n_params, self.dtype)
        pair_lengths = gamma * self._radii(p)
        factors = _row_factors(z, pair_lengths)[:, None]
        deltas = torch.empty((len(indices), self.n_params), dtype=self.dtype)
        # Strided writes: per-row or index_select copies of wide rows are far
        # slower. Even indices take +z of their pair, odd ones -z.
        for parity in (0, 1):
            first = (parity - start) % 2
            rows = deltas[first::2]
            pair = (start + first) // 2 - start // 2
            source = z[pair : pair + rows.shape[0]]
            scale = factors[pair : pair + rows.shape[0]]
            torch.mul(source, -scale if parity else scale, out=rows)
        return deltas, pair_lengths[torch.from_numpy(position)]

    def _radii(self, uniforms):
        radii = unit_radius(
            uniforms, self.n_params, self.distribution, self.perturbation
        )
        return torch.from_numpy(radii)

    def _qmc_points(self, start, stop):
        engine = stats.qmc.Sobol(
            self.n_params + 1, scramble=True, seed=_stream_seed(self.seed, 1, 0)
        )
        if start:
            engine.fast_forward(start)
        with warnings.catch_warnings():
            # Sobol balance warnings concern sample counts that are not powers
            # of two; the estimate stays unbiased, so they are not actionable.
            warnings.simplefilter("ignore", UserWarning)
            points = engine.random(stop - start)
        points = np.clip(points, 1e-16, 1.0 - 1e-16)
        z = torch.from_numpy(stats.norm.ppf(points[:, : self.n_params]))
        return z.to(self.dtype), points[:, -1]

    def _block_width(self):
        return min(self.n_params, MAX_ORTHOGONAL_BLOCK)

    def _orthogonal_block(self, block):
        if block not in self._block_cache:
            width = self._block_width()
            first = block * width
            remaining = self.n_samples - first
            # Past the planned N (an adaptive run extends it) a block is full.
            columns = min(width, remaining) if remaining > 0 else width
            z, uniforms = _gaussians_and_uniforms(
                self.seed, np.arange(first, first + columns), self.n_params, self.dtype
            )
            q, r = _qr(z.T)
            # Fix the signs so that the factor is unique.
            signs = torch.sign(torch.diagonal(r))
            signs[signs == 0] = 1.0
            q *= signs
            self._block_cache = {block: (q.T.contiguous(), uniforms)}
        return self._block_cache[block]

    def _orthogonal_rows(self, start, stop):
        width = self._block_width()
        directions, uniforms = [], []
        k = start
        while k < stop:
            block = k // width
            q, p = self._orthogonal_block(block)
            first = block * width
            end = min(stop, first + q.shape[0])
            directions.append(q[k - first : end - first])
            uniforms.append(p[k - first : end - first])
            k = end
        # A copy, which draw() scales in place.
        return torch.cat(directions), np.concatenate(uniforms)
