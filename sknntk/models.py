"""Activation functions and a multilayer perceptron for kernel experiments.

The activations include the nonsmooth and discontinuous functions (sign, jumps,
square waves, a truncated Weierstrass series) whose networks have no classical
neural tangent kernel. Every activation is an elementwise ``torch.nn.Module``
built from plain torch operations, so it runs under :func:`torch.func.vmap` and
:func:`torch.func.functional_call`, and it pickles.
"""

import math
import numbers

import numpy as np
import torch

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "CallableActivation",
    "Erf",
    "Piecewise",
    "Sawtooth",
    "Sign",
    "SquareWave",
    "Weierstrass",
    "get_activation",
]

PARAMETERIZATIONS = ("standard", "ntk")


class Sign(torch.nn.Module):
    r"""Sign function, the step activation with values -1, 0 and 1.

    .. math:: \sigma(x) = \operatorname{sign}(x)

    The output is 0 exactly at ``x = 0``. Autograd gives a zero derivative
    everywhere, so in a sign network only the last layer has nonzero
    gradients, and the gradient-based tangent kernel sees only that layer.

    Examples
    --------
    >>> import torch
    >>> Sign()(torch.tensor([-2.0, 0.0, 3.0]))
    tensor([-1.,  0.,  1.])
    """

    def forward(self, x):
        return torch.sign(x)


class Piecewise(torch.nn.Module):
    r"""Discontinuous piecewise-linear activation.

    .. math::

        \sigma(x) = \begin{cases} x - 1 & x < 0 \\
        x / 2 + 1 & x \ge 0 \end{cases}

    The function jumps by 2 at 0, where it takes the right-hand value 1, and
    its slope changes from 1 to 1/2 there.

    Examples
    --------
    >>> import torch
    >>> Piecewise()(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([-2.,  1.,  2.])
    """

    def forward(self, x):
        return torch.where(x < 0, x - 1.0, 0.5 * x + 1.0)


class Erf(torch.nn.Module):
    """Gauss error function :func:`torch.erf`, a smooth sigmoid with range (-1, 1).

    Examples
    --------
    >>> import torch
    >>> Erf()(torch.tensor([0.0]))
    tensor([0.])
    """

    def forward(self, x):
        return torch.erf(x)


class SquareWave(torch.nn.Module):
    r"""Square wave of period 2.

    .. math:: \sigma(x) = \operatorname{sign}(\sin(\pi x))

    The output is 1 on (2k, 2k + 1), -1 on (2k + 1, 2k + 2) and 0 at the
    integers. It is computed from ``floor(x)``, not from ``sin``, because in
    floating point ``sin(pi * k)`` is a rounding error of either sign rather
    than 0, which would give -1 or 1 at the jumps.

    Examples
    --------
    >>> import torch
    >>> SquareWave()(torch.tensor([0.5, 1.0, 1.5]))
    tensor([ 1.,  0., -1.])
    """

    def forward(self, x):
        floor = torch.floor(x)
        # 1 where floor(x) is even, -1 where it is odd.
        wave = 1.0 - 2.0 * torch.remainder(floor, 2.0)
        return torch.where(x == floor, torch.zeros_like(x), wave)


class Sawtooth(torch.nn.Module):
    r"""Sawtooth wave of period 1, the fractional part of its input.

    .. math:: \sigma(x) = x - \lfloor x \rfloor

    The output lies in [0, 1) and jumps from 1 down to 0 at every integer.

    Examples
    --------
    >>> import torch
    >>> Sawtooth()(torch.tensor([-0.25, 0.0, 1.5]))
    tensor([0.7500, 0.0000, 0.5000])
    """

    def forward(self, x):
        return x - torch.floor(x)


class Weierstrass(torch.nn.Module):
    r"""Truncated Weierstrass function, continuous but rough at fine scales.

    .. math:: \sigma(x) = \sum_{k=0}^{K-1} a^k \cos(b^k \pi x)

    with ``K = n_terms``. The output lies in ``[-S, S]`` with
    ``S = (1 - a**K) / (1 - a)``, and it equals ``S`` at ``x = 0``.

    Parameters
    ----------
    a : float, default=0.5
        Amplitude ratio between successive terms, in the open interval (0, 1).
    b : float, default=3.0
        Frequency ratio between successive terms, with ``a * b >= 1``.
    n_terms : int, default=8
        Number of terms ``K`` kept from the series.

    Notes
    -----
    With ``0 < a < 1`` and ``a * b >= 1`` the infinite series is continuous and
    nowhere differentiable. The truncated sum is a trigonometric polynomial, so
    it is smooth. It is rough only down to the period ``2 / b**(K - 1)`` of its
    last term, which is about 0.0009 with the defaults.

    Examples
    --------
    >>> import torch
    >>> Weierstrass(a=0.5, b=3.0, n_terms=2)(torch.tensor([0.0, 1.0]))
    tensor([ 1.5000, -1.5000])
    """

    def __init__(self, a=0.5, b=3.0, n_terms=8):
        super().__init__()
        _check_weierstrass_parameters(a, b, n_terms)
        self.a = float(a)
        self.b = float(b)
        self.n_terms = int(n_terms)

    def forward(self, x):
        total = torch.zeros_like(x)
        for k in range(self.n_terms):
            total = total + self.a**k * torch.cos(self.b**k * math.pi * x)
        return total

    def extra_repr(self):
        return f"a={self.a}, b={self.b}, n_terms={self.n_terms}"


