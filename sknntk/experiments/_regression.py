"""Test errors of the kernel estimators, tuned by cross-validation.

Every model is tuned with :class:`~sklearn.model_selection.GridSearchCV` on
the training split and scored once on the held-out split.
"""

import time

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_digits
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import accuracy_score, root_mean_squared_error
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sknntk import NNTKClassifier, NNTKRegressor
from sknntk.datasets import TARGETS, make_nonsmooth

REGRESSION_DATASETS = (*TARGETS, "diabetes")

# (key, table heading); the keys are those of the results.
REGRESSION_MODELS = (
    ("nonlocal", "nonlocal NTK"),
    ("attention", "attention NTK"),
    ("ntk", "exact NTK"),
    ("rbf", "RBF kernel ridge"),
)
CLASSIFICATION_MODELS = (
    ("nonlocal", "nonlocal NTK"),
    ("ntk", "exact NTK"),
    ("svc", "RBF SVC"),
)

# Prefix of the model's parameters inside the target-scaling wrapper.
_PREFIX = "regressor__model__"


def network_activation(dataset):
    """Return the hidden activation used for a data set.

    A 1-D target gets hidden units with its own nonsmooth activation, the
    network class the nonlocal kernel is designed for. The scikit-learn data
    sets get ReLU units.
    """
    return dataset if dataset in TARGETS else "relu"


def _scaled(model):
    # The kernel ridge models fit no intercept, so y is centered and scaled.
    # Standardizing X puts every feature on one scale.
    return TransformedTargetRegressor(
        regressor=Pipeline([("scale", StandardScaler()), ("model", model)]),
        transformer=StandardScaler(),
    )


def regression_models(dataset, settings):
    """Return ``{key: (estimator, parameter grid)}`` for one data set."""
    common = {
        "hidden_layer_sizes": (settings.model_hidden_width,),
        "activation": network_activation(dataset),
        "n_samples": settings.model_n_samples,
        "n_jobs": settings.n_jobs,
        "random_state": settings.seed,
    }
    # The default temperature tau = gamma can put almost all the weight on
    # one perturbation, so the grid also offers the median rule.
    temperatures = [
        None if name == "gamma" else name
        for name in settings.temperature_grid_attention
    ]
    return {
        "nonlocal": (
            _scaled(NNTKRegressor(kernel="nonlocal", **common)),
            {
                _PREFIX + "alpha": list(settings.alpha_grid_nonlocal),
                _PREFIX + "gamma": list(settings.gamma_grid_nonlocal),
            },
        ),
        "attention": (
            _scaled(NNTKRegressor(kernel="attention", **common)),
            {
                _PREFIX + "alpha": list(settings.alpha_grid_attention),
                _PREFIX + "attention_temperature": temperatures,
            },
        ),
        "ntk": (
            _scaled(NNTKRegressor(kernel="ntk", **common)),
            {_PREFIX + "alpha": list(settings.alpha_grid_ntk)},
        ),
        "rbf": (
            _scaled(KernelRidge(kernel="rbf")),
            {
                _PREFIX + "alpha": list(settings.alpha_grid_rbf),
                _PREFIX + "gamma": list(settings.gamma_grid_rbf),
            },
        ),
    }


def load_regression_data(dataset, settings):
    """Return the train and test splits of a regression data set.

    The 1-D targets are drawn with :func:`sknntk.datasets.make_nonsmooth` with
    Gaussian noise. The diabetes targets are standardized with the mean and
    standard deviation of the training split, so their RMSE is in standard
    deviations of y.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
    """
    seed = settings.seed
    if dataset in TARGETS:
        X, y = make_nonsmooth(
            dataset,
            settings.regression_rows,
            noise=settings.regression_noise,
            random_state=seed,
        )
        return train_test_split(X, y, test_size=settings.test_size, random_state=seed)

    if dataset != "diabetes":
        raise ValueError(
            f"Unknown regression data set {dataset!r}. Use one of "
            f"{', '.join(repr(name) for name in REGRESSION_DATASETS)}."
        )
    X, y = load_diabetes(return_X_y=True)
    if settings.diabetes_rows is not None and settings.diabetes_rows < len(y):
        rows = np.random.RandomState(seed).choice(
            len(y), settings.diabetes_rows, replace=False
        )
        X, y = X[rows], y[rows]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=settings.test_size, random_state=seed
    )
    mean, scale = y_train.mean(), y_train.std()
    return X_train, X_test, (y_train - mean) / scale, (y_test - mean) / scale


