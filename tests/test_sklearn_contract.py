"""scikit-learn's estimator contract for the kernel transformer and the ridge models.

Besides scikit-learn's own checks, these tests pin down what the checks do not
see: parameters stored untouched by ``__init__``, a torch module passed as
``model`` that is copied and never modified, sample weights that act like
repeated rows, and the label and output shapes of the ridge estimators.
"""

import contextlib
import copy

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import RidgeClassifier
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from sknntk import NNTKClassifier, NNTKGPKernel, NNTKRegressor, NonlocalNTKKernel
from sknntk.exceptions import TrainingModeWarning

ESTIMATORS = (NonlocalNTKKernel, NNTKRegressor, NNTKClassifier)
RIDGE_ESTIMATORS = (NNTKRegressor, NNTKClassifier)

# Checks of parametrize_with_checks known to fail, by estimator class name and
# then check name, with the reason. Every check passes at present.
EXPECTED_FAILED_CHECKS = {}

# Small settings for every test other than scikit-learn's own checks.
SMALL = {"hidden_layer_sizes": (16,), "n_samples": 16, "random_state": 0}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [NonlocalNTKKernel(), NNTKRegressor(), NNTKClassifier()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- helpers


def _data(n_rows=24, n_features=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    y = X[:, 0] - 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n_rows)
    return X, y


def _fit(estimator, X, y):
    """Fit any of the three estimators (the transformer ignores ``y``)."""
    if isinstance(estimator, NNTKClassifier):
        return estimator.fit(X, y > np.median(y))
    return estimator.fit(X, y)


def _tanh_module(n_features=2, width=8, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, width),
        torch.nn.BatchNorm1d(width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 1),
    ).to(dtype)


def _module_state(module):
    """Return copies of a module's state dict, its training flags and dtypes."""
    state = {
        name: value.detach().clone() for name, value in module.state_dict().items()
    }
    flags = [layer.training for layer in module.modules()]
    dtypes = [p.dtype for p in module.parameters()]
    return state, flags, dtypes


def _assert_module_unchanged(module, saved):
    state, flags, dtypes = saved
    current = module.state_dict()
    assert current.keys() == state.keys()
    for name, value in state.items():
        assert current[name].dtype == value.dtype, name
        assert torch.equal(current[name], value), name
    assert [layer.training for layer in module.modules()] == flags
    assert [p.dtype for p in module.parameters()] == dtypes


# ------------------------------------------------------------ parameters


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_constraints_cover_every_parameter(Estimator):
    assert set(Estimator._parameter_constraints) == set(Estimator().get_params())


def test_gp_kernel_defaults_match_transformer():
    """Every parameter that the GP adapter forwards has the transformer's default."""
    gp_params = NNTKGPKernel().get_params()
    transformer_params = NonlocalNTKKernel().get_params()

    assert set(gp_params) <= set(transformer_params)
    for name, value in gp_params.items():
        if name == "random_state":
            # The adapter needs a fixed seed, so its default is 0, not None.
            assert value == 0
            continue
        assert value == transformer_params[name], name


def test_gp_kernel_forwards_parameters():
    X, _ = _data(n_rows=10)
    params = {
        "kernel": "attention",
        "gamma": 0.3,
        "n_samples": 8,
        "distribution": "uniform",
        "sampler": "iid",
        "perturbation": "directional",
        "normalize": False,
        "attention_temperature": 0.2,
        "hidden_layer_sizes": (8,),
        "activation": "tanh",
        "dtype": "float32",
        "random_state": 3,
    }

    K_gp = NNTKGPKernel(**params)(X)
    K_transformer = NonlocalNTKKernel(**params).fit_transform(X)

    np.testing.assert_array_equal(K_gp, K_transformer)


