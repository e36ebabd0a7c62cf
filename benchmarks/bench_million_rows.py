"""Primal ridge on a million rows: time and peak memory next to KernelRidge.

``NNTKRegressor(solver="primal")`` works on the random-feature map ``Phi`` with
``N * m`` columns, streamed in row blocks, so it never forms the ``n x n`` Gram
matrix. This script fits and predicts on ``n`` rows of 8 features
(default one million) with ``N = 256`` and reports time and peak resident
memory, next to the memory that ``KernelRidge`` would need for its Gram
matrix. It also times ``KernelRidge`` and the primal solver side by side on a
subset small enough for ``KernelRidge``, so that their ratio is measured in
the same run.

Run ``python benchmarks/bench_million_rows.py`` (``--n 100000`` for a shorter
run).
"""

import argparse
import platform
import resource
import time

import numpy as np
from sklearn.kernel_ridge import KernelRidge

from sknntk import NNTKRegressor, NonlocalNTKKernel
from sknntk.datasets import make_nonsmooth


def peak_rss_gib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="training rows")
    parser.add_argument("--n-samples", type=int, default=256, help="perturbations N")
    parser.add_argument(
        "--subset",
        type=int,
        default=4000,
        help="rows for the side-by-side comparison with KernelRidge",
    )
    args = parser.parse_args()

    X, y = make_nonsmooth("sawtooth", args.n, n_features=8, noise=0.05, random_state=0)
    X_test, y_test = make_nonsmooth("sawtooth", 10_000, n_features=8, random_state=1)
    params = dict(
        hidden_layer_sizes=(64,),
        n_samples=args.n_samples,
        gamma=0.1,
        dtype="float32",
        alpha=1e-2,
        random_state=0,
    )
    print(f"machine: {platform.machine()}, {platform.python_version()}")
    print(f"rows: {args.n}, features: 8, N: {args.n_samples}")

    baseline = peak_rss_gib()
    tic = time.perf_counter()
    model = NNTKRegressor(solver="primal", **params).fit(X, y)
    fit_seconds = time.perf_counter() - tic
    tic = time.perf_counter()
    prediction = model.predict(X_test)
    predict_seconds = time.perf_counter() - tic
    rmse = float(np.sqrt(np.mean((prediction - y_test) ** 2)))
    gram_gib = args.n**2 * 8 / 2**30
    print(
        f"primal fit: {fit_seconds:.1f} s, predict 10,000 rows: "
        f"{predict_seconds:.1f} s, test RMSE {rmse:.4f}"
    )
    print(
        f"peak resident memory: {peak_rss_gib():.2f} GiB "
        f"(before fitting: {baseline:.2f} GiB)"
    )
    print(
        f"KernelRidge would need a {args.n} x {args.n} float64 Gram matrix: "
        f"{gram_gib:,.0f} GiB"
    )

    subset = slice(0, args.subset)
    tic = time.perf_counter()
    NNTKRegressor(solver="primal", **params).fit(X[subset], y[subset])
    primal_small = time.perf_counter() - tic
    kernel = NonlocalNTKKernel(**{k: v for k, v in params.items() if k != "alpha"})
    tic = time.perf_counter()
    gram = kernel.fit_transform(X[subset])
    KernelRidge(alpha=1e-2, kernel="precomputed").fit(gram, y[subset])
    dual_small = time.perf_counter() - tic
    print(
        f"{args.subset} rows: primal {primal_small:.2f} s, Gram matrix + "
        f"KernelRidge {dual_small:.2f} s, ratio {dual_small / primal_small:.1f}x"
    )


if __name__ == "__main__":
    main()
