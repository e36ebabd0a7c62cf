"""
Grid search over the perturbation width and the number of samples
==================================================================

:class:`~sknntk.NonlocalNTKKernel` is a scikit-learn transformer whose
``transform(X)`` returns the Gram matrix ``K(X, X_fit)``, so it goes into a
:class:`~sklearn.pipeline.Pipeline` in front of any estimator that accepts
``kernel="precomputed"``. This example tunes the perturbation width
``gamma`` and the number of Monte Carlo samples ``n_samples`` of the
nonlocal NTK of a sign network with :class:`~sklearn.model_selection.GridSearchCV`,
for kernel ridge regression on a sawtooth target.
"""

import os

import matplotlib.pyplot as plt
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from sknntk import NonlocalNTKKernel
from sknntk.datasets import make_grid, make_nonsmooth

QUICK = os.environ.get("SKNNTK_EXAMPLES_QUICK", "0") not in ("", "0")

# %%
# Data and pipeline
# -----------------
#
# A noisy sawtooth ``x - floor(x)`` on ``[-2, 2]``. The kernel step builds a
# network with one hidden layer of sign units. Its ``random_state`` fixes
# both the network and the perturbations, so every candidate of the search
# uses the same network. The entries of this kernel are in the hundreds (with
# ``normalize=True`` it is scaled to the size of the exact NTK), so the ridge
# penalty ``alpha=1.0`` is a light one.

if QUICK:
    n_train, width, n_folds = 80, 64, 3
    param_grid = {
        "kernel__gamma": [0.03, 0.1, 0.3],
        "kernel__n_samples": [32, 128],
    }
else:
    n_train, width, n_folds = 160, 128, 4
    param_grid = {
        "kernel__gamma": [0.03, 0.1, 0.3, 1.0],
        "kernel__n_samples": [32, 128, 512],
    }

X, y = make_nonsmooth("sawtooth", n_train, noise=0.05, random_state=0)

pipeline = Pipeline(
    [
        (
            "kernel",
            NonlocalNTKKernel(
                hidden_layer_sizes=(width,), activation="sign", random_state=0
            ),
        ),
        ("ridge", KernelRidge(kernel="precomputed", alpha=1.0)),
    ]
)

# %%
# Search
# ------
#
# Each candidate refits the kernel on the training folds and evaluates
# ``K(X_test, X_train)`` on the held-out fold. Perturbation ``k`` depends
# only on the seed and ``k``, and every draw is made at unit width and then
# scaled by ``gamma``: candidates with more samples extend those with fewer,
# and candidates with different widths share their directions. The scores
# therefore differ because of ``gamma`` and ``N``, not because of which
# perturbations were drawn.

search = GridSearchCV(
    pipeline,
    param_grid,
    cv=KFold(n_folds, shuffle=True, random_state=0),
    scoring="neg_mean_squared_error",
)
search.fit(X, y)

gammas = param_grid["kernel__gamma"]
sample_sizes = param_grid["kernel__n_samples"]
scores = -search.cv_results_["mean_test_score"].reshape(len(gammas), -1)
print("best parameters:", search.best_params_)
print(f"best cross-validated MSE: {-search.best_score_:.4f}")

# %%
# Cross-validated error over the grid
# -----------------------------------

fig, (ax_grid, ax_fit) = plt.subplots(1, 2, figsize=(10, 4))
image = ax_grid.imshow(scores, cmap="viridis_r", aspect="auto")
ax_grid.set_xticks(range(len(sample_sizes)), labels=[str(n) for n in sample_sizes])
ax_grid.set_yticks(range(len(gammas)), labels=[str(g) for g in gammas])
ax_grid.set_xlabel("n_samples")
ax_grid.set_ylabel("gamma")
ax_grid.set_title("cross-validated MSE")
for i in range(len(gammas)):
    for j in range(len(sample_sizes)):
        ax_grid.text(
            j,
            i,
            f"{scores[i, j]:.3f}",
            ha="center",
            va="center",
            color="k",
            bbox={"facecolor": "w", "alpha": 0.7, "edgecolor": "none"},
        )
fig.colorbar(image, ax=ax_grid)

X_plot, y_plot = make_grid("sawtooth", 400, domain=(-2.0, 2.0))
X_plot = X_plot.reshape(-1, 1)
ax_fit.plot(X_plot[:, 0], y_plot, color="0.6", label="target")
ax_fit.scatter(X[:, 0], y, s=8, color="k", label="training data")
ax_fit.plot(X_plot[:, 0], search.predict(X_plot), color="C3", label="best pipeline")
ax_fit.set_xlabel("x")
ax_fit.legend(loc="upper left")
ax_fit.set_title("prediction of the refitted best pipeline")
fig.tight_layout()
plt.show()

# %%
# The left panel shows the mean squared error on the held-out folds for
# every pair of ``gamma`` and ``n_samples`` (lower is better). Along a row,
# more samples reduce the Monte Carlo noise of the kernel. Down a column,
# ``gamma`` sets how far the perturbations reach in parameter space. With the
# smallest widths few sign units flip, so the kernel reflects little beyond
# the last layer and the error is largest; larger widths average the network's
# changes over a wider neighbourhood of its parameters.
# The right panel shows the pipeline refitted on all the data with the best
# pair, against the sawtooth target. The prediction is roughest near
# ``x = 0``: the default network's biases are small, so many sign units jump
# close to 0, and there a perturbation flips many units at once and the Monte
# Carlo kernel is at its noisiest.