# Values that the constraint table rejects, with the estimators that have the
# parameter.
INVALID_VALUES = [
    ("model", 3, ESTIMATORS),
    ("kernel", "rbf", ESTIMATORS),
    ("gamma", -1, ESTIMATORS),
    ("gamma", 0.0, ESTIMATORS),
    ("n_samples", 0, ESTIMATORS),
    ("n_samples", "many", ESTIMATORS),
    ("distribution", "cauchy", ESTIMATORS),
    ("sampler", "sobol", ESTIMATORS),
    ("perturbation", "radial", ESTIMATORS),
    ("form", "integral", ESTIMATORS),
    ("normalize", "yes", ESTIMATORS),
    ("attention_temperature", -1.0, ESTIMATORS),
    ("tol", 0.0, ESTIMATORS),
    ("max_samples", 1, ESTIMATORS),
    ("hidden_layer_sizes", 0, ESTIMATORS),
    ("activation", "swish-like", ESTIMATORS),
    ("output", "gram", (NonlocalNTKKernel,)),
    ("n_jobs", 1.5, ESTIMATORS),
    ("device", 3, ESTIMATORS),
    ("dtype", "float16", ESTIMATORS),
    ("sample_chunk_size", 0, ESTIMATORS),
    ("row_chunk_size", 0, ESTIMATORS),
    ("random_state", "seed", ESTIMATORS),
    ("verbose", "loud", ESTIMATORS),
    ("alpha", -1.0, RIDGE_ESTIMATORS),
    ("solver", "lbfgs", RIDGE_ESTIMATORS),
]


