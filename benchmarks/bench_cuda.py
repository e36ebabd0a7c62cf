"""Check the CUDA path against the CPU and time it, when a GPU is present.

The script fits the Monte Carlo and exact kernels on the CPU and on every
visible CUDA device, checks that the kernels agree (float64 to 1e-9, float32
to 1e-4 relative), and prints the time of each with the GPU/CPU speed ratio,
measured in the same run. Without a CUDA device it says so and exits 0.

Run ``python benchmarks/bench_cuda.py`` (``--quick`` for small sizes).
"""

import argparse
import time

import numpy as np
import torch

from sknntk import NonlocalNTKKernel
from sknntk.models import MLP


def timed(estimator, X):
    """Return ``estimator.fit_transform(X)`` and its wall time in seconds."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    tic = time.perf_counter()
    result = estimator.fit_transform(X)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - tic


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return

    n_rows, n_samples = (256, 64) if args.quick else (2048, 256)
    X = np.random.default_rng(0).uniform(-1, 1, size=(n_rows, 8))
    devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    print(f"devices: {[torch.cuda.get_device_name(d) for d in devices]}")
    print(
        f"{'kernel':>9} {'dtype':>8} {'device':>14} {'seconds':>8} "
        f"{'CPU/GPU':>8} {'max rel diff':>13}"
    )
    for dtype, tolerance in (("float64", 1e-9), ("float32", 1e-4)):
        model = MLP(8, (256, 256), "relu", random_state=0)
        for kernel in ("nonlocal", "ntk"):
            params = dict(
                kernel=kernel, n_samples=n_samples, dtype=dtype, random_state=0
            )
            cpu, cpu_seconds = timed(NonlocalNTKKernel(model, **params), X)
            for device in [devices[0], devices]:
                NonlocalNTKKernel(model, device=device, **params).fit_transform(X[:8])
                gpu, seconds = timed(
                    NonlocalNTKKernel(model, device=device, **params), X
                )
                difference = np.abs(gpu - cpu).max() / np.abs(cpu).max()
                status = "ok" if difference <= tolerance else "MISMATCH"
                label = device if isinstance(device, str) else f"{len(device)} GPUs"
                print(
                    f"{kernel:>9} {dtype:>8} {label:>14} {seconds:>8.3f} "
                    f"{cpu_seconds / seconds:>8.1f} {difference:>13.2e} {status}"
                )


if __name__ == "__main__":
    main()
