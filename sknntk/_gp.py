"""An adapter that lets scikit-learn's Gaussian processes use the (nonlocal) NTK."""

import inspect

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel
from sklearn.utils._param_validation import InvalidParameterError

from sknntk._kernel import NonlocalNTKKernel
from sknntk._params import KERNEL_DEFAULTS


class NNTKGPKernel(Kernel):
    """The exact or nonlocal NTK as a :mod:`sklearn.gaussian_process` kernel.

    .. math::

        k(x, x') = \\Phi(x) \\cdot \\Phi(x')

    where ``Phi`` is the feature map of :class:`NonlocalNTKKernel` built with
    the same parameters (for ``kernel="ntk"``, the exact NTK). The network and
    the perturbations depend only on the number of input features and on
    ``random_state``, so ``k`` is one fixed function for an integer
    ``random_state``. Use it with
    :class:`~sklearn.gaussian_process.GaussianProcessRegressor` (predictive
    standard deviations) or ``KernelRidge(kernel=NNTKGPKernel(...))``.

    ``gamma`` and ``n_samples`` are exposed as fixed hyperparameters: searches
    such as ``GridSearchCV`` can set them (``kernel__gamma``), but the
    marginal-likelihood optimizer of the Gaussian process leaves them alone,
    because a Monte Carlo estimate has no useful derivative in them.

    Parameters
    ----------
    model : torch.nn.Module, callable or None, default=None
        As in :class:`NonlocalNTKKernel`.
    kernel : {"nonlocal", "attention", "ntk"}, default="nonlocal"
    gamma : float, default=0.1
    n_samples : int, default=256
        ``"auto"`` is not accepted, because the number of samples it chooses
        depends on the data the kernel is evaluated on.
    distribution : {"gaussian", "uniform"}, default="gaussian"
    sampler : {"antithetic", "iid", "orthogonal", "qmc"}, default="antithetic"
    perturbation : {"isotropic", "directional"}, default="isotropic"
    form : {"expectation", "gradient"}, default="expectation"
    normalize : bool, default=True
    attention_temperature : float or None, default=None
        ``"median"`` is not accepted, because it would make the kernel depend
        on the data it is evaluated on.
    hidden_layer_sizes : tuple of int, default=(256,)
    activation : str or callable, default="relu"
    dtype : {"float64", "float32"}, default="float64"
    random_state : int, default=0
        Seed of the default network and of the perturbations.

    Raises
    ------
    ValueError
        When the kernel is evaluated, if a parameter is invalid. The error is
        scikit-learn's ``InvalidParameterError`` when a value is outside the
        range accepted by :class:`NonlocalNTKKernel`.

    Notes
    -----
    Each call rebuilds the network and recomputes the features of both
    arguments: ``O(N (n + n'))`` forward passes for the Monte Carlo kernels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sknntk import NNTKGPKernel
    >>> X = np.linspace(-1, 1, 12).reshape(-1, 1)
    >>> y = np.sign(X).ravel()
    >>> kernel = NNTKGPKernel(hidden_layer_sizes=(16,), n_samples=32)
    >>> gp = GaussianProcessRegressor(kernel=kernel, alpha=1e-2).fit(X, y)
    >>> mean, std = gp.predict(X[:3], return_std=True)
    >>> std.shape
    (3,)
    """

    def __init__(
        self,
        model=None,
        kernel="nonlocal",
        gamma=KERNEL_DEFAULTS["gamma"],
        n_samples=KERNEL_DEFAULTS["n_samples"],
        distribution=KERNEL_DEFAULTS["distribution"],
        sampler=KERNEL_DEFAULTS["sampler"],
        perturbation=KERNEL_DEFAULTS["perturbation"],
        form=KERNEL_DEFAULTS["form"],
        normalize=KERNEL_DEFAULTS["normalize"],
        attention_temperature=None,
        hidden_layer_sizes=KERNEL_DEFAULTS["hidden_layer_sizes"],
        activation=KERNEL_DEFAULTS["activation"],
        dtype=KERNEL_DEFAULTS["dtype"],
        random_state=0,
    ):
        self.model = model
        self.kernel = kernel
        self.gamma = gamma
        self.n_samples = n_samples
        self.distribution = distribution
        self.sampler = sampler
        self.perturbation = perturbation
        self.form = form
        self.normalize = normalize
        self.attention_temperature = attention_temperature
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dtype = dtype
        self.random_state = random_state

    @property
    def hyperparameter_gamma(self):
        return Hyperparameter("gamma", "numeric", "fixed")

    @property
    def hyperparameter_n_samples(self):
        return Hyperparameter("n_samples", "numeric", "fixed")

    def _transformer(self):
        if isinstance(self.n_samples, str) and self.n_samples == "auto":
            raise ValueError(
                "n_samples='auto' chooses the number of Monte Carlo samples from "
                "the data the kernel is evaluated on, so k would differ between "
                "calls and a Gram matrix stitched from blocks would not be "
                "positive semidefinite. NNTKGPKernel does not accept it. Pass an "
                "int, for example n_samples=256."
            )
        if self.attention_temperature == "median":
            raise ValueError(
                "attention_temperature='median' depends on the data the kernel "
                "is evaluated on, so NNTKGPKernel does not accept it. Pass a "
                "float or None (which uses gamma)."
            )
        if not isinstance(self.random_state, int | np.integer):
            raise ValueError(
                f"random_state must be an int for NNTKGPKernel, got "
                f"{self.random_state!r}; otherwise every call would draw a "
                "different network and different perturbations."
            )
        return NonlocalNTKKernel(
            model=self.model,
            kernel=self.kernel,
            gamma=self.gamma,
            n_samples=self.n_samples,
            distribution=self.distribution,
            sampler=self.sampler,
            perturbation=self.perturbation,
            form=self.form,
            normalize=self.normalize,
            attention_temperature=self.attention_temperature,
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation=self.activation,
            dtype=self.dtype,
            random_state=self.random_state,
        )

    def __call__(self, X, Y=None, eval_gradient=False):
        """Return ``k(X, Y)`` of shape (n_samples_X, n_samples_Y).

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
        Y : ndarray of shape (n_samples_Y, n_features), default=None
            ``None`` evaluates ``k(X, X)``.
        eval_gradient : bool, default=False
            Only allowed when ``Y`` is None. The gradient with respect to the
            (fixed) hyperparameters is empty.

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, 0)
            Only when ``eval_gradient`` is True.
        """
        X = np.atleast_2d(X)
        if Y is not None and eval_gradient:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        try:
            if Y is None:
                K = self._transformer().fit_transform(X)
            else:
                K = self._transformer().fit(np.atleast_2d(Y)).transform(X)
        except InvalidParameterError as error:
            # The transformer validates the parameters in fit, and its message
            # names the transformer's class, not the one the caller built.
            message = str(error).replace("NonlocalNTKKernel", type(self).__name__)
            raise InvalidParameterError(message) from None
        K = np.asarray(K, dtype=np.float64)
        if eval_gradient:
            return K, np.empty((X.shape[0], X.shape[0], 0))
        return K

    def diag(self, X):
        """Return ``k(x, x)`` for every row, shape (n_samples_X,)."""
        return np.diag(self(X)).copy()

    def is_stationary(self):
        """Return False: the NTK depends on the inputs, not only on their difference."""
        return False

    @property
    def requires_vector_input(self):
        return True

    def __repr__(self):
        """Show the parameters that differ from their defaults, on one line.

        A torch module is shown by its own repr with the line breaks removed.
        """
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self)).parameters.items()
        }
        changed = []
        for name, default in defaults.items():
            value = getattr(self, name)
            # Compared by repr, as scikit-learn does, so that arrays and
            # modules compare without elementwise or identity semantics.
            if repr(value) != repr(default):
                changed.append(f"{name}={' '.join(repr(value).split())}")
        return f"{type(self).__name__}({', '.join(changed)})"
