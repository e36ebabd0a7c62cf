"""Kernel ridge regression and classification with the (nonlocal) NTK."""

from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MultiOutputMixin,
    RegressorMixin,
    _fit_context,
)
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    validate_data,
)

from sknntk import _regime
from sknntk._docstrings import KERNEL_PARAMETERS
from sknntk._functional import as_tensor
from sknntk._kernel import NonlocalNTKKernel
from sknntk._loo import loo_dual, loo_primal
from sknntk._montecarlo import DEFAULT_CHUNK_BYTES
from sknntk._params import (
    KERNEL_CONSTRAINTS,
    KERNEL_DEFAULTS,
    check_fitted,
    kernel_params,
    restore_state_on_error,
)
from sknntk._ridge import solve_dual, solve_primal

_RIDGE_PARAMETERS = """\
alpha : float or array-like of shape (n_targets,), default=1.0
        Ridge penalty. An array gives one penalty per target (regression) or
        per class column (classification). Ignored when ``alphas`` is set.
    alphas : array-like of shape (n_alphas,), default=None
        Candidate penalties. When set, ``alpha_`` is chosen among them by
        efficient leave-one-out cross-validation: one eigendecomposition of
        the Gram matrix (dual solver) or one factorization of the feature map
        (primal solver) gives the leave-one-out error of every candidate, as
        :class:`sklearn.linear_model.RidgeCV` does for linear ridge.
    solver : {"auto", "dual", "primal"}, default="auto"
        ``"dual"`` solves with the ``n x n`` Gram matrix. ``"primal"`` solves
        with the feature map (``N * m`` columns for the Monte Carlo kernels,
        ``m * d`` Jacobian entries for the exact NTK) streamed in row blocks,
        so no ``n x n`` matrix is formed. ``"auto"`` picks ``"primal"`` when
        the number of training rows exceeds the number of features."""