@pytest.mark.parametrize(
    ("Estimator", "name", "value"),
    [
        pytest.param(Estimator, name, value, id=f"{Estimator.__name__}-{name}")
        for name, value, owners in INVALID_VALUES
        for Estimator in owners
    ],
)
def test_init_stores_invalid_value(Estimator, name, value):
    X, y = _data()

    estimator = Estimator(**{name: value})

    assert estimator.get_params()[name] is value
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        _fit(estimator, X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_init_stores_all_invalid_values(Estimator):
    values = {
        name: value for name, value, owners in INVALID_VALUES if Estimator in owners
    }

    estimator = Estimator(**values)

    params = estimator.get_params()
    for name, value in values.items():
        assert params[name] is value, name


# ---------------------------------------------- feature names and output


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dataframe_sets_feature_names(Estimator):
    X, y = _data()
    frame = pd.DataFrame(X, columns=["height", "width"])

    estimator = _fit(Estimator(**SMALL), frame, y)

    assert estimator.n_features_in_ == 2
    np.testing.assert_array_equal(estimator.feature_names_in_, ["height", "width"])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dataframe_renamed_columns_raise(Estimator):
    X, y = _data()
    estimator = _fit(Estimator(**SMALL), pd.DataFrame(X, columns=["a", "b"]), y)
    renamed = pd.DataFrame(X, columns=["a", "c"])
    method = "transform" if Estimator is NonlocalNTKKernel else "predict"

    with pytest.raises(ValueError, match="feature names"):
        getattr(estimator, method)(renamed)


def test_numpy_fit_has_no_feature_names():
    X, _ = _data()

    kernel = NonlocalNTKKernel(**SMALL).fit(X)

    assert kernel.n_features_in_ == 2
    assert not hasattr(kernel, "feature_names_in_")


def test_set_output_pandas_gives_named_columns():
    X, _ = _data(n_rows=10)
    frame = pd.DataFrame(X, columns=["a", "b"], index=range(100, 110))
    kernel = NonlocalNTKKernel(**SMALL).set_output(transform="pandas").fit(frame)

    out = kernel.transform(frame.iloc[:4])

    assert isinstance(out, pd.DataFrame)
    assert out.shape == (4, 10)
    assert list(out.columns) == [f"nonlocalntkkernel{i}" for i in range(10)]
    assert list(out.index) == [100, 101, 102, 103]
    np.testing.assert_array_equal(
        out.to_numpy(),
        kernel.set_output(transform="default").transform(frame.iloc[:4]),
    )


def test_feature_names_out_follow_output():
    X, _ = _data(n_rows=10)

    kernel_names = NonlocalNTKKernel(**SMALL).fit(X).get_feature_names_out()
    feature_names = (
        NonlocalNTKKernel(output="features", **SMALL).fit(X).get_feature_names_out()
    )

    assert kernel_names.shape == (10,)
    assert feature_names.shape == (16,)


@pytest.mark.parametrize("with_module", [False, True], ids=["default", "module"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_html_repr(Estimator, with_module):
    model = _tanh_module() if with_module else None
    estimator = Estimator(model, **SMALL)

    html = estimator._repr_html_()

    assert Estimator.__name__ in html
    assert "<div" in html


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_html_repr_fitted(Estimator):
    X, y = _data()
    estimator = _fit(Estimator(_tanh_module().eval(), **SMALL), X, y)

    html = estimator._repr_html_()

    assert Estimator.__name__ in html
    assert "fitted" in html.lower()


# ------------------------------------------------------ module as a model


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_copies_module(Estimator):
    X, y = _data()
    module = _tanh_module().eval()
    estimator = _fit(Estimator(module, **SMALL), X, y)

    cloned = clone(estimator)

    cloned_module = cloned.get_params()["model"]
    assert cloned_module is not module
    assert type(cloned_module) is type(module)
    assert cloned_module.state_dict().keys() == module.state_dict().keys()
    for name, value in module.state_dict().items():
        assert torch.equal(cloned_module.state_dict()[name], value), name
    with pytest.raises(NotFittedError):
        check_is_fitted(cloned)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_module_unchanged_by_methods(Estimator, training):
    """``fit`` and the prediction methods never write into the caller's module.

    The module is float32 while the kernel runs in float64, and it contains batch
    normalization buffers, so a conversion, a mode switch or a buffer update
    done in place would show.
    """
    X, y = _data()
    module = _tanh_module().train(training)
    saved = _module_state(module)
    estimator = Estimator(module, **SMALL)

    expect_warning = pytest.warns(TrainingModeWarning)
    with expect_warning if training else contextlib.nullcontext():
        _fit(estimator, X, y)
    _assert_module_unchanged(module, saved)

    methods = {
        NonlocalNTKKernel: ["transform"],
        NNTKRegressor: ["predict"],
        NNTKClassifier: ["predict", "decision_function"],
    }[Estimator]
    for method in methods:
        getattr(estimator, method)(X[:5])
        _assert_module_unchanged(module, saved)
    assert estimator.get_params()["model"] is module


class _RaisesWhenPerturbed(torch.nn.Module):
    """``x . w`` that raises when evaluated away from its initial weights."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([0.5, -1.0], dtype=torch.float64))
        self.register_buffer("initial", self.weight.detach().clone())

    def forward(self, x):
        # torch.equal has no vmap batching rule, so the kernel falls back to
        # one forward pass per perturbation, and this check runs on each of them.
        if not torch.equal(self.weight, self.initial):
            raise ArithmeticError("evaluated at perturbed parameters")
        return (x @ self.weight)[:, None]


@pytest.mark.filterwarnings("ignore::sknntk.exceptions.VmapFallbackWarning")
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_module_unchanged_after_failed_fit(Estimator):
    X, y = _data()
    module = _RaisesWhenPerturbed()
    saved = _module_state(module)
    estimator = Estimator(module, **SMALL)
    before = dict(estimator.__dict__)

    with pytest.raises(ArithmeticError, match="perturbed parameters"):
        _fit(estimator, X, y)

    _assert_module_unchanged(module, saved)
    assert estimator.__dict__ == before


def _interrupt_after(module, n_calls):
    """Register a forward hook that raises KeyboardInterrupt after ``n_calls``.

    The hook travels with deep copies of the module, and the call counter is
    shared between the copies.
    """
    calls = {"count": 0, "limit": n_calls}

    def hook(_module, _inputs, _output):
        calls["count"] += 1
        if calls["limit"] is not None and calls["count"] > calls["limit"]:
            raise KeyboardInterrupt

    module.register_forward_hook(hook)
    return calls


@pytest.mark.parametrize("n_calls", [1, 3])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_keyboard_interrupt_in_fit(Estimator, n_calls):
    X, y = _data()
    module = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh()).double()
    _interrupt_after(module[0], n_calls)
    saved = _module_state(module)
    estimator = Estimator(module, **SMALL)
    before = dict(estimator.__dict__)

    with pytest.raises(KeyboardInterrupt):
        _fit(estimator, X, y)

    _assert_module_unchanged(module, saved)
    assert estimator.__dict__.keys() == before.keys()
    for name, value in before.items():
        assert estimator.__dict__[name] is value, name


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_keyboard_interrupt_in_prediction(Estimator):
    """An interrupted prediction leaves the fitted estimator as it was."""
    X, y = _data()
    module = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh()).double()
    calls = _interrupt_after(module[0], None)
    saved = _module_state(module)
    estimator = _fit(Estimator(module, **SMALL), X, y)
    method = "transform" if Estimator is NonlocalNTKKernel else "predict"
    expected = getattr(estimator, method)(X[:6])
    before = dict(estimator.__dict__)

    calls["limit"] = calls["count"] + 1
    with pytest.raises(KeyboardInterrupt):
        getattr(estimator, method)(X[:6])
    calls["limit"] = None

    _assert_module_unchanged(module, saved)
    assert estimator.__dict__.keys() == before.keys()
    for name, value in before.items():
        assert estimator.__dict__[name] is value, name
    np.testing.assert_array_equal(getattr(estimator, method)(X[:6]), expected)


# ---------------------------------------------------------- sample weights


def _exact_ridge(Estimator, solver):
    return Estimator(kernel="ntk", alpha=0.1, solver=solver, **SMALL)


def _scores(estimator, X):
    if isinstance(estimator, NNTKClassifier):
        return estimator.decision_function(X)
    return estimator.predict(X)


def _weight_data():
    X, y = _data(n_rows=20, seed=1)
    X_test, _ = _data(n_rows=7, seed=2)
    return X, y, X_test


def _targets(Estimator, y):
    if Estimator is NNTKClassifier:
        return np.where(y > 0, "pos", "neg")
    return y


@pytest.mark.parametrize("solver", ["dual", "primal"])
@pytest.mark.parametrize("Estimator", RIDGE_ESTIMATORS)
def test_integer_weight_repeats_row(Estimator, solver):
    X, y, X_test = _weight_data()
    y = _targets(Estimator, y)
    weights = np.ones(X.shape[0])
    weights[[3, 8]] = [3, 2]
    X_repeated = np.vstack([X, X[[3, 3, 8]]])
    y_repeated = np.concatenate([y, y[[3, 3, 8]]])

    weighted = _exact_ridge(Estimator, solver).fit(X, y, sample_weight=weights)
    repeated = _exact_ridge(Estimator, solver).fit(X_repeated, y_repeated)

    assert weighted.solver_ == solver
    np.testing.assert_allclose(
        _scores(weighted, X_test), _scores(repeated, X_test), rtol=0, atol=1e-8
    )


@pytest.mark.parametrize("solver", ["dual", "primal"])
@pytest.mark.parametrize("Estimator", RIDGE_ESTIMATORS)
def test_zero_weight_drops_row(Estimator, solver):
    X, y, X_test = _weight_data()
    y = _targets(Estimator, y)
    weights = np.ones(X.shape[0])
    weights[[4, 11]] = 0.0
    keep = weights > 0

    weighted = _exact_ridge(Estimator, solver).fit(X, y, sample_weight=weights)
    dropped = _exact_ridge(Estimator, solver).fit(X[keep], y[keep])

    np.testing.assert_allclose(
        _scores(weighted, X_test), _scores(dropped, X_test), rtol=0, atol=1e-8
    )


@pytest.mark.parametrize("Estimator", RIDGE_ESTIMATORS)
def test_unit_weights_match_no_weights(Estimator):
    X, y, X_test = _weight_data()
    y = _targets(Estimator, y)

    weighted = _exact_ridge(Estimator, "dual").fit(
        X, y, sample_weight=np.ones(X.shape[0])
    )
    plain = _exact_ridge(Estimator, "dual").fit(X, y)

    np.testing.assert_allclose(
        _scores(weighted, X_test), _scores(plain, X_test), rtol=0, atol=1e-12
    )


# ------------------------------------------------- targets and label types


@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor_multi_output_shape(n_targets):
    X, y = _data()
    Y = np.column_stack([y * (k + 1) for k in range(n_targets)])

    regressor = NNTKRegressor(**SMALL).fit(X, Y)

    assert regressor.predict(X[:5]).shape == (5, n_targets)


def test_regressor_single_output_is_1d():
    X, y = _data()

    regressor = NNTKRegressor(**SMALL).fit(X, y)

    assert regressor.predict(X[:5]).shape == (5,)


def test_regressor_multi_output_matches_columns():
    """Each column of a multi-output fit equals a single-output fit on it."""
    X, y = _data()
    Y = np.column_stack([y, np.sin(X[:, 0]), X[:, 1] ** 2])

    joint = NNTKRegressor(kernel="ntk", alpha=0.1, **SMALL).fit(X, Y).predict(X)

    for column in range(Y.shape[1]):
        single = NNTKRegressor(kernel="ntk", alpha=0.1, **SMALL).fit(X, Y[:, column])
        np.testing.assert_allclose(
            joint[:, column], single.predict(X), rtol=0, atol=1e-10
        )


def _linear_classifier_data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 2))
    return X, np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.5, 0.5])


LABELS = {
    "str": np.array(["low", "mid", "high"]),
    "int": np.array([-7, 0, 12]),
    "bool": np.array([False, True, True]),
}


@pytest.mark.parametrize("label_type", list(LABELS))
def test_classifier_label_types(label_type):
    X, codes = _linear_classifier_data()
    y = LABELS[label_type][codes]

    classifier = NNTKClassifier(**SMALL).fit(X, y)

    np.testing.assert_array_equal(classifier.classes_, np.unique(y))
    predicted = classifier.predict(X)
    assert predicted.dtype == y.dtype
    assert set(predicted) <= set(y)
    assert np.mean(predicted == y) > 0.8


def _linear_ntk_pair(alpha=0.5):
    """Return an NTK classifier of a linear model and the equal RidgeClassifier.

    ``x -> w . x + b`` has the NTK ``x . x' + 1``, so kernel ridge with it is
    ridge regression on ``(x, 1)`` without a separate intercept.
    """
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1).double()
    classifier = NNTKClassifier(model, kernel="ntk", alpha=alpha, solver="dual")
    reference = RidgeClassifier(alpha=alpha, fit_intercept=False, solver="cholesky")
    return classifier, reference


def _with_ones(X):
    return np.column_stack([X, np.ones(X.shape[0])])


def test_classifier_binary_matches_ridge_classifier():
    X, codes = _linear_classifier_data()
    y = np.array(["no", "yes"])[(codes > 0).astype(int)]
    classifier, reference = _linear_ntk_pair()

    classifier.fit(X, y)
    reference.fit(_with_ones(X), y)

    scores = classifier.decision_function(X)
    assert scores.shape == (X.shape[0],)
    np.testing.assert_allclose(
        scores, reference.decision_function(_with_ones(X)), rtol=0, atol=1e-10
    )
    np.testing.assert_array_equal(
        classifier.predict(X), reference.predict(_with_ones(X))
    )


def test_classifier_multiclass_matches_ridge_classifier():
    X, codes = _linear_classifier_data()
    y = LABELS["str"][codes]
    classifier, reference = _linear_ntk_pair()

    classifier.fit(X, y)
    reference.fit(_with_ones(X), y)

    scores = classifier.decision_function(X)
    assert scores.shape == (X.shape[0], 3)
    np.testing.assert_allclose(
        scores, reference.decision_function(_with_ones(X)), rtol=0, atol=1e-10
    )
    np.testing.assert_array_equal(
        classifier.predict(X), reference.predict(_with_ones(X))
    )


def test_classifier_binary_sign_picks_second_class():
    X, codes = _linear_classifier_data()
    y = np.array([False, True])[(codes > 0).astype(int)]

    classifier = NNTKClassifier(**SMALL).fit(X, y)

    scores = classifier.decision_function(X)
    np.testing.assert_array_equal(classifier.predict(X), scores > 0)


def test_module_deep_copy_is_independent():
    """Training the caller's module after ``fit`` does not change the kernel."""
    X, _ = _data()
    module = _tanh_module(dtype=torch.float64).eval()
    kernel = NonlocalNTKKernel(module, **SMALL).fit(X)
    expected = kernel.transform(X[:4])
    untouched = copy.deepcopy(module)

    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(1.0)

    np.testing.assert_array_equal(kernel.transform(X[:4]), expected)
    refit = NonlocalNTKKernel(untouched, **SMALL).fit(X).transform(X[:4])
    np.testing.assert_array_equal(refit, expected)