class CallableActivation(torch.nn.Module):
    """Module that applies an elementwise function of a tensor.

    :func:`get_activation` uses it to wrap plain functions. The module pickles
    only if the function does, so use a function defined at module level rather
    than a lambda when the model has to be pickled or sent to other processes.

    Parameters
    ----------
    function : callable
        Function that takes a tensor and returns a tensor of the same shape.

    Examples
    --------
    >>> import torch
    >>> CallableActivation(torch.sigmoid)(torch.tensor([0.0]))
    tensor([0.5000])
    """

    def __init__(self, function):
        super().__init__()
        if not callable(function):
            raise TypeError(
                f"function must be callable, got {function!r} of type "
                f"{type(function).__name__}. Pass a function that maps a tensor "
                "to a tensor."
            )
        self.function = function

    def forward(self, x):
        return self.function(x)

    def extra_repr(self):
        return getattr(self.function, "__qualname__", repr(self.function))


_REGISTRY = {
    "sign": Sign,
    "step": Sign,
    "piecewise": Piecewise,
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "erf": Erf,
    "identity": torch.nn.Identity,
    "square_wave": SquareWave,
    "sawtooth": Sawtooth,
    "weierstrass": Weierstrass,
}

#: Names accepted by :func:`get_activation`. ``"step"`` is an alias of ``"sign"``.
ACTIVATIONS = tuple(_REGISTRY)


def get_activation(activation):
    """Build an activation module from a name, a module or a function.

    Parameters
    ----------
    activation : str, torch.nn.Module, torch.nn.Module subclass or callable
        A name from :data:`ACTIVATIONS`, which gives a new module with default
        parameters, or a module instance, which is returned as is. A module
        class is instantiated without arguments. Any other callable that maps a
        tensor to a tensor is wrapped in a :class:`CallableActivation`.

    Returns
    -------
    torch.nn.Module
        The activation module.

    Raises
    ------
    ValueError
        If ``activation`` is a string that is not in :data:`ACTIVATIONS`.
    TypeError
        If ``activation`` is neither a string nor callable.

    Examples
    --------
    >>> get_activation("sign")
    Sign()
    >>> get_activation(Weierstrass(a=0.7, b=2.0))
    Weierstrass(a=0.7, b=2.0, n_terms=8)
    """
    if isinstance(activation, str):
        if activation not in _REGISTRY:
            raise ValueError(
                f"Unknown activation {activation!r}. Use one of "
                f"{', '.join(repr(name) for name in ACTIVATIONS)}, a "
                "torch.nn.Module or a function of a tensor."
            )
        return _REGISTRY[activation]()

    if isinstance(activation, torch.nn.Module):
        return activation
    if isinstance(activation, type) and issubclass(activation, torch.nn.Module):
        return activation()
    if callable(activation):
        return CallableActivation(activation)

    raise TypeError(
        f"activation must be a string, a torch.nn.Module or a callable, got "
        f"{activation!r} of type {type(activation).__name__}. Use one of "
        f"{', '.join(repr(name) for name in ACTIVATIONS)}."
    )


