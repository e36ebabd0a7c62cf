"""Monte Carlo error of the nonlocal kernel by sampler, at equal forward passes.

For a small ReLU network and a step (sign) activation network, the script
measures the relative Frobenius error ``||K_N - K_ref||_F / ||K_ref||_F`` of
the normalized nonlocal kernel against a high-N reference, for each sampler
(``iid``, ``antithetic``, ``orthogonal``, ``qmc``) and several ``N``. Every
sampler spends ``N`` perturbed forward passes for ``N`` samples, so the
comparison is at the same forward-pass budget. Errors are averaged over
seeds. The reference is the mean of several independent orthogonal
estimates with many samples, whose own error is reported.

Run ``python benchmarks/bench_samplers.py`` (``--quick`` for small sizes);
the log-log plot goes to ``--plot`` (default ``docs/_static/samplers.png``).
"""

import argparse
import time

import numpy as np

from sknntk import NonlocalNTKKernel
from sknntk.models import MLP

SAMPLERS = ("iid", "antithetic", "orthogonal", "qmc")


def kernel(model, X, sampler, n_samples, seed, gamma):
    return NonlocalNTKKernel(
        model,
        gamma=gamma,
        n_samples=n_samples,
        sampler=sampler,
        random_state=seed,
    ).fit_transform(X)


def relative_error(K, reference):
    return np.linalg.norm(K - reference) / np.linalg.norm(reference)


def measure(name, model, X, sizes, seeds, reference_samples, gamma):
    parts = [
        kernel(model, X, "orthogonal", reference_samples, 1000 + r, gamma)
        for r in range(4)
    ]
    reference = np.mean(parts, axis=0)
    # The mean of 4 independent estimates: its error is the spread / 2.
    spread = np.mean([relative_error(part, reference) for part in parts])
    reference_error = spread / np.sqrt(3)
    table = {}
    for sampler in SAMPLERS:
        for n_samples in sizes:
            errors = [
                relative_error(
                    kernel(model, X, sampler, n_samples, s, gamma), reference
                )
                for s in seeds
            ]
            table[sampler, n_samples] = float(np.mean(errors))
    return {"name": name, "table": table, "reference_error": reference_error}


def print_table(result, sizes):
    print(
        f"\n{result['name']}: relative Frobenius error against the reference "
        f"(reference's own error ~{result['reference_error']:.4f})"
    )
    print(f"{'N':>6} " + " ".join(f"{s:>11}" for s in SAMPLERS) + f" {'best/iid':>9}")
    for n_samples in sizes:
        row = [result["table"][s, n_samples] for s in SAMPLERS]
        gain = min(row[2], row[3]) / row[0]
        print(
            f"{n_samples:>6} " + " ".join(f"{v:>11.4f}" for v in row) + f" {gain:>9.2f}"
        )


def plot(results, sizes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4))
    for ax, result in zip(np.atleast_1d(axes), results):
        for sampler in SAMPLERS:
            errors = [result["table"][sampler, n] for n in sizes]
            ax.loglog(sizes, errors, marker="o", label=sampler)
        ax.loglog(
            sizes,
            errors[0] * np.sqrt(sizes[0] / np.asarray(sizes)),
            "k:",
            label="N^-1/2",
        )
        ax.set_xlabel("N (forward passes)")
        ax.set_ylabel("relative Frobenius error")
        ax.set_title(result["name"])
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--plot",
        default="docs/_static/samplers.png",
        help="where to write the log-log plot",
    )
    args = parser.parse_args()

    sizes = [16, 64, 256] if args.quick else [16, 64, 256, 1024]
    seeds = range(2) if args.quick else range(4)
    reference_samples = 2048 if args.quick else 16384
    X = np.linspace(-2, 2, 32 if args.quick else 64).reshape(-1, 1)
    networks = [
        ("ReLU MLP 1-16-1", MLP(1, (16,), "relu", random_state=0), 0.05),
        ("step MLP 1-16-1", MLP(1, (16,), "sign", random_state=0), 0.5),
    ]
    tic = time.perf_counter()
    results = [
        measure(name, model, X, sizes, seeds, reference_samples, gamma)
        for name, model, gamma in networks
    ]
    for result in results:
        print_table(result, sizes)
    print(f"\ntotal time: {time.perf_counter() - tic:.1f} s")
    plot(results, sizes, args.plot)


if __name__ == "__main__":
    main()
