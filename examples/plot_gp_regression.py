"""
Gaussian-process regression with the nonlocal NTK
=================================================

:class:`~sknntk.NNTKGPKernel` wraps the exact or the nonlocal NTK as a
:mod:`sklearn.gaussian_process` kernel, so
:class:`~sklearn.gaussian_process.GaussianProcessRegressor` can use it and
return predictive standard deviations. This example fits a step target
with a gap in the training inputs and draws the posterior mean with a band
of two predictive standard deviations, for the exact NTK and the nonlocal
NTK of the same sign network.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel

from sknntk import NNTKGPKernel
from sknntk.datasets import make_grid, make_nonsmooth

QUICK = os.environ.get("SKNNTK_EXAMPLES_QUICK", "0") not in ("", "0")

# %%
# Data
# ----
#
# Noisy samples of ``sign(x)`` on ``[-2, 2]``, with no training inputs in
# ``(0.4, 1.2)``, so that the posterior uncertainty has somewhere to grow.

if QUICK:
    n_train, width, n_samples = 40, 64, 128
else:
    n_train, width, n_samples = 80, 256, 512
noise = 0.1

X, y = make_nonsmooth("sign", n_train, noise=noise, random_state=0)
keep = (X[:, 0] < 0.4) | (X[:, 0] > 1.2)
X, y = X[keep], y[keep]
X_plot, y_plot = make_grid("sign", 300, domain=(-2.5, 2.5))
X_plot = X_plot.reshape(-1, 1)

# %%
# Fit the Gaussian processes
# --------------------------
#
# The entries of an NTK are in the hundreds for this network, far from the
# scale of the targets, so each kernel is multiplied by a constant
# amplitude and a :class:`~sklearn.gaussian_process.kernels.WhiteKernel`
# models the observation noise. The marginal-likelihood optimizer tunes the
# amplitude and the noise level. The NTK's own ``gamma`` and ``n_samples``
# are fixed hyperparameters, which it leaves alone.

network = {"activation": "sign", "hidden_layer_sizes": (width,)}
ntk_kernels = {
    "exact NTK": NNTKGPKernel(kernel="ntk", **network),
    "nonlocal NTK": NNTKGPKernel(
        kernel="nonlocal", gamma=0.1, n_samples=n_samples, **network
    ),
}

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (name, ntk) in zip(axes, ntk_kernels.items()):
    kernel = ConstantKernel(1e-2, (1e-6, 1e2)) * ntk + WhiteKernel(noise**2)
    gp = GaussianProcessRegressor(kernel=kernel, random_state=0)
    gp.fit(X, y)
    print(f"{name}: fitted kernel {gp.kernel_}")
    mean, std = gp.predict(X_plot, return_std=True)
    ax.plot(X_plot[:, 0], y_plot, color="0.6", label="target")
    ax.fill_between(
        X_plot[:, 0],
        mean - 2 * std,
        mean + 2 * std,
        color="C0",
        alpha=0.25,
        label="mean ± 2 std",
    )
    ax.plot(X_plot[:, 0], mean, color="C0", label="posterior mean")
    ax.scatter(X[:, 0], y, s=10, color="k", zorder=3, label="training data")
    ax.axvspan(0.4, 1.2, color="0.9", zorder=0)
    ax.set_title(name)
    ax.set_xlabel("x")
    rmse = np.sqrt(np.mean((mean - y_plot) ** 2))
    in_gap = (X_plot[:, 0] > 0.4) & (X_plot[:, 0] < 1.2)
    print(f"{name}: RMSE {rmse:.3f}, mean std in the gap {std[in_gap].mean():.3f}")
axes[0].legend(loc="upper left")
fig.tight_layout()
plt.show()

# %%
# Each panel shows the posterior mean (line) and a band of two predictive
# standard deviations, which include the fitted noise. The shaded strip is
# the gap without training inputs. In both panels the band is narrowest
# where the training inputs are dense and widens in the gap, where no data
# constrain the fit. The exact NTK of the sign network is the linear kernel
# of its last hidden layer's features, a finite set of random step
# functions, so its posterior combines those steps. The nonlocal kernel adds
# how the steps move when the hidden weights are perturbed. The printed
# root mean squared error against the noiseless target and the mean
# standard deviation in the gap compare the two.
