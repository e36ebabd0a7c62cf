"""Time and peak memory of the exact NTK: sknntk against a plain torch.func recipe.

The network is an MLP 8 -> 256 -> 256 -> 1 with ReLU (68,353 parameters), and the
kernel is ``K(X, X)`` on ``--n`` standard normal rows. Each method runs in a
fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own:

- ``sknntk``: ``NonlocalNTKKernel(model, kernel="ntk").fit_transform(X)``, which
  factors the linear layers.
- ``torch.func``: the Jacobians of all ``n`` rows with ``vmap(jacrev)``, then
  ``J J^T``.

Each subprocess imports, builds the problem and warms up on 16 rows before it
measures. The table gives the minimum wall time over ``--repeat`` runs, the
peak memory and the peak above the memory after the warm-up, with the ratios of
the reference to sknntk, and the maximum absolute difference between the two
kernels.

Run ``python benchmarks/bench_exact_ntk.py`` (``--quick`` for a smaller run).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from sknntk import NonlocalNTKKernel

METHODS = ("sknntk", "torch.func")


def build_problem(n_rows, n_features, width, dtype):
    """Return the seeded MLP and the rows ``X`` of shape ``(n_rows, n_features)``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(n_features, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 1),
    ).to(dtype)
    X = np.random.default_rng(0).standard_normal((n_rows, n_features))
    return model, X.astype(np.float32 if dtype == torch.float32 else np.float64)


def sknntk_ntk(model, X, dtype_name):
    kernel = NonlocalNTKKernel(model, kernel="ntk", dtype=dtype_name)
    return kernel.fit_transform(X)


def torch_func_ntk(model, X, dtype):
    model = model.eval()
    params = {name: p.detach() for name, p in model.named_parameters()}

    def single(values, x):
        return functional_call(model, values, (x[None],))[0]

    rows = torch.as_tensor(X, dtype=dtype)
    jacobians = vmap(jacrev(single), in_dims=(None, 0))(params, rows)
    J = torch.cat([j.reshape(rows.shape[0], -1) for j in jacobians.values()], dim=1)
    return (J @ J.T).numpy()


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(method, n_rows, width, dtype_name, repeat, output):
    """Compute one kernel, save it to ``output`` and print its measurements.

    A kernel on 16 rows first warms up torch's lazy initialisation, and the
    time reported is the minimum over ``repeat`` runs.
    """
    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    model, X = build_problem(n_rows, 8, width, dtype)
    method_function = {"sknntk": sknntk_ntk, "torch.func": torch_func_ntk}[method]
    argument = dtype_name if method == "sknntk" else dtype
    method_function(model, X[:16], argument)
    baseline = peak_rss_mib()

    times = []
    for _ in range(repeat):
        tic = time.perf_counter()
        K = method_function(model, X, argument)
        times.append(time.perf_counter() - tic)
    seconds = min(times)

    peak = peak_rss_mib()
    np.save(output, K)
    record = {
        "method": method,
        "seconds": seconds,
        "peak_mib": peak,
        "baseline_mib": baseline,
        "threads": torch.get_num_threads(),
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    print(json.dumps(record))


def measure(method, args, folder):
    output = os.path.join(folder, f"{method.replace('.', '_')}.npy")
    command = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--n",
        str(args.n),
        "--width",
        str(args.width),
        "--dtype",
        args.dtype,
        "--repeat",
        str(args.repeat),
        "--output",
        output,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["kernel"] = np.load(output)
    return record


def print_table(records, args):
    library, reference = records["sknntk"], records["torch.func"]
    n_params = library["n_params"]
    print(
        f"exact NTK, MLP 8 -> {args.width} -> {args.width} -> 1 (ReLU), "
        f"d = {n_params}, n = {args.n}, {args.dtype}, "
        f"{library['threads']} torch threads"
    )
    header = f"{'method':<12}{'time (s)':>10}{'peak (MiB)':>12}{'above setup':>13}"
    print(header)
    print("-" * len(header))
    for method in METHODS:
        record = records[method]
        above = record["peak_mib"] - record["baseline_mib"]
        print(
            f"{method:<12}{record['seconds']:>10.3f}{record['peak_mib']:>12.0f}"
            f"{above:>13.0f}"
        )
    speedup = reference["seconds"] / library["seconds"]
    peak_ratio = reference["peak_mib"] / library["peak_mib"]
    above_library = max(library["peak_mib"] - library["baseline_mib"], 1.0)
    above_ratio = (reference["peak_mib"] - reference["baseline_mib"]) / above_library
    difference = np.abs(library["kernel"] - reference["kernel"]).max()
    scale = np.abs(reference["kernel"]).max()
    print(f"speed ratio (torch.func / sknntk): {speedup:.1f}x")
    print(
        f"memory ratio (torch.func / sknntk): {peak_ratio:.2f}x peak, "
        f"{above_ratio:.1f}x above setup"
    )
    print(f"max |K_sknntk - K_torch.func|: {difference:.3g} (max |K| = {scale:.3g})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="number of input rows")
    parser.add_argument(
        "--width", type=int, default=256, help="width of both hidden layers"
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument(
        "--quick", action="store_true", help="use n = 256 rows and width 64"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per method (minimum kept)"
    )
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        run_worker(
            args.worker, args.n, args.width, args.dtype, args.repeat, args.output
        )
        return
    if args.quick:
        args.n, args.width = 256, 64

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        records = {method: measure(method, args, folder) for method in METHODS}
    load_after = os.getloadavg()
    print_table(records, args)
    print(
        f"1-minute load average: {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after, on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
