"""A small in-memory cache of perturbed-output differences, shared by fits.

A search over ``n_samples`` fits the same network on the same rows with the
same seed for several ``N``. Because perturbation ``k`` depends only on the
seed and ``k``, the differences of a smaller ``N`` are the first columns of a
larger one. The cache keeps the most recent results, keyed by a fingerprint of
the network, the rows and the perturbation settings, so that a later fit
reuses the shared prefix and computes only the missing perturbations. Cached
values are the ones a recomputation would give, so results never change. Only
networks that sknntk builds itself (``model=None`` with a named activation)
are cached, because their forward pass is fixed by the fingerprint.
"""

import hashlib
import threading
from collections import OrderedDict

import numpy as np

#: Total size of the cached arrays, in bytes. Set it to 0 to disable caching.
MAX_CACHE_BYTES = 256 * 2**20

_entries = OrderedDict()
_lock = threading.Lock()


def clear_cache():
    """Remove every cached array of perturbed-output differences.

    The cache lets a search over ``n_samples`` reuse the perturbations that
    its candidates share; clearing it only frees memory.

    Examples
    --------
    >>> from sknntk import clear_cache
    >>> clear_cache()
    """
    with _lock:
        _entries.clear()


def fingerprint(fmodel, X_t, settings):
    """Return a key naming the network, the rows and the perturbation settings."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(type(fmodel.module).__qualname__.encode())
    digest.update(repr(fmodel.module).encode())
    digest.update(fmodel.theta.numpy().tobytes())
    for name in sorted(fmodel.buffers):
        buffer = fmodel.buffers[name]
        digest.update(name.encode())
        digest.update(buffer.detach().cpu().numpy().tobytes())
    digest.update(repr(X_t.shape).encode())
    digest.update(np.ascontiguousarray(X_t.numpy()).tobytes())
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def lookup(key):
    """Return ``(R, norms, stats)`` stored under ``key``, or None."""
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
        return entry


def store(key, R, norms, stats):
    """Keep ``R`` (n, N, m), ``norms`` (N,) and difference stats under ``key``."""
    size = R.nbytes + norms.nbytes
    if size > MAX_CACHE_BYTES:
        return
    with _lock:
        _entries[key] = (R, norms, stats)
        _entries.move_to_end(key)
        total = sum(r.nbytes + n.nbytes for r, n, _ in _entries.values())
        while total > MAX_CACHE_BYTES and len(_entries) > 1:
            _, (r, n, _) = _entries.popitem(last=False)
            total -= r.nbytes + n.nbytes
