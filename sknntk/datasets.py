"""Regression data sets with nonsmooth and discontinuous targets.

The targets are the functions studied in "Nonlocal Neural Tangent Kernels via
Parameter-Space Interactions" (Nagaraj and Hari, 2025): jumps, kinks, periodic
discontinuities and a rough Weierstrass series. Each target is a numpy function
of a 1-D array, listed in :data:`TARGETS`, and the formulas match the
activations of the same names in :mod:`sknntk.models`.
"""

import math
import numbers

import numpy as np

from sknntk.models import _check_positive_int, _check_weierstrass_parameters

__all__ = [
    "TARGETS",
    "make_grid",
    "make_nonsmooth",
    "piecewise",
    "relu",
    "sawtooth",
    "sign",
    "square_wave",
    "weierstrass",
]


def sign(x):
    r"""Compute the sign function, with values -1, 0 and 1.

    .. math:: g(x) = \operatorname{sign}(x)

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Input points.

    Returns
    -------
    ndarray of shape (n_samples,)
        Target values, 0 exactly at ``x = 0``.

    Examples
    --------
    >>> sign(np.array([-2.0, 0.0, 3.0]))
    array([-1.,  0.,  1.])
    """
    return np.sign(np.asarray(x, dtype=np.float64))


def sawtooth(x):
    r"""Compute the sawtooth wave of period 1, the fractional part of ``x``.

    .. math:: g(x) = x - \lfloor x \rfloor

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Input points.

    Returns
    -------
    ndarray of shape (n_samples,)
        Target values in [0, 1), which jump from 1 down to 0 at every integer.

    Examples
    --------
    >>> sawtooth(np.array([-0.25, 0.0, 1.5]))
    array([0.75, 0.  , 0.5 ])
    """
    x = np.asarray(x, dtype=np.float64)
    return x - np.floor(x)


def square_wave(x):
    r"""Compute the square wave of period 2.

    .. math:: g(x) = \operatorname{sign}(\sin(\pi x))

    The value is 1 on (2k, 2k + 1), -1 on (2k + 1, 2k + 2) and 0 at the
    integers. It is computed from ``floor(x)``, not from ``sin``, because in
    floating point ``sin(pi * k)`` is a rounding error of either sign rather
    than 0, which would give -1 or 1 at the jumps.

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Input points.

    Returns
    -------
    ndarray of shape (n_samples,)
        Target values in {-1, 0, 1}.

    Examples
    --------
    >>> square_wave(np.array([0.5, 1.0, 1.5]))
    array([ 1.,  0., -1.])
    """
    x = np.asarray(x, dtype=np.float64)
    floor = np.floor(x)
    # 1 where floor(x) is even, -1 where it is odd.
    wave = 1.0 - 2.0 * np.mod(floor, 2.0)
    return np.where(x == floor, 0.0, wave)


def piecewise(x):
    r"""Compute a discontinuous piecewise-linear function.

    .. math::

        g(x) = \begin{cases} x - 1 & x < 0 \\
        x / 2 + 1 & x \ge 0 \end{cases}

    The function jumps by 2 at 0, where it takes the right-hand value 1, and
    its slope changes from 1 to 1/2 there.

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Input points.

    Returns
    -------
    ndarray of shape (n_samples,)
        Target values.

    Examples
    --------
    >>> piecewise(np.array([-1.0, 0.0, 2.0]))
    array([-2.,  1.,  2.])
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x < 0, x - 1.0, 0.5 * x + 1.0)


def relu(x):
    r"""Compute the rectified linear function, continuous with a kink at 0.

    .. math:: g(x) = \max(x, 0)

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Input points.

    Returns
    -------
    ndarray of shape (n_samples,)
        Target values.

    Examples
    --------
    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def weierstrass(x, a=0.5, b=3.0, n_terms=8):
    r"""Compute a truncated Weierstrass function, continuous but rough.

    .. math:: g(x) = \sum_{k=0}^{K-1} a^k \cos(b^k \pi x)

    with ``K = n_terms``. With ``0 < a < 1`` and ``a * b >= 1`` the infinite
    series is continuous and nowhere differentiable. The truncated sum is
    smooth below the period ``2 / b**(K - 1)`` of its last term, which is about
    0.0009 with the defaults.

    Parameters
    ----------
    x : ndarray of shape (n_samples,)
        Input points.
    a : float, default=0.5
        Amplitude ratio between successive terms, in the open interval (0, 1).
    b : float, default=3.0
        Frequency ratio between successive terms, with ``a * b >= 1``.
    n_terms : int, default=8
        Number of terms ``K`` kept from the series.

    Returns
    -------
    ndarray of shape (n_samples,)
        Target values in ``[-S, S]`` with ``S = (1 - a**K) / (1 - a)``.

    Raises
    ------
    ValueError
        If ``a``, ``b`` or ``n_terms`` is outside the range above.

    Examples
    --------
    >>> weierstrass(np.array([0.0, 1.0]), n_terms=2)
    array([ 1.5, -1.5])
    """
    _check_weierstrass_parameters(a, b, n_terms)
    x = np.asarray(x, dtype=np.float64)

    total = np.zeros_like(x)
    for k in range(int(n_terms)):
        total += a**k * np.cos(b**k * np.pi * x)
    return total


#: Target functions by name, each mapping a 1-D array to a 1-D array.
TARGETS = {
    "sign": sign,
    "sawtooth": sawtooth,
    "square_wave": square_wave,
    "piecewise": piecewise,
    "relu": relu,
    "weierstrass": weierstrass,
}


