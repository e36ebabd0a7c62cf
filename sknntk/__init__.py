"""Neural tangent kernels of PyTorch models for scikit-learn.

sknntk computes the exact empirical NTK of a torch module and the Monte Carlo
nonlocal NTK, which replaces gradients with finite differences averaged over
random parameter perturbations and so needs forward passes only. The kernels
are scikit-learn estimators: a transformer and ridge regression and
classification built on it.
"""

from sknntk._cache import clear_cache
from sknntk._estimators import NNTKClassifier, NNTKRegressor
from sknntk._gp import NNTKGPKernel
from sknntk._gradient import nonlocal_gradient
from sknntk._kernel import NonlocalNTKKernel
from sknntk._optim import NonlocalGD
from sknntk._regime import gradient_flow_predict, gradient_flow_train
from sknntk._tracking import KernelTracker, train_and_track

__version__ = "0.1.0"

__all__ = [
    "KernelTracker",
    "NNTKClassifier",
    "NNTKGPKernel",
    "NNTKRegressor",
    "NonlocalGD",
    "NonlocalNTKKernel",
    "__version__",
    "clear_cache",
    "gradient_flow_predict",
    "gradient_flow_train",
    "nonlocal_gradient",
    "train_and_track",
]
