"""Parameters shared by the kernel transformer and the ridge estimators."""

import contextlib
from numbers import Integral, Real

import torch
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from sknntk._perturbations import DISTRIBUTIONS, PERTURBATIONS, SAMPLERS
from sknntk.exceptions import NotFittedError
from sknntk.models import ACTIVATIONS

KERNELS = ("ntk", "nonlocal", "attention")
FORMS = ("expectation", "gradient")

# Defaults, in one place so that the three estimators agree.
KERNEL_DEFAULTS = {
    "model": None,
    "kernel": "nonlocal",
    "gamma": 0.1,
    "n_samples": 256,
    "distribution": "gaussian",
    "sampler": "antithetic",
    "perturbation": "isotropic",
    "form": "expectation",
    "normalize": True,
    "attention_temperature": None,
    "tol": 0.05,
    "max_samples": 4096,
    "hidden_layer_sizes": (256,),
    "activation": "relu",
    "n_jobs": None,
    "device": "cpu",
    "dtype": "float64",
    "sample_chunk_size": "auto",
    "row_chunk_size": "auto",
    "random_state": None,
    "verbose": 0,
}

KERNEL_CONSTRAINTS = {
    "model": [None, torch.nn.Module, callable],
    "kernel": [StrOptions(set(KERNELS))],
    "gamma": [Interval(Real, 0, None, closed="neither")],
    "n_samples": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "distribution": [StrOptions(set(DISTRIBUTIONS))],
    "sampler": [StrOptions(set(SAMPLERS))],
    "perturbation": [StrOptions(set(PERTURBATIONS))],
    "form": [StrOptions(set(FORMS))],
    "normalize": ["boolean"],
    "attention_temperature": [
        None,
        Interval(Real, 0, None, closed="neither"),
        StrOptions({"median"}),
    ],
    "tol": [Interval(Real, 0, None, closed="neither")],
    "max_samples": [Interval(Integral, 2, None, closed="left")],
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS)), callable],
    "n_jobs": [None, Integral],
    "device": [str, torch.device, list, tuple],
    "dtype": [StrOptions({"float32", "float64"})],
    "sample_chunk_size": [
        Interval(Integral, 1, None, closed="left"),
        StrOptions({"auto"}),
    ],
    "row_chunk_size": [
        Interval(Integral, 1, None, closed="left"),
        StrOptions({"auto"}),
    ],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def kernel_params(estimator):
    """Return the kernel parameters of an estimator as a dictionary."""
    return {name: getattr(estimator, name) for name in KERNEL_DEFAULTS}


@contextlib.contextmanager
def restore_state_on_error(estimator):
    """Put back the estimator's attributes if the body raises.

    A failed ``fit`` then leaves the estimator as it was before the call.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise


def check_fitted(estimator, attribute):
    """Raise :class:`sknntk.exceptions.NotFittedError` unless ``fit`` has run."""
    try:
        check_is_fitted(estimator, attribute)
    except _SklearnNotFittedError as error:
        raise NotFittedError(str(error)) from None