def make_nonsmooth(
    target="sign",
    n_samples=200,
    *,
    n_features=1,
    noise=0.0,
    domain=(-2.0, 2.0),
    random_state=None,
):
    r"""Generate a regression problem with a nonsmooth target along one direction.

    .. math:: y = g(w^\top x) + \varepsilon, \quad
              w = \mathbf{1} / \sqrt{d}, \quad
              \varepsilon \sim \mathcal{N}(0, \text{noise}^2)

    The inputs are drawn uniformly from ``domain`` in each of the ``d``
    features. With one feature, ``y = g(x)`` plus noise.

    Parameters
    ----------
    target : str or callable, default="sign"
        A name from :data:`TARGETS`, or a function that maps a 1-D array of
        shape ``(n_samples,)`` to an array of the same shape. For a Weierstrass
        target with other parameters, pass for example
        ``functools.partial(weierstrass, a=0.7)``.
    n_samples : int, default=200
        Number of samples, at least 1.
    n_features : int, default=1
        Number of features ``d``, at least 1.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the targets.
    domain : tuple of two floats, default=(-2.0, 2.0)
        Lower and upper bound of every feature.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        Source of the inputs and the noise. Pass an int for reproducible
        output. The noise is drawn after the inputs, so ``X`` does not depend
        on ``noise``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs, float64.
    y : ndarray of shape (n_samples,)
        Targets, float64.

    Raises
    ------
    ValueError
        If a parameter is outside its range, ``target`` is an unknown name, or
        a callable target returns an array of the wrong shape.
    TypeError
        If ``target`` is neither a string nor callable.

    Examples
    --------
    >>> X, y = make_nonsmooth("sawtooth", 50, n_features=3, random_state=0)
    >>> X.shape, y.shape
    ((50, 3), (50,))
    """
    function = _check_target(target)
    n_samples = _check_positive_int(n_samples, "n_samples")
    n_features = _check_positive_int(n_features, "n_features")
    noise = _check_noise(noise)
    low, high = _check_domain(domain)
    rng = _check_random_state(random_state)

    X = rng.uniform(low, high, size=(n_samples, n_features))
    direction = np.full(n_features, 1.0 / np.sqrt(n_features))
    y = _evaluate_target(function, X @ direction)

    if noise > 0.0:
        y = y + rng.normal(scale=noise, size=n_samples)
    return X, y


def make_grid(target="sign", n_samples=200, *, domain=(-2.0, 2.0)):
    """Evaluate a target on evenly spaced 1-D inputs, without noise.

    The inputs are sorted in increasing order and include both ends of
    ``domain``, which suits line plots and kernel heatmaps.

    Parameters
    ----------
    target : str or callable, default="sign"
        A name from :data:`TARGETS`, or a function that maps a 1-D array of
        shape ``(n_samples,)`` to an array of the same shape.
    n_samples : int, default=200
        Number of grid points, at least 1. A single point is ``domain[0]``.
    domain : tuple of two floats, default=(-2.0, 2.0)
        Lower and upper end of the grid.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        Grid points, float64.
    y : ndarray of shape (n_samples,)
        Target values, float64.

    Raises
    ------
    ValueError
        If a parameter is outside its range, ``target`` is an unknown name, or
        a callable target returns an array of the wrong shape.
    TypeError
        If ``target`` is neither a string nor callable.

    Examples
    --------
    >>> X, y = make_grid("sign", 5, domain=(-1.0, 1.0))
    >>> X.ravel()
    array([-1. , -0.5,  0. ,  0.5,  1. ])
    >>> y
    array([-1., -1.,  0.,  1.,  1.])
    """
    function = _check_target(target)
    n_samples = _check_positive_int(n_samples, "n_samples")
    low, high = _check_domain(domain)

    x = np.linspace(low, high, n_samples)
    y = _evaluate_target(function, x)
    return x.reshape(-1, 1), y


def _check_target(target):
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(
                f"Unknown target {target!r}. Use one of "
                f"{', '.join(repr(name) for name in TARGETS)} or a function of "
                "a 1-D array."
            )
        return TARGETS[target]
    if callable(target):
        return target
    raise TypeError(
        f"target must be a name or a callable, got {target!r} of type "
        f"{type(target).__name__}. Use one of "
        f"{', '.join(repr(name) for name in TARGETS)}."
    )


def _evaluate_target(function, x):
    y = np.asarray(function(x.copy()), dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(
            f"The target function must return an array of shape {x.shape}, got "
            f"shape {y.shape}. Make it act elementwise on a 1-D array."
        )
    return y


def _check_noise(noise):
    if not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
        raise ValueError(
            f"noise must be a finite standard deviation >= 0, got {noise!r}."
        )
    return float(noise)


def _check_domain(domain):
    try:
        low, high = domain
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(
            f"domain must be a pair of numbers (low, high), got {domain!r}."
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(
            f"domain must be finite with low < high, got {domain!r}. Use for "
            "example (-2.0, 2.0)."
        )
    return low, high


def _check_random_state(random_state):
    """Return a numpy random state, following sklearn's check_random_state.

    A numpy Generator is accepted as well and returned as is.
    """
    if random_state is None or random_state is np.random:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState | np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool | np.bool_
    ):
        return np.random.RandomState(random_state)
    raise ValueError(
        f"random_state must be None, an int, a numpy.random.RandomState or a "
        f"numpy.random.Generator, got {random_state!r}."
    )
