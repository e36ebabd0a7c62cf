"""
Classifying digits with the nonlocal NTK
========================================

:class:`~sknntk.NNTKClassifier` is one-vs-rest ridge classification with
the exact or the nonlocal NTK of a network. This example classifies
scikit-learn's 8x8 handwritten digits with the kernels of a ReLU network
and of a sign network. For the sign network the exact NTK reflects only
the last layer, because every hidden weight has a zero gradient. The
nonlocal kernel is built from forward passes at perturbed parameters, so
it reflects every layer.
"""

import os
import time

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

from sknntk import NNTKClassifier

QUICK = os.environ.get("SKNNTK_EXAMPLES_QUICK", "0") not in ("", "0")

# %%
# Data
# ----
#
# The pixels take values 0 to 16; dividing by 16 puts them in ``[0, 1]``. A
# stratified subset keeps the example fast.

if QUICK:
    n_train, n_test, width, n_samples = 300, 200, 64, 128
else:
    n_train, n_test, width, n_samples = 1000, 500, 256, 256

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=n_train, test_size=n_test, stratify=y, random_state=0
)

# %%
# Fit four classifiers
# --------------------
#
# Two activations, each with the exact NTK (``kernel="ntk"``) and the
# Monte Carlo nonlocal NTK. The same ``random_state`` gives the same network
# to both kernels of an activation.

results = {}
fitted = {}
for activation in ["relu", "sign"]:
    for kernel in ["ntk", "nonlocal"]:
        classifier = NNTKClassifier(
            kernel=kernel,
            activation=activation,
            hidden_layer_sizes=(width,),
            n_samples=n_samples,
            gamma=0.1,
            alpha=1.0,
            random_state=0,
        )
        start = time.perf_counter()
        classifier.fit(X_train, y_train)
        accuracy = classifier.score(X_test, y_test)
        elapsed = time.perf_counter() - start
        results[activation, kernel] = accuracy
        fitted[activation, kernel] = classifier
        print(
            f"{activation:>4} {kernel:>8}: test accuracy {accuracy:.3f} "
            f"({elapsed:.1f} s to fit and score)"
        )

# %%
# Accuracy and confusion matrix
# -----------------------------

fig, (ax_bar, ax_cm) = plt.subplots(1, 2, figsize=(10, 4.2))
labels = [f"{activation}\n{kernel}" for activation, kernel in results]
colors = ["C0" if kernel == "ntk" else "C1" for _, kernel in results]
ax_bar.bar(labels, list(results.values()), color=colors)
for index, value in enumerate(results.values()):
    ax_bar.text(index, value + 0.01, f"{value:.3f}", ha="center")
ax_bar.set_ylim(0, 1.08)
ax_bar.set_ylabel("test accuracy")
ax_bar.set_title("exact NTK (blue) and nonlocal NTK (orange)")

ConfusionMatrixDisplay.from_estimator(
    fitted["sign", "nonlocal"], X_test, y_test, ax=ax_cm, colorbar=False
)
ax_cm.set_title("sign network, nonlocal NTK")
fig.tight_layout()
plt.show()

# %%
# The left panel compares the test accuracy of the four classifiers. For the
# ReLU network, which autograd differentiates almost everywhere, the exact
# and the nonlocal kernels are close. For the sign network the exact NTK is
# the linear kernel of the last hidden layer's sign features, a random
# feature model, while the nonlocal kernel adds the contribution of the
# hidden weights. The right panel shows the confusion matrix of the sign
# network's nonlocal classifier on the test digits: rows are the true
# classes, columns the predicted ones.
