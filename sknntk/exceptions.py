"""Exceptions and warning categories raised by sknntk.

Every warning that sknntk issues is a :class:`SknntkWarning`, so one filter
silences or escalates all of them, for example
``warnings.simplefilter("error", SknntkWarning)``.
"""

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "NotFittedError",
    "SknntkWarning",
    "PrecisionWarning",
    "IllConditionedWarning",
    "VmapFallbackWarning",
    "TrainingModeWarning",
]


class NotFittedError(_SklearnNotFittedError):
    """Raised when a method that needs a fitted estimator is called before ``fit``.

    It subclasses scikit-learn's :class:`~sklearn.exceptions.NotFittedError`, so
    code that catches the scikit-learn error also catches this one.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk import NonlocalNTKKernel
    >>> from sknntk.exceptions import NotFittedError
    >>> try:
    ...     NonlocalNTKKernel().transform(np.zeros((2, 1)))
    ... except NotFittedError as error:
    ...     print(type(error).__name__)
    NotFittedError
    """


class SknntkWarning(UserWarning):
    """Base class of the warnings that sknntk issues.

    Examples
    --------
    >>> import warnings
    >>> from sknntk.exceptions import PrecisionWarning, SknntkWarning
    >>> issubclass(PrecisionWarning, SknntkWarning)
    True
    """


class PrecisionWarning(SknntkWarning):
    """Finite differences are at the rounding level of the floating-point type.

    Issued when the perturbed outputs differ from the unperturbed ones by no
    more than a few units in the last place, or not at all, so the nonlocal
    kernel would be rounding noise or zero. Use ``dtype="float64"`` or a
    larger ``gamma``.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sknntk import NonlocalNTKKernel
    >>> from sknntk.exceptions import PrecisionWarning
    >>> X = np.linspace(-1, 1, 5).reshape(-1, 1)
    >>> kernel = NonlocalNTKKernel(gamma=1e-12, dtype="float32", n_samples=4,
    ...                            hidden_layer_sizes=(4,), random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = kernel.fit(X)
    >>> any(issubclass(w.category, PrecisionWarning) for w in caught)
    True
    """


class IllConditionedWarning(SknntkWarning):
    """A ridge system was too ill-conditioned for a Cholesky factorization.

    The solver then falls back to a symmetric eigendecomposition, which is
    slower but stable. A larger ``alpha`` usually removes the warning.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sknntk._ridge import solve_dual
    >>> from sknntk.exceptions import IllConditionedWarning
    >>> K = np.ones((3, 3))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = solve_dual(K, np.ones((3, 1)), alpha=0.0)
    >>> caught[0].category is IllConditionedWarning
    True
    """


class VmapFallbackWarning(SknntkWarning):
    """The module could not be batched with :func:`torch.func.vmap`.

    The forward passes (or Jacobians) then run one perturbation (or row) at a
    time, which gives the same kernel but is slower. Typical causes are
    ``.item()`` calls and operators without a batching rule.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import torch
    >>> from sknntk import NonlocalNTKKernel
    >>> from sknntk.exceptions import VmapFallbackWarning
    >>> class Unbatchable(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(1, 1).double()
    ...     def forward(self, X):
    ...         return self.linear(X) * float(self.linear.weight.sum().item() != 0)
    >>> X = np.linspace(-1, 1, 4).reshape(-1, 1)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = NonlocalNTKKernel(Unbatchable(), n_samples=4).fit(X)
    >>> any(issubclass(w.category, VmapFallbackWarning) for w in caught)
    True
    """


class TrainingModeWarning(SknntkWarning):
    """The module was in training mode and contains dropout or batch normalization.

    Kernels are always computed in evaluation mode; the module's own training
    flag is left as it was.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import torch
    >>> from sknntk import NonlocalNTKKernel
    >>> from sknntk.exceptions import TrainingModeWarning
    >>> model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Dropout(0.5),
    ...                             torch.nn.Linear(4, 1)).double().train()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = NonlocalNTKKernel(model, n_samples=4).fit(np.zeros((3, 1)))
    >>> any(issubclass(w.category, TrainingModeWarning) for w in caught)
    True
    >>> model.training
    True
    """