class MLP(torch.nn.Module):
    r"""Fully connected network with a configurable activation and initialization.

    .. math::

        h_0 = x, \quad h_l = \sigma(W_l h_{l-1} + b_l), \quad
        f(x) = W_{L+1} h_L + b_{L+1}

    Here :math:`W_l` and :math:`b_l` are the effective weights and biases, which
    depend on ``parameterization``. The layers are :class:`torch.nn.Linear`
    modules, stored in ``layers``, with the activation after every layer but
    the last. ``forward`` maps an input of shape ``(n_samples, n_features)`` to
    an output of shape ``(n_samples, n_outputs)``. A single sample of shape
    ``(n_features,)`` maps to ``(n_outputs,)``, which suits
    :func:`torch.func.vmap` over samples.

    Parameters
    ----------
    n_features : int
        Number of input features, at least 1.
    hidden_layer_sizes : int or sequence of int, default=(256,)
        Width of each hidden layer. An empty sequence gives a linear model.
    activation : str, torch.nn.Module or callable, default="relu"
        Activation after each hidden layer, resolved by :func:`get_activation`.
    n_outputs : int, default=1
        Number of outputs, at least 1.
    parameterization : {"standard", "ntk"}, default="standard"
        How the weights are scaled. With ``"standard"`` the weights are drawn
        from N(0, 1 / fan_in) (LeCun normal) and the biases from
        N(0, bias_scale**2), and ``forward`` uses them as they are. With
        ``"ntk"`` (the NTK parameterization of Jacot et al., 2018) the weights
        and biases are drawn from N(0, 1), and ``forward`` multiplies the
        weights by ``1 / sqrt(fan_in)`` and the biases by ``bias_scale``.
    bias : bool, default=True
        Whether the layers have biases.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        Source of the initial weights. None draws a seed from numpy's global
        random state. Torch's global random state is never used.
    dtype : torch.dtype or str, default=torch.float64
        Floating-point type of the parameters, for example ``torch.float32``
        or ``"float32"``.
    bias_scale : float, default=0.1
        Standard deviation of the effective biases at initialization.

    Attributes
    ----------
    activation : torch.nn.Module
        Activation module built from the ``activation`` argument.
    layers : torch.nn.ModuleList
        The ``len(hidden_layer_sizes) + 1`` linear layers, input layer first.
    dtype : torch.dtype
        Floating-point type the parameters were created with. It is not
        updated by :meth:`torch.nn.Module.to`.

    Notes
    -----
    Both parameterizations use the same random draws for a given
    ``random_state``, and the effective weights ``W / sqrt(fan_in)`` and biases
    ``bias_scale * b`` have the same distribution. Two networks that differ
    only in ``parameterization`` therefore compute the same function at
    initialization. Their gradients differ: a weight gradient under ``"ntk"`` is
    ``1 / sqrt(fan_in)`` times the one under ``"standard"`` and a bias gradient
    is ``bias_scale`` times it, so their tangent kernels differ too.

    Examples
    --------
    >>> import torch
    >>> model = MLP(2, hidden_layer_sizes=(16, 16), activation="sign",
    ...             random_state=0)
    >>> model(torch.zeros(5, 2, dtype=torch.float64)).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        n_features,
        hidden_layer_sizes=(256,),
        activation="relu",
        n_outputs=1,
        parameterization="standard",
        bias=True,
        random_state=None,
        dtype=torch.float64,
        bias_scale=0.1,
    ):
        super().__init__()
        n_features = _check_positive_int(n_features, "n_features")
        hidden_layer_sizes = _check_hidden_layer_sizes(hidden_layer_sizes)
        n_outputs = _check_positive_int(n_outputs, "n_outputs")
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be 'standard' or 'ntk', got "
                f"{parameterization!r}."
            )
        if not isinstance(bias, bool | np.bool_):
            raise TypeError(f"bias must be True or False, got {bias!r}.")
        bias_scale = _check_bias_scale(bias_scale)
        dtype = _check_dtype(dtype)

        self.n_features = n_features
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = get_activation(activation)
        self.n_outputs = n_outputs
        self.parameterization = parameterization
        self.bias = bool(bias)
        self.random_state = random_state
        self.dtype = dtype
        self.bias_scale = bias_scale

        # skip_init builds the layers without their default initialization,
        # which would draw from torch's global random state.
        widths = (n_features, *hidden_layer_sizes, n_outputs)
        self.layers = torch.nn.ModuleList(
            torch.nn.utils.skip_init(
                torch.nn.Linear, fan_in, fan_out, bias=self.bias, dtype=dtype
            )
            for fan_in, fan_out in zip(widths[:-1], widths[1:])
        )
        self._initialize(random_state)

    def _initialize(self, random_state):
        seed = _draw_seed(random_state)
        generator = torch.Generator().manual_seed(seed)

        with torch.no_grad():
            for layer in self.layers:
                fan_in = layer.in_features
                weight = torch.randn(
                    layer.weight.shape, generator=generator, dtype=self.dtype
                )
                if self.parameterization == "standard":
                    weight = weight / math.sqrt(fan_in)
                layer.weight.copy_(weight)

                if layer.bias is None:
                    continue
                bias = torch.randn(
                    layer.bias.shape, generator=generator, dtype=self.dtype
                )
                if self.parameterization == "standard":
                    bias = bias * self.bias_scale
                layer.bias.copy_(bias)

    def forward(self, X):
        """Compute the network output.

        Parameters
        ----------
        X : tensor or array-like of shape (n_samples, n_features) or (n_features,)
            Input. A tensor must have the dtype of the parameters, and other
            inputs are converted to it.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_outputs) or (n_outputs,)
            Network output.
        """
        if not torch.is_tensor(X):
            X = torch.as_tensor(X, dtype=self.layers[0].weight.dtype)
        if X.ndim not in (1, 2) or X.shape[-1] != self.n_features:
            raise ValueError(
                f"MLP expects X of shape (n_samples, {self.n_features}) or "
                f"({self.n_features},), got shape {tuple(X.shape)}. Pass inputs "
                "with that many features or build the MLP with a matching "
                "n_features."
            )

        hidden = X
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            hidden = self._apply_linear(layer, hidden)
            if index < last:
                hidden = self.activation(hidden)
        return hidden

    def _apply_linear(self, layer, hidden):
        if self.parameterization == "standard":
            return layer(hidden)

        weight = layer.weight / math.sqrt(layer.in_features)
        bias = None if layer.bias is None else self.bias_scale * layer.bias
        return torch.nn.functional.linear(hidden, weight, bias)

    def __repr__(self):
        return (
            f"MLP(n_features={self.n_features}, "
            f"hidden_layer_sizes={self.hidden_layer_sizes}, "
            f"activation={self.activation!r}, n_outputs={self.n_outputs}, "
            f"parameterization={self.parameterization!r}, bias={self.bias}, "
            f"random_state={self.random_state!r}, dtype={self.dtype}, "
            f"bias_scale={self.bias_scale})"
        )


def _check_weierstrass_parameters(a, b, n_terms):
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(
                f"Weierstrass {name} must be a finite number, got {value!r}."
            )
    if not 0 < a < 1:
        raise ValueError(
            f"Weierstrass a must lie in the open interval (0, 1), got a={a!r}. "
            "Use for example a=0.5."
        )
    if a * b < 1:
        raise ValueError(
            f"Weierstrass parameters need a * b >= 1, got a={a!r} and b={b!r} "
            f"(a * b = {a * b!r}). Increase b to at least {1 / a!r}."
        )
    _check_positive_int(n_terms, "n_terms")


def _check_positive_int(value, name):
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool | np.bool_)
        or value < 1
    ):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _check_hidden_layer_sizes(hidden_layer_sizes):
    if isinstance(hidden_layer_sizes, numbers.Integral):
        hidden_layer_sizes = (hidden_layer_sizes,)
    try:
        sizes = tuple(hidden_layer_sizes)
    except TypeError:
        raise TypeError(
            f"hidden_layer_sizes must be an int or a sequence of ints, got "
            f"{hidden_layer_sizes!r}. Use for example (256,) or (64, 64)."
        ) from None

    for size in sizes:
        if (
            not isinstance(size, numbers.Integral)
            or isinstance(size, bool | np.bool_)
            or size < 1
        ):
            raise ValueError(
                f"hidden_layer_sizes must contain integers >= 1, got "
                f"{hidden_layer_sizes!r} with the invalid entry {size!r}. Use "
                "for example (256,) or (64, 64)."
            )
    return tuple(int(size) for size in sizes)


def _check_bias_scale(bias_scale):
    if (
        not isinstance(bias_scale, numbers.Real)
        or not math.isfinite(bias_scale)
        or bias_scale < 0
    ):
        raise ValueError(
            f"bias_scale must be a finite number >= 0, got {bias_scale!r}."
        )
    return float(bias_scale)


def _check_dtype(dtype):
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype, None)
    else:
        resolved = dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(
            f"dtype must be a floating-point torch.dtype, got {dtype!r}. Use "
            "torch.float64 or torch.float32."
        )
    return resolved


def _draw_seed(random_state):
    """Draw a torch seed from a numpy random state, leaving torch's global one."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if random_state is None or random_state is np.random:
        rng = np.random.mtrand._rand
    elif isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool | np.bool_
    ):
        rng = np.random.RandomState(random_state)
    elif isinstance(random_state, np.random.RandomState):
        rng = random_state
    else:
        raise ValueError(
            f"random_state must be None, an int, a numpy.random.RandomState or "
            f"a numpy.random.Generator, got {random_state!r}."
        )
    return int(rng.randint(0, 2**63 - 1, dtype=np.int64))
