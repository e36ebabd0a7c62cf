"""
Monte Carlo convergence of the samplers
=======================================

The nonlocal NTK is a Monte Carlo estimate over ``N`` parameter
perturbations, so its error shrinks as ``N`` grows. This example measures
the relative Frobenius error

.. math::

    \\frac{\\|\\hat K_N - K_{\\mathrm{ref}}\\|_F}{\\|K_{\\mathrm{ref}}\\|_F}

against a reference kernel computed with many more samples, for the four
samplers of :class:`~sknntk.NonlocalNTKKernel`: independent draws
(``"iid"``), antithetic pairs, blocks of orthogonal directions and
scrambled Sobol points (``"qmc"``).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from sknntk import NonlocalNTKKernel
from sknntk.datasets import make_grid
from sknntk.models import MLP

QUICK = os.environ.get("SKNNTK_EXAMPLES_QUICK", "0") not in ("", "0")

# %%
# Settings
# --------
#
# A smooth network (tanh) and a nonsmooth one (sign), each with one hidden
# layer, on a grid of 1-D inputs. The network is built once and passed as
# ``model``, so ``random_state`` only changes the perturbations: every
# estimate below is of the same kernel.

if QUICK:
    n_points, width, n_reference, n_seeds = 30, 32, 1024, 2
    sample_sizes = [16, 64, 256]
else:
    n_points, width, n_reference, n_seeds = 40, 64, 4096, 6
    sample_sizes = [16, 64, 256, 1024]
samplers = ["iid", "antithetic", "orthogonal", "qmc"]
activations = ["tanh", "sign"]
gamma = 0.1

X, _ = make_grid("sign", n_points, domain=(-2.0, 2.0))
X = X.reshape(-1, 1)

# %%
# Measure the error
# -----------------
#
# The reference uses orthogonal sampling with ``n_reference`` samples and a
# seed that no estimate uses, so its own error is independent of theirs.
# Each error is the median over ``n_seeds`` seeds. The error of a single
# estimate varies widely from seed to seed, and the median is steadier than
# the mean.


def relative_error(K, reference):
    return np.linalg.norm(K - reference) / np.linalg.norm(reference)


results = {}
for activation in activations:
    network = MLP(1, hidden_layer_sizes=(width,), activation=activation, random_state=0)
    reference_kernel = NonlocalNTKKernel(
        network,
        gamma=gamma,
        n_samples=n_reference,
        sampler="orthogonal",
        random_state=1000,
    )
    reference = reference_kernel.fit_transform(X)
    for sampler in samplers:
        errors = []
        for n_samples in sample_sizes:
            per_seed = [
                relative_error(
                    NonlocalNTKKernel(
                        network,
                        gamma=gamma,
                        n_samples=n_samples,
                        sampler=sampler,
                        random_state=seed,
                    ).fit_transform(X),
                    reference,
                )
                for seed in range(n_seeds)
            ]
            errors.append(np.median(per_seed))
        results[activation, sampler] = np.array(errors)

# %%
# Plot the error against ``N``
# ----------------------------

fig, axes = plt.subplots(1, len(activations), figsize=(9, 3.8), sharey=True)
for ax, activation in zip(axes, activations):
    for sampler in samplers:
        ax.loglog(sample_sizes, results[activation, sampler], "o-", label=sampler)
    first = np.mean([results[activation, s][0] for s in samplers])
    guide = first * np.sqrt(sample_sizes[0] / np.asarray(sample_sizes))
    ax.loglog(sample_sizes, guide, "k--", linewidth=1, label=r"$\propto 1/\sqrt{N}$")
    ax.set_xticks(sample_sizes, labels=[str(n) for n in sample_sizes])
    ax.minorticks_off()
    ax.set_title(f"{activation} network")
    ax.set_xlabel("number of samples N")
axes[0].set_ylabel("relative Frobenius error")
axes[0].legend()
fig.tight_layout()
plt.show()

# %%
# Both axes are logarithmic, so an error that falls like ``1/sqrt(N)``, the
# rate of plain Monte Carlo, is a line of slope -1/2 (dashed). The errors
# stop falling near the error of the reference itself, which has
# ``n_reference`` samples.
#
# Every sampler estimates the same kernel, and the differences between them
# depend on the network:
#
# * For the smooth tanh network ``delta_k(x)`` is close to ``J(x) Delta_k``,
#   and the kernel's leading term depends on the direction of ``Delta_k``
#   only. ``N`` orthonormal directions then cover parameter space evenly:
#   once ``N`` reaches the number of parameters ``d`` (printed below), every
#   complete block of directions sums to the identity and the leading term
#   is exact. That is why the orthogonal sampler wins here; for a network
#   with ``d`` much larger than ``N`` its advantage is smaller.
# * Antithetic pairs ``+Delta, -Delta`` give nearly the same term
#   ``delta_k(x) . delta_k(x')`` twice for a smooth network, so a pair is
#   worth about one independent sample: on average the antithetic error is
#   that of ``iid`` with half as many samples, about 1.4 times larger, though
#   with a few seeds the noise can hide the difference. Antithetic sampling
#   pays off for the nonlocal *gradient* (used by
#   :class:`~sknntk.NonlocalGD`), where a pair forms a central difference,
#   not for the kernel.
# * For the sign network the differences of the output come from the few
#   hidden units whose jump moves past an input, and the samplers behave much
#   alike.
#
# With a few seeds per point the curves are themselves noisy; the fitted
# ``kernel_std_error_`` gives the error of one estimate without a reference.

print(f"d = {reference_kernel.n_params_} parameters")
for activation in activations:
    print(activation)
    for sampler in samplers:
        values = "  ".join(f"{value:.3f}" for value in results[activation, sampler])
        print(f"  {sampler:>10}: {values}")
