"""Exceptions and warning categories raised by sknntk."""

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
    """


class SknntkWarning(UserWarning):
    """Base class of the warnings that sknntk issues."""


class PrecisionWarning(SknntkWarning):
    """Finite differences are at the rounding level of the floating-point type.

    Raised when the perturbed outputs differ from the unperturbed ones by no more
    than a few units in the last place, so the nonlocal kernel would be rounding
    noise. Use ``dtype="float64"`` or a larger ``gamma``.
    """


class IllConditionedWarning(SknntkWarning):
    """A ridge system was too ill-conditioned for a Cholesky factorization.

    The solver then falls back to a symmetric eigendecomposition, which is slower
    but stable. A larger ``alpha`` usually removes the warning.
    """


class VmapFallbackWarning(SknntkWarning):
    """The module could not be batched with :func:`torch.func.vmap`.

    The perturbed forward passes then run one perturbation at a time, which gives
    the same kernel but is slower.
    """


class TrainingModeWarning(SknntkWarning):
    """The module was in training mode and contains dropout or batch normalization.

    Kernels are always computed in evaluation mode; the module's own training
    flag is left as it was.
    """
