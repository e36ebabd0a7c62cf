"""Throughput of the Monte Carlo nonlocal kernel against matmul and a naive loop.

For an MLP 8 -> 256 -> 256 -> 1 (ReLU) in float32, the perturbed forward passes
cost ``2 d n N`` floating-point operations. This script measures, in one run:

- the library's kernel ``K(X, X)`` (batched forward passes over chunks of
  perturbations, then one ``Phi Phi^T``), as achieved GFLOP/s of the forward
  passes and as a fraction of a 2048 x 2048 float32 matrix multiply;
- a naive loop that perturbs the parameters in place, runs one forward pass
  and adds one rank-one update ``delta delta^T / ||Delta||^2`` per sample;

and prints the ratios, for ``n = 2048, N = 256`` and ``n = 128, N = 2048``.

Run ``python benchmarks/bench_montecarlo.py`` (``--quick`` for small sizes).
"""

import argparse
import platform
import time

import numpy as np
import torch

from sknntk import NonlocalNTKKernel
from sknntk.models import MLP


def best_time(function, repeat):
    times = []
    for _ in range(repeat):
        tic = time.perf_counter()
        function()
        times.append(time.perf_counter() - tic)
    return min(times)


def matmul_gflops(size=2048, repeat=5):
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    seconds = best_time(lambda: a @ b, repeat)
    return 2 * size**3 / seconds / 1e9


def naive_kernel(model, X, n_samples, gamma, seed=0):
    """Perturb in place, one forward pass and one rank-one update per sample."""
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters()]
    n_params = sum(p.numel() for p in params)
    K = torch.zeros(X.shape[0], X.shape[0])
    with torch.no_grad():
        reference = model(X).reshape(-1)
        for _ in range(n_samples):
            deltas = [
                torch.randn(p.shape, generator=generator) * gamma / np.sqrt(2)
                for p in params
            ]
            for p, delta in zip(params, deltas):
                p.add_(delta)
            difference = model(X).reshape(-1) - reference
            for p, delta in zip(params, deltas):
                p.sub_(delta)
            norm_sq = sum(float((delta**2).sum()) for delta in deltas)
            K.addr_(difference, difference, alpha=n_params / (n_samples * norm_sq))
    return K


def run_case(n_rows, n_samples, peak, repeat):
    torch.manual_seed(0)
    X = torch.rand(n_rows, 8) * 2 - 1
    model = MLP(8, (256, 256), "relu", random_state=0, dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    flops = 2 * n_params * n_rows * n_samples
    kernel = NonlocalNTKKernel(
        model, n_samples=n_samples, dtype="float32", gamma=0.05, random_state=0
    )
    X_np = X.numpy()

    library = best_time(lambda: kernel.fit_transform(X_np), repeat)
    naive = best_time(lambda: naive_kernel(model, X, n_samples, 0.05), repeat)
    achieved = flops / library / 1e9
    return {
        "n": n_rows,
        "N": n_samples,
        "d": n_params,
        "library_s": library,
        "naive_s": naive,
        "gflops": achieved,
        "fraction_of_matmul": achieved / peak,
        "speedup_vs_naive": naive / library,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timing")
    args = parser.parse_args()

    cases = [(2048, 256), (128, 2048)]
    if args.quick:
        cases = [(256, 32), (64, 128)]
    peak = matmul_gflops()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"torch threads: {torch.get_num_threads()}, torch {torch.__version__}"
    )
    print(f"2048x2048 float32 matmul: {peak:.1f} GFLOP/s")
    header = (
        f"{'n':>6} {'N':>6} {'library s':>10} {'naive s':>9} {'GFLOP/s':>8} "
        f"{'of matmul':>10} {'vs naive':>9}"
    )
    print(header)
    for n_rows, n_samples in cases:
        row = run_case(n_rows, n_samples, peak, args.repeat)
        print(
            f"{row['n']:>6} {row['N']:>6} {row['library_s']:>10.3f} "
            f"{row['naive_s']:>9.3f} {row['gflops']:>8.1f} "
            f"{row['fraction_of_matmul']:>10.2f} {row['speedup_vs_naive']:>8.1f}x"
        )


if __name__ == "__main__":
    main()
