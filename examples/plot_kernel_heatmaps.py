"""
Kernel heatmaps for nonsmooth activations
=========================================

Networks with a discontinuous or rough activation have a zero or undefined
derivative on much of parameter space, so their exact neural tangent kernel
reflects little of the network. This example draws, for several such
activations, the Gram matrix ``K(x, x')`` on a grid of 1-D inputs for four
kernels of the same network at the same parameters:

* the exact empirical NTK (``kernel="ntk"``), computed with autograd;
* the attention-weighted nonlocal kernel (``kernel="attention"``);
* the Monte Carlo nonlocal kernel with Gaussian perturbations;
* the Monte Carlo nonlocal kernel with perturbations uniform on a ball.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from sknntk import NonlocalNTKKernel
from sknntk.datasets import make_grid

QUICK = os.environ.get("SKNNTK_EXAMPLES_QUICK", "0") not in ("", "0")

# %%
# Settings
# --------
#
# One hidden layer of ``width`` units with the given activation, inputs on
# ``[-2, 2]``. ``SKNNTK_EXAMPLES_QUICK=1`` shrinks the grid, the network and
# the number of Monte Carlo samples.

if QUICK:
    activations = ["sign", "sawtooth", "weierstrass"]
    n_points, width, n_samples = 40, 64, 128
else:
    activations = [
        "sign",
        "piecewise",
        "relu",
        "square_wave",
        "sawtooth",
        "weierstrass",
    ]
    n_points, width, n_samples = 100, 256, 512
gamma = 0.1

X, _ = make_grid("sign", n_points, domain=(-2.0, 2.0))
X = X.reshape(-1, 1)

kernels = {
    "exact NTK": dict(kernel="ntk"),
    "attention": dict(kernel="attention", attention_temperature="median"),
    "nonlocal, Gaussian": dict(kernel="nonlocal", distribution="gaussian"),
    "nonlocal, uniform": dict(kernel="nonlocal", distribution="uniform"),
}

# %%
# Compute the Gram matrices
# -------------------------
#
# The same ``random_state`` gives the same network for every kernel, so
# the four columns describe one network. Each Gram matrix is divided by its
# largest absolute entry so that the panels share one color scale.

grams = {}
errors = {}
for activation in activations:
    for name, params in kernels.items():
        estimator = NonlocalNTKKernel(
            hidden_layer_sizes=(width,),
            activation=activation,
            gamma=gamma,
            n_samples=n_samples,
            random_state=0,
            **params,
        )
        K = estimator.fit_transform(X)
        grams[activation, name] = K / np.abs(K).max()
        errors[activation, name] = estimator.kernel_std_error_

fig, axes = plt.subplots(
    len(activations),
    len(kernels),
    figsize=(2.4 * len(kernels), 2.3 * len(activations)),
    squeeze=False,
    layout="constrained",
)
extent = (-2, 2, 2, -2)
for row, activation in enumerate(activations):
    for col, name in enumerate(kernels):
        ax = axes[row, col]
        image = ax.imshow(
            grams[activation, name], cmap="RdBu_r", vmin=-1, vmax=1, extent=extent
        )
        ax.set_xticks([-2, 0, 2])
        ax.set_yticks([-2, 0, 2])
        if row == 0:
            ax.set_title(name, fontsize=10)
        if col == 0:
            ax.set_ylabel(activation)
fig.colorbar(image, ax=axes, shrink=0.6, label="K / max |K|")
plt.show()

# %%
# Each row is one activation and each column one kernel; both axes run over
# the inputs ``x`` and ``x'`` in ``[-2, 2]``.
#
# * For the sign network every hidden weight has a zero gradient, so the
#   exact NTK is that of the last layer alone: broad blocks that change sign
#   at ``x = 0``. The Gaussian nonlocal kernel keeps this block structure and
#   adds a ridge along the diagonal, the contribution of the hidden weights,
#   whose perturbations move the jumps of the units. The piecewise activation
#   has slopes 1 and 1/2, so autograd differentiates its linear parts but
#   misses its jump.
# * For ReLU, which autograd differentiates almost everywhere, the exact and
#   the nonlocal kernels agree closely.
# * The square wave also has a zero derivative almost everywhere. For the
#   sawtooth autograd sees the slope 1 and misses the jumps, so its exact NTK
#   is close to that of a linear layer. The truncated Weierstrass series is
#   differentiable, but its derivative oscillates so fast that the exact NTK
#   is nearly diagonal. The nonlocal kernels average the changes of the
#   output over a neighbourhood of the parameters: they see the jumps and
#   smooth the oscillations.
# * The attention kernel, here with the ``"median"`` temperature, gives less
#   weight to the perturbations that change the output most, which sharpens
#   the diagonal.
# * The uniform kernel looks different at the same ``gamma`` because its
#   perturbations are much smaller, as computed below.
#
# Perturbation sizes
# ------------------
#
# A Gaussian perturbation in ``d`` dimensions has norm close to
# ``gamma * sqrt(d / 2)``, while a uniform one on the ball has norm at most
# ``gamma``. With hundreds of parameters the Gaussian perturbations are
# therefore an order of magnitude larger: they flip many sign units at once,
# whereas a uniform perturbation flips only the units whose jump lies close to
# ``x``, which gives the isolated bright entries of the last column.

n_params = NonlocalNTKKernel(hidden_layer_sizes=(width,), n_samples=2).fit(X).n_params_
print(f"d = {n_params} parameters")
print(f"typical Gaussian norm: {gamma * np.sqrt(n_params / 2):.2f}")
print(f"largest uniform norm:  {gamma:.2f}")

# %%
# Monte Carlo error
# -----------------
#
# The estimated relative standard error of each Monte Carlo Gram matrix
# (``kernel_std_error_``) estimates how much of each pattern is noise. It is
# largest for the rough activations and for the uniform law, whose estimates
# are dominated by the few perturbations that flip a unit.

for activation in activations:
    row = ", ".join(
        f"{name}: {errors[activation, name]:.3f}"
        for name in kernels
        if name != "exact NTK"
    )
    print(f"{activation:>12}  {row}")