def _plain(value):
    """Return a numpy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


class _BaseNNTKRidge(BaseEstimator):
    """Shared core of :class:`NNTKRegressor` and :class:`NNTKClassifier`."""

    _parameter_constraints = {
        **KERNEL_CONSTRAINTS,
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
        "alphas": ["array-like", None],
        "solver": [StrOptions({"auto", "dual", "primal"})],
    }

    def __init__(
        self,
        model=KERNEL_DEFAULTS["model"],
        *,
        alpha=1.0,
        alphas=None,
        solver="auto",
        kernel=KERNEL_DEFAULTS["kernel"],
        gamma=KERNEL_DEFAULTS["gamma"],
        n_samples=KERNEL_DEFAULTS["n_samples"],
        distribution=KERNEL_DEFAULTS["distribution"],
        sampler=KERNEL_DEFAULTS["sampler"],
        perturbation=KERNEL_DEFAULTS["perturbation"],
        form=KERNEL_DEFAULTS["form"],
        normalize=KERNEL_DEFAULTS["normalize"],
        attention_temperature=KERNEL_DEFAULTS["attention_temperature"],
        tol=KERNEL_DEFAULTS["tol"],
        max_samples=KERNEL_DEFAULTS["max_samples"],
        hidden_layer_sizes=KERNEL_DEFAULTS["hidden_layer_sizes"],
        activation=KERNEL_DEFAULTS["activation"],
        n_jobs=KERNEL_DEFAULTS["n_jobs"],
        device=KERNEL_DEFAULTS["device"],
        dtype=KERNEL_DEFAULTS["dtype"],
        sample_chunk_size=KERNEL_DEFAULTS["sample_chunk_size"],
        row_chunk_size=KERNEL_DEFAULTS["row_chunk_size"],
        random_state=KERNEL_DEFAULTS["random_state"],
        verbose=KERNEL_DEFAULTS["verbose"],
    ):
        self.model = model
        self.alpha = alpha
        self.alphas = alphas
        self.solver = solver
        self.kernel = kernel
        self.gamma = gamma
        self.n_samples = n_samples
        self.distribution = distribution
        self.sampler = sampler
        self.perturbation = perturbation
        self.form = form
        self.normalize = normalize
        self.attention_temperature = attention_temperature
        self.tol = tol
        self.max_samples = max_samples
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_jobs = n_jobs
        self.device = device
        self.dtype = dtype
        self.sample_chunk_size = sample_chunk_size
        self.row_chunk_size = row_chunk_size
        self.random_state = random_state
        self.verbose = verbose

    def _check_alpha(self, n_targets):
        alpha = np.asarray(self.alpha, dtype=np.float64)
        if alpha.ndim > 1 or (alpha.ndim == 1 and alpha.shape[0] not in (1, n_targets)):
            raise ValueError(
                f"alpha has shape {alpha.shape}, but there are {n_targets} "
                "target columns (one per target, or per class beyond two "
                "classes). Pass one float or one value per column."
            )
        if np.any(alpha < 0) or not np.all(np.isfinite(alpha)):
            raise ValueError(f"alpha must be finite and >= 0, got {self.alpha!r}.")
        return alpha

    def _feature_count(self, kernel):
        if kernel.kernel == "ntk":
            return kernel.n_outputs_ * kernel.n_params_
        return kernel.n_samples_ * kernel.n_outputs_

    def _planned_feature_count(self, n_features):
        # Estimated before fitting the kernel so that the primal route never
        # stores the fit features. The Monte Carlo count ignores m (unknown yet).
        if self.kernel == "ntk":
            return None
        return self.max_samples if self.n_samples == "auto" else int(self.n_samples)

    def _fit_ridge(self, X, Y, sample_weight):
        """Fit the kernel and solve the ridge problem for targets ``Y`` (n, k)."""
        alpha = self._check_alpha(Y.shape[1])
        kernel = NonlocalNTKKernel(**kernel_params(self))
        n_rows = X.shape[0]

        planned = self._planned_feature_count(X.shape[1])
        if self.solver == "primal":
            solver = "primal"
        elif self.solver == "dual":
            solver = "dual"
        else:
            solver = "primal" if planned is not None and n_rows > planned else "dual"

        kernel._validate_params()
        X_valid = validate_data(kernel, X, dtype=[np.float64, np.float32])
        # The primal route streams features in row blocks; when one block
        # holds every row, storing them at fit saves a second forward pass.
        store = solver == "dual" or (
            planned is not None
            and n_rows * planned * X_valid.itemsize <= DEFAULT_CHUNK_BYTES
        )
        kernel._fit(X_valid, store_features=store)
        X_t = as_tensor(X_valid, kernel._fmodel.dtype)
        if self.solver == "auto":
            # The feature count N * m is known only now that the network ran.
            solver = "primal" if n_rows > self._feature_count(kernel) else "dual"
            if solver == "dual" and kernel.kernel != "ntk":
                if kernel.features_fit_ is None:
                    kernel.features_fit_ = kernel._feature_map(X_t)

        self.dual_coef_, self.coef_ = None, None
        self.alpha_, self.loo_errors_ = alpha, None
        if self.alphas is not None:
            if solver == "dual":
                result = loo_dual(kernel._fit_gram(), Y, self.alphas, sample_weight)
                self.dual_coef_ = result.dual_coef_
            else:
                result = loo_primal(
                    lambda: kernel._iter_feature_blocks(X_t),
                    Y,
                    self.alphas,
                    sample_weight,
                )
                self.coef_ = result.coef_
            self.alpha_, self.loo_errors_ = result.alpha_, result.loo_errors_
        elif solver == "dual":
            self.dual_coef_ = solve_dual(kernel._fit_gram(), Y, alpha, sample_weight)
        else:
            blocks = kernel._iter_feature_blocks(X_t)
            self.coef_ = solve_primal(blocks, Y, alpha, sample_weight)
        self.kernel_ = kernel
        self.solver_ = solver
        self.flow_ = None
        return self

    def _decision(self, X):
        check_fitted(self, "kernel_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        kernel = self.kernel_
        X_t = as_tensor(X, kernel._fmodel.dtype)
        if self.solver_ == "dual":
            return kernel._kernel(X_t) @ self.dual_coef_
        out = np.empty((X.shape[0], self.coef_.shape[1]))
        for start, block in kernel._iter_feature_blocks(X_t):
            out[start : start + block.shape[0]] = block @ self.coef_
        return out


class NNTKRegressor(MultiOutputMixin, RegressorMixin, _BaseNNTKRidge):
    __doc__ = f"""Kernel ridge regression with the exact or nonlocal NTK of a network.

    .. math::

        \\hat f(x) = K(x, X) (K(X, X) + \\alpha I)^{{-1}} y

    where ``K`` is the kernel of :class:`NonlocalNTKKernel`. The dual solver
    uses a Cholesky factorization (with a warned eigendecomposition fallback
    for ill-conditioned systems); the primal solver works on the feature map.

    With ``time`` set, the regressor instead predicts the outputs of the
    network after gradient flow on the squared loss for that time, in the
    kernel regime:

    .. math::

        f_t(x) = f_0(x) + K(x, X) K^{{-1}} (I - e^{{-\\eta K t}}) (y - f_0(X)).

    Parameters
    ----------
    {KERNEL_PARAMETERS}
    {_RIDGE_PARAMETERS}
    time : float or None, default=None
        Training time ``t`` of gradient flow. ``None`` gives kernel ridge
        regression with ``alpha``; ``numpy.inf`` gives the interpolant
        ``f_0 + K(x, X) K^+ (y - f_0(X))``. Needs the dual solver and a
        network with one output per target; ``alpha`` is not used.
    learning_rate : float, default=1.0
        Learning rate ``eta`` of the gradient flow (``time`` only).

    Attributes
    ----------
    kernel_ : NonlocalNTKKernel
        The fitted kernel.
    solver_ : str
        The solver used, ``"dual"`` or ``"primal"``.
    alpha_ : float or ndarray
        The penalty used: ``alpha``, or the one chosen from ``alphas``.
    loo_errors_ : ndarray of shape (n_alphas,) or None
        Mean squared leave-one-out error of each candidate in ``alphas``.
    dual_coef_ : ndarray of shape (n_samples, n_targets) or None
        Dual coefficients (dual solver).
    coef_ : ndarray of shape (n_features_out, n_targets) or None
        Weights on the feature map (primal solver).
    flow_ : GradientFlow or None
        Eigenbasis of the training Gram matrix and initial residuals, when
        ``time`` is set.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    NNTKClassifier : The classifier built on the same kernels.
    sklearn.kernel_ridge.KernelRidge : Kernel ridge on a given kernel.

    Notes
    -----
    The dual solver costs ``O(n^3)`` time and ``O(n^2)`` memory; the primal
    one ``O(n F^2 + F^3)`` time and ``O(F^2)`` memory with ``F = N * m``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk import NNTKRegressor
    >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> y = np.sign(X).ravel()
    >>> reg = NNTKRegressor(alpha=1e-3, hidden_layer_sizes=(32,),
    ...                     n_samples=64, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **_BaseNNTKRidge._parameter_constraints,
        "time": [Interval(Real, 0, np.inf, closed="both"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        model=KERNEL_DEFAULTS["model"],
        *,
        alpha=1.0,
        alphas=None,
        solver="auto",
        time=None,
        learning_rate=1.0,
        kernel=KERNEL_DEFAULTS["kernel"],
        gamma=KERNEL_DEFAULTS["gamma"],
        n_samples=KERNEL_DEFAULTS["n_samples"],
        distribution=KERNEL_DEFAULTS["distribution"],
        sampler=KERNEL_DEFAULTS["sampler"],
        perturbation=KERNEL_DEFAULTS["perturbation"],
        form=KERNEL_DEFAULTS["form"],
        normalize=KERNEL_DEFAULTS["normalize"],
        attention_temperature=KERNEL_DEFAULTS["attention_temperature"],
        tol=KERNEL_DEFAULTS["tol"],
        max_samples=KERNEL_DEFAULTS["max_samples"],
        hidden_layer_sizes=KERNEL_DEFAULTS["hidden_layer_sizes"],
        activation=KERNEL_DEFAULTS["activation"],
        n_jobs=KERNEL_DEFAULTS["n_jobs"],
        device=KERNEL_DEFAULTS["device"],
        dtype=KERNEL_DEFAULTS["dtype"],
        sample_chunk_size=KERNEL_DEFAULTS["sample_chunk_size"],
        row_chunk_size=KERNEL_DEFAULTS["row_chunk_size"],
        random_state=KERNEL_DEFAULTS["random_state"],
        verbose=KERNEL_DEFAULTS["verbose"],
    ):
        super().__init__(
            model,
            alpha=alpha,
            alphas=alphas,
            solver=solver,
            kernel=kernel,
            gamma=gamma,
            n_samples=n_samples,
            distribution=distribution,
            sampler=sampler,
            perturbation=perturbation,
            form=form,
            normalize=normalize,
            attention_temperature=attention_temperature,
            tol=tol,
            max_samples=max_samples,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            n_jobs=n_jobs,
            device=device,
            dtype=dtype,
            sample_chunk_size=sample_chunk_size,
            row_chunk_size=row_chunk_size,
            random_state=random_state,
            verbose=verbose,
        )
        self.time = time
        self.learning_rate = learning_rate

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit kernel ridge regression.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the squared errors.

        Returns
        -------
        self : NNTKRegressor
        """
        with restore_state_on_error(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            y_numeric=True,
            dtype=[np.float64, np.float32],
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        if self.time is not None:
            self._check_flow_options(sample_weight)
        if self.time is not None and self.solver == "primal":
            raise ValueError(
                "time is set, which needs the Gram matrix of the training rows, "
                "but solver='primal' avoids it. Use solver='auto' or 'dual'."
            )
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        Y = y.reshape(y.shape[0], -1)
        if self.time is None:
            return self._fit_ridge(X, Y, sample_weight)
        return self._fit_flow(X, Y)

    def _check_flow_options(self, sample_weight):
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported with time set: gradient flow on "
                "the squared loss weighs every row equally. Drop sample_weight "
                "or set time=None for weighted kernel ridge regression."
            )
        if self.alphas is not None:
            raise ValueError(
                "alphas is not used with time set, because gradient flow has no "
                "ridge penalty. Set alphas=None, or time=None to choose alpha."
            )

    def _fit_flow(self, X, Y):
        """Store what the kernel-regime prediction needs: K's eigenbasis and f_0."""
        kernel = NonlocalNTKKernel(**kernel_params(self))
        kernel._validate_params()
        X_valid = validate_data(kernel, X, dtype=[np.float64, np.float32])
        kernel._fit(X_valid, store_features=True)
        initial = kernel._initial_outputs(X_valid)
        if initial.shape[1] != Y.shape[1]:
            raise ValueError(
                f"time is set, so predictions start from the network's outputs, "
                f"but the network has {initial.shape[1]} outputs and y has "
                f"{Y.shape[1]} targets. Use a network with one output per target."
            )
        self.kernel_ = kernel
        self.solver_ = "dual"
        self.alpha_, self.loo_errors_ = None, None
        self.dual_coef_, self.coef_ = None, None
        self.flow_ = _regime.GradientFlow(kernel._fit_gram(), Y, initial)
        return self

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples_X,) or (n_samples_X, n_targets)
        """
        if self.time is not None:
            return self.predict_path(X, self.time)
        out = self._decision(X)
        return out.ravel() if self._y_ndim == 1 else out

    def predict_path(self, X, times):
        """Predict the network's outputs along gradient flow on the squared loss.

        .. math::

            f_t(x) = f_0(x) + K(x, X) K^{-1} (I - e^{-\\eta K t}) (y - f_0(X))

        where ``f_0`` is the network at its initial parameters and ``eta`` is
        ``learning_rate``. Every time reuses the one eigendecomposition of
        ``K(X_fit, X_fit)`` made at ``fit``, so a whole curve costs one Gram
        matrix ``K(X, X_fit)``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        times : float or array-like of shape (n_times,)
            Non-negative times; ``numpy.inf`` gives the kernel regression
            interpolant ``f_0 + K(x, X) K^+ (y - f_0(X))``.

        Returns
        -------
        y_pred : ndarray of shape (n_times, n_samples_X[, n_targets])
            Without the first axis when ``times`` is a scalar, and without the
            last one when ``y`` was one-dimensional.
        """
        check_fitted(self, "kernel_")
        if getattr(self, "flow_", None) is None:
            raise ValueError(
                "predict_path needs an estimator fitted with time set, for "
                "example NNTKRegressor(time=10.0). Refit with time."
            )
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X_t = as_tensor(X, self.kernel_._fmodel.dtype)
        K_test = self.kernel_._kernel(X_t)
        initial = self.kernel_._initial_outputs(X)
        out = self.flow_.predict(K_test, initial, times, self.learning_rate)
        return out[..., 0] if self._y_ndim == 1 else out


class NNTKClassifier(ClassifierMixin, _BaseNNTKRidge):
    __doc__ = f"""One-vs-rest ridge classification with the exact or nonlocal NTK.

    Each class ``c`` gets the target ``+1`` on its rows and ``-1`` elsewhere;
    kernel ridge regression on these targets gives the decision function

    .. math::

        s(x) = K(x, X) (K(X, X) + \\alpha I)^{{-1}} Y,

    and the predicted class is the one with the largest score (the sign of the
    score for two classes), as in :class:`sklearn.linear_model.RidgeClassifier`.

    Parameters
    ----------
    {KERNEL_PARAMETERS}
    {_RIDGE_PARAMETERS}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, of any type that numpy can sort.
    kernel_ : NonlocalNTKKernel
    solver_ : str
    alpha_ : float or ndarray
        The penalty used: ``alpha``, or the one chosen from ``alphas``.
    loo_errors_ : ndarray of shape (n_alphas,) or None
        Mean squared leave-one-out error (on the +1/-1 targets) of each
        candidate in ``alphas``.
    dual_coef_ : ndarray of shape (n_samples, n_columns) or None
        ``n_columns`` is 1 for two classes, else ``n_classes``.
    coef_ : ndarray of shape (n_features_out, n_columns) or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    NNTKRegressor : Regression with the same kernels.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk import NNTKClassifier
    >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> y = np.where(X.ravel() > 0, "pos", "neg")
    >>> clf = NNTKClassifier(alpha=1e-3, hidden_layer_sizes=(32,),
    ...                      n_samples=64, random_state=0).fit(X, y)
    >>> clf.classes_.tolist()
    ['neg', 'pos']
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit one-vs-rest kernel ridge classification.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : NNTKClassifier
        """
        with restore_state_on_error(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        binarizer = LabelBinarizer(neg_label=-1, pos_label=1)
        Y = binarizer.fit_transform(y).astype(np.float64)
        self.classes_ = binarizer.classes_
        if self.classes_.shape[0] < 2:
            raise ValueError(
                "NNTKClassifier needs samples of at least 2 classes, but the "
                f"data contains only one class: {_plain(self.classes_[0])!r}."
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        self._label_binarizer = binarizer
        return self._fit_ridge(X, Y, sample_weight)

    def decision_function(self, X):
        """Return one-vs-rest scores.

        Returns
        -------
        scores : ndarray of shape (n_samples_X,) for two classes, else
            (n_samples_X, n_classes)
        """
        scores = self._decision(X)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels.

        Returns
        -------
        labels : ndarray of shape (n_samples_X,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
