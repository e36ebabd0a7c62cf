"""The scikit-learn transformer that maps ``X`` to ``K(X, X_fit)`` or to features."""

import os
import warnings

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import validate_data
from tqdm.auto import tqdm

from sknntk import _cache
from sknntk import _montecarlo as mc
from sknntk._docstrings import KERNEL_PARAMETERS
from sknntk._exact import exact_ntk, jacobian, jacobian_row_chunk
from sknntk._functional import (
    FunctionalModel,
    as_tensor,
    resolve_devices,
    resolve_dtype,
)
from sknntk._params import (
    KERNEL_CONSTRAINTS,
    KERNEL_DEFAULTS,
    check_fitted,
    restore_state_on_error,
)
from sknntk.exceptions import PrecisionWarning, SknntkWarning
from sknntk.models import MLP

# Rows of the fit data used to estimate the Monte Carlo standard error.
_STD_ERROR_ROWS = 256
_STD_ERROR_BATCHES = 16
# Perturbations drawn per step when n_samples="auto".
AUTO_BATCH = 32
# A rounding-level difference: this many units in the last place of the output.
_ROUNDING_ULPS = 64


def _available_memory():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _format_bytes(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{size:.0f} B"
        size /= 1024


def check_memory(n_rows, n_columns, itemsize, what, hint):
    """Raise MemoryError before allocating an array that cannot fit in memory."""
    needed = n_rows * n_columns * itemsize
    available = _available_memory()
    if available is not None and needed > available:
        raise MemoryError(
            f"{what} of shape ({n_rows}, {n_columns}) would need "
            f"{_format_bytes(needed)}, but only {_format_bytes(available)} "
            f"of memory is available. {hint}"
        )


class NonlocalNTKKernel(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    __doc__ = f"""Neural tangent kernel of a torch module as a scikit-learn transformer.

    ``transform(X)`` returns the Gram matrix ``K(X, X_fit)`` of shape
    ``(n_samples_X, n_samples_fit)``, or with ``output="features"`` the feature
    map ``Phi(X)`` with ``K(X, X') = Phi(X) Phi(X')^T``.

    The Monte Carlo nonlocal NTK (``kernel="nonlocal"``) is

    .. math::

        \\hat K(x, x') = \\frac{{c}}{{N}} \\sum_{{k=1}}^{{N}}
        \\frac{{\\delta_k(x) \\cdot \\delta_k(x')}}{{\\|\\Delta_k\\|^2}},
        \\qquad \\delta_k(x) = f(x; \\theta + \\Delta_k) - f(x; \\theta),

    with ``Delta_k ~ rho_gamma``. It needs forward passes only, so it is
    defined for networks with sign, step or floor pieces where autograd
    returns zero. The attention kernel (``kernel="attention"``) weighs sample
    ``k`` by ``sqrt(w_k(x) w_k(x'))`` with
    ``w_k(x) = softmax_k(-||delta_k(x)||**2 / tau**2)``. The exact NTK
    (``kernel="ntk"``) is ``sum_j grad f_j(x) . grad f_j(x')``.

    The same perturbations serve ``fit`` and ``transform``, so ``K(X, X)`` is
    symmetric positive semidefinite. Perturbation ``k`` depends only on the
    fitted seed, ``k`` and the dtype it is drawn in: a larger ``N`` extends a
    smaller one, the kernel does not depend on ``n_jobs`` or the joblib
    backend, and the chunk sizes change it only by rounding.

    Parameters
    ----------
    {KERNEL_PARAMETERS}
    output : {{"kernel", "features"}}, default="kernel"
        What ``transform`` returns: the Gram matrix against the fit data, or
        the feature map (``N * m`` columns for the Monte Carlo kernels, the
        ``m * d`` Jacobian entries for the exact NTK).

    Attributes
    ----------
    model_ : torch.nn.Module
        The network used, on the CPU, in evaluation mode.
    n_params_ : int
        Number ``d`` of trainable parameters.
    n_outputs_ : int
        Output width ``m`` of the network.
    n_samples_ : int
        Number ``N`` of perturbations used (0 for the exact NTK).
    seed_ : int
        Seed of the perturbations.
    X_fit_ : ndarray of shape (n_samples_fit, n_features)
        The training rows.
    features_fit_ : ndarray of shape (n_samples_fit, n_features_out) or None
        Feature map of the training rows (Monte Carlo kernels only).
    kernel_std_error_ : float
        Estimated relative Monte Carlo standard error
        ``||K_hat - E K_hat||_F / ||K_hat||_F`` of ``K(X_fit, X_fit)``, from
        the spread between 16 batches of perturbations on at most 256 fit
        rows. ``0.0`` for the exact NTK.
    effective_sample_size_ : float
        Mean over the fit rows of ``1 / sum_k w_k(x)**2`` for the attention
        kernel; ``N`` for the other Monte Carlo kernels.
    attention_temperature_ : float or None
        Temperature used by the attention kernel.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined only when ``X`` has feature names that are all strings.

    See Also
    --------
    NNTKRegressor : Kernel ridge regression with this kernel.
    NNTKClassifier : One-vs-rest ridge classification with this kernel.

    Notes
    -----
    Cost of ``fit``: ``N + N / sample_chunk_size`` forward passes over the fit
    rows, batched over perturbations with :func:`torch.func.vmap`. Memory:
    ``n_samples_fit * N * m`` stored features plus one chunk (about 256 MiB
    with the automatic sizes). Perturbations are regenerated from the seed
    and never stored. The exact NTK factors ``nn.Linear`` layers as
    ``(g(x) . g(x')) (h(x) . h(x'))``, at ``O(n^2 (m * fan_out + fan_in))`` per
    layer; other parameters use Jacobian contraction (``O(n^2 m d)``), or
    NTK-vector products when one row's Jacobian exceeds the chunk budget.

    Examples
    --------
    >>> import numpy as np
    >>> from sknntk import NonlocalNTKKernel
    >>> X = np.linspace(-1, 1, 6).reshape(-1, 1)
    >>> kernel = NonlocalNTKKernel(hidden_layer_sizes=(16,), n_samples=32,
    ...                            random_state=0)
    >>> K = kernel.fit_transform(X)
    >>> K.shape
    (6, 6)
    >>> bool(np.allclose(K, K.T))
    True
    """

    _parameter_constraints = {
        **KERNEL_CONSTRAINTS,
        "output": [StrOptions({"kernel", "features"})],
    }

    def __init__(
        self,
        model=KERNEL_DEFAULTS["model"],
        *,
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
        output="kernel",
        n_jobs=KERNEL_DEFAULTS["n_jobs"],
        device=KERNEL_DEFAULTS["device"],
        dtype=KERNEL_DEFAULTS["dtype"],
        sample_chunk_size=KERNEL_DEFAULTS["sample_chunk_size"],
        row_chunk_size=KERNEL_DEFAULTS["row_chunk_size"],
        random_state=KERNEL_DEFAULTS["random_state"],
        verbose=KERNEL_DEFAULTS["verbose"],
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
        self.tol = tol
        self.max_samples = max_samples
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.n_jobs = n_jobs
        self.device = device
        self.dtype = dtype
        self.sample_chunk_size = sample_chunk_size
        self.row_chunk_size = row_chunk_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the kernel: build the network, draw the perturbations, store features.

        Parameters
        ----------
        X : array-like of shape (n_samples_fit, n_features)
            Training rows.
        y : None
            Ignored.

        Returns
        -------
        self : NonlocalNTKKernel
            The fitted transformer.
        """
        with restore_state_on_error(self):
            X = validate_data(self, X, dtype=[np.float64, np.float32])
            self._fit(X, store_features=True)
        return self

    def fit_transform(self, X, y=None):
        """Fit to ``X`` and return ``K(X, X)`` (or ``Phi(X)``) without recomputing.

        Returns
        -------
        K : ndarray of shape (n_samples, n_samples), or (n_samples, n_features_out)
            The Gram matrix of the training rows, or their features when
            ``output="features"``.
        """
        self.fit(X)
        if self.output == "features":
            return self.features_fit_.copy()
        return self._fit_gram()

    def _check_options(self):
        if self.kernel == "attention" and self.form == "gradient":
            raise ValueError(
                "form='gradient' is not defined for kernel='attention'; the "
                "attention weights apply to the expectation form. Use "
                "form='expectation' or kernel='nonlocal'."
            )

    def _build_model(self, n_features, seed, dtype):
        if self.model is None:
            return MLP(
                n_features,
                hidden_layer_sizes=tuple(np.atleast_1d(self.hidden_layer_sizes)),
                activation=self.activation,
                random_state=int(seed),
                dtype=dtype,
            )
        if isinstance(self.model, torch.nn.Module):
            return self.model
        if isinstance(self.model, type):
            raise TypeError(
                f"model is the class {self.model.__name__}, not a module. Pass an "
                f"instance such as {self.model.__name__}(...), or a function that "
                "takes the number of features and returns one."
            )
        # Seed torch's global generator from random_state for the callable's
        # initialization, and put the caller's random state back afterwards.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            module = self.model(n_features)
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                "model is a callable, so it must return a torch.nn.Module when "
                f"called with the number of features ({n_features}); it returned "
                f"{type(module).__name__}."
            )
        return module

    def _fit(self, X, store_features):
        self._check_options()
        dtype = resolve_dtype(self.dtype)
        resolve_devices(self.device)
        rng = check_random_state(self.random_state)
        model_seed, seed = rng.randint(np.iinfo(np.int32).max, size=2)

        fmodel = FunctionalModel(
            self._build_model(X.shape[1], model_seed, dtype), dtype
        )
        fmodel.warn_if_training()
        X_t = as_tensor(X, dtype)
        self.n_outputs_ = fmodel.check_input(X_t)
        self.n_params_ = fmodel.n_params
        self.seed_ = int(seed)
        self.model_ = fmodel.module
        self._fmodel = fmodel
        self.X_fit_ = np.asarray(X, dtype=X_t.numpy().dtype)
        self.attention_temperature_ = None
        self.features_fit_ = None

        if self.kernel == "ntk":
            self.n_samples_ = 0
            self.kernel_std_error_ = 0.0
            self.effective_sample_size_ = float("nan")
            if store_features and self.output == "features":
                self.features_fit_ = self._feature_map(X_t)
            return
        self._fit_monte_carlo(X_t, store_features)

    def _compute_devices(self):
        """Return the devices for forward passes, the CPU if CUDA has gone away.

        Fitted state lives on the CPU, so an estimator fitted on a GPU and
        loaded on a machine without one still transforms and predicts there.
        """
        try:
            return resolve_devices(self.device)
        except ValueError:
            warnings.warn(
                f"This estimator was set up with device={self.device!r}, but CUDA "
                "is not available here; computing on the CPU instead. Set "
                "device='cpu' to silence this warning.",
                SknntkWarning,
                stacklevel=4,
            )
            return [torch.device("cpu")]

    def _threads(self):
        workers = effective_n_jobs(self.n_jobs)
        if workers <= 1:
            return None
        return max(1, torch.get_num_threads() // workers)

    def _differences(self, X_t, start, stop, progress=None, stats=None):
        """Return ``R`` of shape (n, stop - start, m) and the norms ``||Delta_k||``.

        Requests that start at the first perturbation go through the cache of
        :mod:`sknntk._cache`, so a fit with a smaller or larger ``N`` on the
        same rows reuses the perturbations it shares with an earlier one.
        """
        if start != 0 or _cache.MAX_CACHE_BYTES <= 0 or not self._cacheable():
            return self._compute_differences(X_t, start, stop, progress, stats)

        key = _cache.fingerprint(self._fmodel, X_t, self._cache_settings())
        local = mc.DifferenceStats()
        cached = _cache.lookup(key)
        if cached is None:
            R, norms = self._compute_differences(X_t, 0, stop, progress, local)
        else:
            R, norms, (max_output, max_difference) = cached
            local.update(max_output, max_difference)
            have = R.shape[1]
            if progress is not None:
                progress.update(min(have, stop))
            if have < stop:
                R_new, norms_new = self._compute_differences(
                    X_t, have, stop, progress, local
                )
                R = np.concatenate([R, R_new], axis=1)
                norms = np.concatenate([norms, norms_new])
        if cached is None or cached[0].shape[1] < stop:
            _cache.store(key, R, norms, (local.max_output, local.max_difference))
        if stats is not None:
            stats.update(local.max_output, local.max_difference)
        return R[:, :stop], norms[:stop]

    def _cacheable(self):
        """Return whether the network's forward pass is fixed by its fingerprint.

        Only networks that sknntk builds with a named activation qualify: the
        forward pass of a user's module or activation may depend on state that
        no fingerprint covers, and a wrong cache hit would return another
        network's kernel.
        """
        return self.model is None and isinstance(self.activation, str)

    def _cache_settings(self):
        return (
            self.gamma,
            self.distribution,
            self.sampler,
            self.perturbation,
            self.seed_,
            str(self._fmodel.dtype),
            self._sampler.n_samples if self.sampler == "orthogonal" else None,
            self.chunk_plan_.sample_chunk,
            self.chunk_plan_.row_chunk,
        )

    def _compute_differences(self, X_t, start, stop, progress=None, stats=None):
        return mc.scaled_differences(
            self._fmodel,
            X_t,
            self._sampler,
            self.gamma,
            start,
            stop,
            self.chunk_plan_,
            n_jobs=self.n_jobs,
            devices=self._compute_devices(),
            threads=self._threads(),
            progress=progress,
            stats=stats,
        )

    def _progress(self, total, desc):
        return tqdm(total=total, desc=desc, disable=not self.verbose, leave=False)

    def _fit_monte_carlo(self, X_t, store_features):
        fmodel = self._fmodel
        auto = self.n_samples == "auto"
        planned = self.max_samples if auto else int(self.n_samples)
        n_rows = X_t.shape[0]
        itemsize = X_t.element_size()
        if store_features:
            check_memory(
                n_rows,
                planned * self.n_outputs_,
                itemsize,
                "The feature map of the fit data",
                "Use fewer n_samples or fewer training rows.",
            )
        self._sampler = mc.make_sampler(
            fmodel.n_params,
            planned,
            self.distribution,
            self.sampler,
            self.perturbation,
            self.seed_,
            fmodel.dtype,
        )
        self.chunk_plan_ = mc.plan_chunks(
            fmodel, X_t, self.sample_chunk_size, self.row_chunk_size
        )
        self._scale = float(fmodel.n_params) if self.normalize else 1.0
        calibration = np.unique(
            np.linspace(0, n_rows - 1, min(n_rows, _STD_ERROR_ROWS)).astype(int)
        )
        stats = mc.DifferenceStats()

        with self._progress(planned, "nonlocal kernel") as bar:
            if auto:
                R_cal, norms, std_error = self._draw_until_tol(
                    X_t[calibration], bar, stats
                )
                n_samples = R_cal.shape[1]
                R = self._differences(X_t, 0, n_samples)[0] if store_features else None
            elif store_features:
                n_samples = planned
                R, norms = self._differences(X_t, 0, n_samples, bar, stats)
                R_cal = R[calibration]
            else:
                n_samples = planned
                R_cal, norms = self._differences(
                    X_t[calibration], 0, n_samples, bar, stats
                )
        self.n_samples_ = int(n_samples)
        self._norms = norms
        self._check_precision(stats)

        if self.kernel == "attention":
            self.attention_temperature_ = self._temperature(R_cal, norms)
        if self.form == "gradient":
            gram = mc.perturbation_gram(
                self._sampler,
                self.gamma,
                0,
                n_samples,
                self.chunk_plan_.sample_chunk,
                fmodel.dtype,
            )
            self._gradient_factor = mc.gradient_factor(gram, self._scale)
        if not auto:
            std_error = self._std_error(R_cal, norms, self._batch_bounds(n_samples))
        self.kernel_std_error_ = std_error
        self._warn_if_tol_missed()

        if self.kernel == "attention":
            weights = mc.attention_weights(R_cal, norms, self.attention_temperature_)
            self.effective_sample_size_ = float(
                np.mean(1.0 / np.sum(weights**2, axis=1))
            )
        else:
            self.effective_sample_size_ = float(n_samples)
        if store_features:
            self.features_fit_ = self._assemble(R, norms)

    def _temperature(self, R, norms):
        if self.attention_temperature is None:
            return float(self.gamma)
        if self.attention_temperature == "median":
            return mc.median_temperature(R, norms)
        return float(self.attention_temperature)

    def _batch_bounds(self, n_samples):
        return mc.batch_bounds(
            n_samples, _STD_ERROR_BATCHES, pair=self.sampler == "antithetic"
        )

    def _assemble(self, R, norms, factor=None):
        """Turn scaled differences ``R`` of shape (n, N, m) into features."""
        if self.kernel == "attention":
            features, _ = mc.attention_features(
                R, norms, self.attention_temperature_, self._scale
            )
            return features
        if self.form == "gradient":
            factor = self._gradient_factor if factor is None else factor
            return mc.gradient_features(R, norms, factor)
        return mc.expectation_features(R, self._scale)

    def _std_error(self, R, norms, bounds):
        """Relative standard error of ``K`` from the spread of batch estimates."""
        if len(bounds) < 2 or R.shape[1] < 2:
            return float("nan")
        n_batches = len(bounds)
        kernels = []
        if self.kernel == "attention":
            features = mc.attention_features(
                R, norms, self._temperature(R, norms), self._scale
            )[0].reshape(R.shape)
        for lo, hi in bounds:
            if self.kernel == "attention":
                block = features[:, lo:hi].reshape(R.shape[0], -1)
                kernels.append(n_batches * (block @ block.T))
                continue
            if self.form == "gradient":
                gram = mc.perturbation_gram(
                    self._sampler,
                    self.gamma,
                    lo,
                    hi,
                    self.chunk_plan_.sample_chunk,
                    self._fmodel.dtype,
                )
                factor = mc.gradient_factor(gram, self._scale)
                block = mc.gradient_features(R[:, lo:hi], norms[lo:hi], factor)
            else:
                block = mc.expectation_features(R[:, lo:hi], self._scale)
            kernels.append(block @ block.T)
        return mc.relative_standard_error(kernels)

    def _draw_until_tol(self, X_cal, bar, stats):
        """Draw batches of perturbations until the standard error is below ``tol``."""
        parts, norm_parts, bounds = [], [], []
        n_samples, std_error = 0, float("inf")
        while n_samples < self.max_samples:
            stop = min(n_samples + AUTO_BATCH, self.max_samples)
            R_new, norms_new = self._differences(X_cal, n_samples, stop, bar, stats)
            parts.append(R_new)
            norm_parts.append(norms_new)
            bounds.append((n_samples, stop))
            n_samples = stop
            if len(bounds) >= 4:
                std_error = self._std_error(
                    np.concatenate(parts, axis=1), np.concatenate(norm_parts), bounds
                )
                if std_error <= self.tol:
                    break
        if not np.isfinite(std_error) and len(bounds) >= 2:
            std_error = self._std_error(
                np.concatenate(parts, axis=1), np.concatenate(norm_parts), bounds
            )
        return np.concatenate(parts, axis=1), np.concatenate(norm_parts), std_error

    def _warn_if_tol_missed(self):
        if self.n_samples == "auto" and not self.kernel_std_error_ <= self.tol:
            warnings.warn(
                f"n_samples='auto' stopped at max_samples={self.max_samples} with "
                f"a relative standard error of {self.kernel_std_error_:.3g}, above "
                f"tol={self.tol}. Raise max_samples or tol.",
                SknntkWarning,
                stacklevel=5,
            )

    def _check_precision(self, stats):
        eps = torch.finfo(self._fmodel.dtype).eps
        if stats.max_difference == 0.0:
            message = (
                "Every perturbed output equals the unperturbed one, so the "
                f"nonlocal kernel is zero. Use a larger gamma (now {self.gamma})"
                + (" or dtype='float64'." if self.dtype == "float32" else ".")
            )
        elif stats.max_difference <= _ROUNDING_ULPS * eps * stats.max_output:
            message = (
                f"The perturbed outputs differ by at most {stats.max_difference:.3g}"
                f", which is rounding noise for {self.dtype} outputs of size "
                f"{stats.max_output:.3g}. Use dtype='float64' or a larger gamma "
                f"(now {self.gamma})."
            )
        else:
            return
        warnings.warn(message, PrecisionWarning, stacklevel=4)

    # ------------------------------------------------------------ transform

    def transform(self, X):
        """Return ``K(X, X_fit)``, or the feature map when ``output="features"``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_fit)
            With ``output="features"``, shape (n_samples_X, n_features_out).
        """
        check_fitted(self, "n_params_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X_t = as_tensor(X, self._fmodel.dtype)
        if self.output == "features":
            return self._feature_map(X_t)
        return self._kernel(X_t)

    @property
    def _n_features_out(self):
        if self.output == "kernel":
            return self.X_fit_.shape[0]
        if self.kernel == "ntk":
            return self.n_outputs_ * self.n_params_
        return self.n_samples_ * self.n_outputs_

    def _fit_gram(self):
        """Return ``K(X_fit, X_fit)``."""
        n_fit = self.X_fit_.shape[0]
        check_memory(
            n_fit,
            n_fit,
            self.X_fit_.itemsize,
            "The Gram matrix K(X_fit, X_fit)",
            "Use output='features' for the random-feature map, or "
            "NNTKRegressor(solver='primal'), which never forms an n x n matrix.",
        )
        if self.kernel == "ntk":
            X_t = as_tensor(self.X_fit_, self._fmodel.dtype)
            return self._exact(X_t, X_t)
        return self.features_fit_ @ self.features_fit_.T

    def _exact(self, X_t, Y_t):
        """Return the exact NTK ``K(X, Y)`` computed on the first device."""
        device = self._compute_devices()[0]
        if device.type == "cpu":
            return exact_ntk(self._fmodel, X_t, Y_t, self._exact_rows())
        fmodel = self._fmodel.copy(device)
        X_device = X_t.to(device)
        Y_device = X_device if Y_t is X_t else Y_t.to(device)
        return exact_ntk(fmodel, X_device, Y_device, self._exact_rows())

    def _exact_rows(self):
        """Rows per chunk of the exact NTK; None lets each path size its own."""
        if self.row_chunk_size == "auto":
            return None
        return int(self.row_chunk_size)

    def _initial_outputs(self, X):
        """Return the network's outputs ``f(X; theta)`` as float64, shape (n, m)."""
        X_t = as_tensor(X, self._fmodel.dtype)
        rows = self.chunk_plan_.row_chunk if hasattr(self, "chunk_plan_") else 4096
        pieces = [
            self._fmodel.forward(X_t[lo : lo + rows]).numpy()
            for lo in range(0, X_t.shape[0], rows)
        ]
        return np.concatenate(pieces).astype(np.float64)

    def _jacobian_rows(self):
        if self.row_chunk_size != "auto":
            return int(self.row_chunk_size)
        return jacobian_row_chunk(self._fmodel, self.n_outputs_)

    def _feature_rows(self):
        """Rows per block so that a block of features stays near the chunk budget."""
        width = max(1, self._n_features_out_of_map())
        itemsize = torch.finfo(self._fmodel.dtype).bits // 8
        return max(256, mc.DEFAULT_CHUNK_BYTES // (width * itemsize))

    def _n_features_out_of_map(self):
        if self.kernel == "ntk":
            return self.n_outputs_ * self.n_params_
        return self.n_samples_ * self.n_outputs_

    def _feature_map(self, X_t):
        """Return the feature map ``Phi(X)`` of shape (n, n_features_out)."""
        n_rows = X_t.shape[0]
        width = self._n_features_out_of_map()
        check_memory(
            n_rows,
            width,
            X_t.element_size(),
            "The feature map",
            "Pass fewer rows at a time.",
        )
        if self.kernel == "ntk":
            jac = jacobian(self._fmodel, X_t, self._jacobian_rows())
            return jac.reshape(n_rows, -1).numpy()
        with self._progress(self.n_samples_, "features") as bar:
            R, norms = self._differences(X_t, 0, self.n_samples_, bar)
        return self._assemble(R, norms)

    def _iter_feature_blocks(self, X_t):
        """Yield ``(start, Phi(X[start:stop]))`` over row blocks of ``X``.

        The stored features of the fit rows are reused when ``X`` is them.
        """
        stored = self.features_fit_
        if stored is not None and X_t.shape == self.X_fit_.shape:
            if np.array_equal(X_t.numpy(), self.X_fit_):
                yield 0, stored
                return
        rows = self._feature_rows()
        for start in range(0, X_t.shape[0], rows):
            yield start, self._feature_map(X_t[start : start + rows])

    def _kernel(self, X_t):
        """Return ``K(X, X_fit)`` of shape (n_samples_X, n_samples_fit)."""
        n_fit = self.X_fit_.shape[0]
        check_memory(
            X_t.shape[0],
            n_fit,
            X_t.element_size(),
            "The Gram matrix K(X, X_fit)",
            "Use output='features' for the random-feature map, or "
            "NNTKRegressor(solver='primal'), which never forms an n x n matrix.",
        )
        if self.kernel == "ntk":
            X_fit = as_tensor(self.X_fit_, self._fmodel.dtype)
            return self._exact(X_t, X_fit)
        gram = np.empty((X_t.shape[0], n_fit), dtype=self.features_fit_.dtype)
        for start, block in self._iter_feature_blocks(X_t):
            gram[start : start + block.shape[0]] = block @ self.features_fit_.T
        return gram

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