def _best_params(search):
    params = {
        name.rsplit("__", 1)[-1]: value for name, value in search.best_params_.items()
    }
    if "attention_temperature" in params and params["attention_temperature"] is None:
        params["attention_temperature"] = "gamma"
    return params


def _search(estimator, grid, cv, scoring, X_train, y_train):
    search = GridSearchCV(estimator, grid, cv=cv, scoring=scoring, error_score="raise")
    tic = time.perf_counter()
    search.fit(X_train, y_train)
    return search, time.perf_counter() - tic


def run_regression(dataset, settings):
    """Tune every regression model on one data set and score it on held-out data.

    Returns
    -------
    result : dict
        Split sizes, the network activation, and per model the test RMSE,
        the best parameters, their cross-validated RMSE and the search time.
    figures : list of dict
        Empty, because the regression results go into a table.
    """
    X_train, X_test, y_train, y_test = load_regression_data(dataset, settings)
    cv = KFold(settings.cv_folds, shuffle=True, random_state=settings.seed)
    result = {
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]),
        "n_features": int(X_train.shape[1]),
        "noise": settings.regression_noise if dataset in TARGETS else None,
        "network_activation": network_activation(dataset),
        "models": {},
    }

    for key, (estimator, grid) in regression_models(dataset, settings).items():
        search, seconds = _search(
            estimator, grid, cv, "neg_root_mean_squared_error", X_train, y_train
        )
        prediction = search.predict(X_test)
        result["models"][key] = {
            "test_rmse": float(root_mean_squared_error(y_test, prediction)),
            "cv_rmse": float(-search.best_score_),
            "best_params": _best_params(search),
            "search_seconds": seconds,
        }
    return result, []


def classification_models(settings):
    """Return ``{key: (estimator, parameter grid)}`` for the digits data."""
    common = {
        "hidden_layer_sizes": (settings.model_hidden_width,),
        "activation": "relu",
        "n_samples": settings.model_n_samples,
        "n_jobs": settings.n_jobs,
        "random_state": settings.seed,
    }
    return {
        "nonlocal": (
            NNTKClassifier(kernel="nonlocal", **common),
            {
                "alpha": list(settings.alpha_grid_nonlocal),
                "gamma": list(settings.gamma_grid_nonlocal),
            },
        ),
        "ntk": (
            NNTKClassifier(kernel="ntk", **common),
            {"alpha": list(settings.alpha_grid_ntk)},
        ),
        "svc": (
            SVC(kernel="rbf", gamma="scale"),
            {"C": list(settings.c_grid_svc)},
        ),
    }


def run_classification(settings):
    """Tune the classifiers on a stratified subset of digits and score them.

    The pixel values are divided by 16, their maximum, so that they lie in
    [0, 1].

    Returns
    -------
    result : dict
        Split sizes and per model the test accuracy, the best parameters,
        their cross-validated accuracy and the search time.
    figures : list of dict
        Empty, because the results go into a table.
    """
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    seed = settings.seed
    if settings.digits_rows < len(y):
        X, _, y, _ = train_test_split(
            X, y, train_size=settings.digits_rows, stratify=y, random_state=seed
        )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=settings.test_size, stratify=y, random_state=seed
    )
    cv = StratifiedKFold(settings.cv_folds, shuffle=True, random_state=seed)
    result = {
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]),
        "n_features": int(X_train.shape[1]),
        "n_classes": int(np.unique(y).size),
        "network_activation": "relu",
        "models": {},
    }

    for key, (estimator, grid) in classification_models(settings).items():
        search, seconds = _search(estimator, grid, cv, "accuracy", X_train, y_train)
        result["models"][key] = {
            "test_accuracy": float(accuracy_score(y_test, search.predict(X_test))),
            "cv_accuracy": float(search.best_score_),
            "best_params": _best_params(search),
            "search_seconds": seconds,
        }
    return result, []
