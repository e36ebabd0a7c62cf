"""Invalid data, parameters and models fail early, clearly and without side effects.

Each case checks three things. The error (or warning) names the problem and
the fix. It comes before the perturbed forward passes or the Jacobians, which
spies replace so that a call fails the test. Neither the estimator nor the
caller's arrays and modules change.
"""

import copy
import re

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

import sknntk._kernel
import sknntk._montecarlo
from sknntk import NNTKClassifier, NNTKRegressor, NonlocalNTKKernel
from sknntk.exceptions import (
    PrecisionWarning,
    TrainingModeWarning,
    VmapFallbackWarning,
)
from sknntk.models import Sign

ESTIMATORS = (NonlocalNTKKernel, NNTKRegressor, NNTKClassifier)
SMALL = {"hidden_layer_sizes": (16,), "n_samples": 16, "random_state": 0}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def forbid_expensive_work(monkeypatch):
    """Replace the perturbed forward passes and the Jacobians with failing spies."""

    def spy(name):
        def fail(*args, **kwargs):
            pytest.fail(f"{name} ran before the invalid input was rejected")

        return fail

    monkeypatch.setattr(
        sknntk._montecarlo, "scaled_differences", spy("scaled_differences")
    )
    monkeypatch.setattr(sknntk._kernel, "exact_ntk", spy("exact_ntk"))
    monkeypatch.setattr(sknntk._kernel, "jacobian", spy("jacobian"))


def _data(n_rows=20, n_features=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    return X, X[:, 0] - X[:, -1] + 0.1


def _labels(Estimator, y):
    """Return targets for ``Estimator``: labels for the classifier, else ``y``."""
    if Estimator is NNTKClassifier:
        return np.where(y > 0, "pos", "neg")
    return y


def _fit(estimator, X, y):
    return estimator.fit(X, _labels(type(estimator), y))


def _predict_method(Estimator):
    return "transform" if Estimator is NonlocalNTKKernel else "predict"


class _Snapshot:
    """The attributes of an estimator, with copies of its arrays."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.values = dict(estimator.__dict__)
        self.arrays = {
            name: value.copy()
            for name, value in self.values.items()
            if isinstance(value, np.ndarray)
        }

    def assert_unchanged(self):
        current = self.estimator.__dict__
        assert current.keys() == self.values.keys()
        for name, value in self.values.items():
            assert current[name] is value, name
        for name, array in self.arrays.items():
            np.testing.assert_array_equal(current[name], array, err_msg=name)


def _module_copy(module):
    return {name: value.clone() for name, value in module.state_dict().items()}


def _assert_module_unchanged(module, state, training):
    assert module.training is training
    for name, value in module.state_dict().items():
        assert torch.equal(value, state[name]), name


def _both_states(Estimator, X, y, **params):
    """Return an unfitted and a fitted estimator with ``params``."""
    unfitted = Estimator(**params)
    fitted = _fit(Estimator(**params), X, y)
    return {"unfitted": unfitted, "fitted": fitted}


# ------------------------------------------------------ non-finite values

NON_FINITE = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("state", ["unfitted", "fitted"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_non_finite_X_raises(Estimator, state, value, request):
    X, y = _data()
    estimator = _both_states(Estimator, X, y, **SMALL)[state]
    snapshot = _Snapshot(estimator)
    bad = X.copy()
    bad[3, 1] = value
    saved = bad.copy()
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        _fit(estimator, bad, y)

    snapshot.assert_unchanged()
    np.testing.assert_array_equal(bad, saved)


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("Estimator", [NNTKRegressor, NNTKClassifier])
def test_fit_non_finite_y_raises(Estimator, value, forbid_expensive_work):
    X, y = _data()
    estimator = Estimator(**SMALL)
    snapshot = _Snapshot(estimator)
    # Float class labels, so that the classifier receives a numeric NaN or inf.
    bad = (y > 0).astype(float) if Estimator is NNTKClassifier else y.copy()
    bad[5] = value
    saved = bad.copy()

    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        estimator.fit(X, bad)

    snapshot.assert_unchanged()
    np.testing.assert_array_equal(bad, saved)


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_non_finite_X_raises(Estimator, value, request):
    X, y = _data()
    estimator = _fit(Estimator(**SMALL), X, y)
    snapshot = _Snapshot(estimator)
    bad = X[:4].copy()
    bad[0, 0] = value
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        getattr(estimator, _predict_method(Estimator))(bad)

    snapshot.assert_unchanged()


def test_decision_function_non_finite_X_raises(request):
    X, y = _data()
    classifier = _fit(NNTKClassifier(**SMALL), X, y)
    bad = X[:4].copy()
    bad[1, 1] = np.nan
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(ValueError, match="Input X contains NaN"):
        classifier.decision_function(bad)


# ---------------------------------------------------- feature count errors


@pytest.mark.parametrize("n_features", [1, 3])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_wrong_feature_count_raises(Estimator, n_features, request):
    X, y = _data()
    estimator = _fit(Estimator(**SMALL), X, y)
    snapshot = _Snapshot(estimator)
    X_new, _ = _data(n_rows=4, n_features=n_features)
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(ValueError, match=rf"X has {n_features} features.*\b2\b"):
        getattr(estimator, _predict_method(Estimator))(X_new)

    snapshot.assert_unchanged()


@pytest.mark.parametrize("state", ["unfitted", "fitted"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_module_width_mismatch_raises(Estimator, state, request):
    X, y = _data()
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()
    saved = _module_copy(module)
    estimator = _both_states(Estimator, X, y, **SMALL)[state]
    estimator.set_params(model=module)
    snapshot = _Snapshot(estimator)
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(ValueError, match="X has 2 features, but the model expects 3"):
        _fit(estimator, X, y)

    snapshot.assert_unchanged()
    _assert_module_unchanged(module, saved, training=True)


# ------------------------------------------------------ invalid parameters


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gamma", 0.0),
        ("gamma", -0.5),
        ("n_samples", 0),
        ("n_samples", -3),
        ("kernel", "rbf"),
        ("distribution", "laplace"),
        ("sampler", "sobol"),
    ],
)
@pytest.mark.parametrize("state", ["unfitted", "fitted"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_invalid_parameter_raises(Estimator, state, name, value, request):
    X, y = _data()
    estimator = _both_states(Estimator, X, y, **SMALL)[state]
    estimator.set_params(**{name: value})
    snapshot = _Snapshot(estimator)
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter") as info:
        _fit(estimator, X, y)

    assert repr(value) in str(info.value) or str(value) in str(info.value)
    snapshot.assert_unchanged()


# ------------------------------------------------- models that misbehave


class _Overflows(torch.nn.Module):
    """``x . exp(1000 w)``: finite at ``w = 0``, infinite for ``|w_i| > 0.71``."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x):
        return (x @ torch.exp(1000.0 * self.weight))[:, None]


class _PoleAwayFromTheta(torch.nn.Module):
    """``(x . w) / (1 - ||w||)``, which has a pole on the sphere ``||w|| = 1``."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([0.6, 0.0], dtype=torch.float64))

    def forward(self, x):
        distance = 1.0 - torch.linalg.vector_norm(self.weight)
        return (x @ self.weight)[:, None] / (distance * (distance > 0))


@pytest.mark.parametrize("Model", [_Overflows, _PoleAwayFromTheta])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_non_finite_perturbed_output_raises(Estimator, Model):
    X, y = _data()
    module = Model()
    saved = _module_copy(module)
    estimator = Estimator(module, gamma=2.0, n_samples=16, random_state=0)
    snapshot = _Snapshot(estimator)

    with pytest.raises(ValueError, match="not finite") as info:
        _fit(estimator, X, y)

    message = str(info.value)
    assert "gamma=2.0" in message
    assert "smaller gamma" in message
    assert "float64" in message
    snapshot.assert_unchanged()
    _assert_module_unchanged(module, saved, training=True)


def test_non_finite_output_at_theta_raises(forbid_expensive_work):
    class PoleAtTheta(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))

        def forward(self, x):
            return (x @ self.weight)[:, None] / 0.0

    X, _ = _data()

    with pytest.raises(ValueError, match="not finite"):
        NonlocalNTKKernel(PoleAtTheta(), **SMALL).fit(X)


def test_float32_tiny_gamma_warns():
    X, _ = _data()
    kernel = NonlocalNTKKernel(dtype="float32", gamma=1e-12, **SMALL)

    with pytest.warns(PrecisionWarning, match="float64") as record:
        kernel.fit(X)

    assert "gamma" in str(record[0].message)


class _SignOfProjection(torch.nn.Module):
    """``sign(x . w + b)``: every parameter sits inside the step."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1).double()
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, 0.5]]))
            self.linear.bias.fill_(0.1)
        self.sign = Sign()

    def forward(self, x):
        return self.sign(self.linear(x))


@pytest.mark.parametrize("kernel", ["nonlocal", "attention"])
def test_step_network_zero_kernel_warns(kernel):
    """Perturbations too small to flip a step give a zero kernel, never silently."""
    X, _ = _data()
    estimator = NonlocalNTKKernel(
        _SignOfProjection(), kernel=kernel, gamma=1e-12, **SMALL
    )

    with pytest.warns(PrecisionWarning, match="larger gamma") as record:
        K = estimator.fit_transform(X)

    assert "1e-12" in str(record[0].message)
    assert not np.any(K)


class _NoParameters(torch.nn.Module):
    def forward(self, x):
        return x.sum(dim=1, keepdim=True)


def _frozen_linear():
    layer = torch.nn.Linear(2, 1).double()
    layer.requires_grad_(False)
    return layer


@pytest.mark.parametrize("make_model", [_NoParameters, _frozen_linear])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_model_without_trainable_parameters_raises(
    Estimator, make_model, forbid_expensive_work
):
    X, y = _data()
    estimator = Estimator(make_model(), **SMALL)
    snapshot = _Snapshot(estimator)

    with pytest.raises(ValueError, match="no trainable parameters"):
        _fit(estimator, X, y)

    snapshot.assert_unchanged()


def test_callable_model_returning_non_module_raises(forbid_expensive_work):
    X, _ = _data()

    with pytest.raises(TypeError, match="must return a torch.nn.Module"):
        NonlocalNTKKernel(lambda n_features: "not a module", **SMALL).fit(X)


# ------------------------------------------------------- training mode


def _dropout_module():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 8),
        torch.nn.Tanh(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(8, 1),
    ).double()


def _batch_norm_module():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 1),
    ).double()
    # Non-trivial running statistics, so that train and eval mode differ.
    module[1].running_mean.fill_(0.3)
    module[1].running_var.fill_(2.0)
    return module


@pytest.mark.parametrize("kernel", ["nonlocal", "ntk"])
@pytest.mark.parametrize("make_module", [_dropout_module, _batch_norm_module])
def test_training_mode_warns_and_uses_eval(make_module, kernel):
    X, _ = _data()
    module = make_module().train()
    saved = _module_copy(module)
    reference = copy.deepcopy(module).eval()

    with pytest.warns(TrainingModeWarning, match="evaluation mode"):
        K = NonlocalNTKKernel(module, kernel=kernel, **SMALL).fit_transform(X)

    _assert_module_unchanged(module, saved, training=True)
    assert all(layer.training for layer in module.modules())
    K_eval = NonlocalNTKKernel(reference, kernel=kernel, **SMALL).fit_transform(X)
    np.testing.assert_array_equal(K, K_eval)


def test_training_mode_without_stateful_layers_is_silent(recwarn):
    X, _ = _data()
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh()).double()

    NonlocalNTKKernel(module.train(), **SMALL).fit(X)

    assert not [w for w in recwarn if issubclass(w.category, TrainingModeWarning)]


class _ItemNet(torch.nn.Module):
    """A tanh network that optionally reads a Python float with ``.item()``.

    The scalar ``scale`` is not part of an ``nn.Linear`` layer, so the exact NTK
    differentiates it with the generic, vmapped Jacobian path.
    """

    def __init__(self, call_item):
        super().__init__()
        torch.manual_seed(0)
        self.hidden = torch.nn.Linear(2, 6).double()
        self.out = torch.nn.Linear(6, 1).double()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))
        self.call_item = call_item

    def forward(self, x):
        output = self.scale * self.out(torch.tanh(self.hidden(x)))
        if self.call_item:
            # Always 1.0, but vmap cannot batch a call to .item().
            output = output * float(output.abs().max().item() >= 0.0)
        return output

    def extra_repr(self):
        return f"call_item={self.call_item}"


@pytest.mark.parametrize("kernel", ["nonlocal", "attention", "ntk"])
def test_item_call_warns_vmap_fallback(kernel):
    X, _ = _data()

    with pytest.warns(VmapFallbackWarning, match=r"\.item\(\)"):
        NonlocalNTKKernel(_ItemNet(True), kernel=kernel, **SMALL).fit_transform(X)


@pytest.mark.filterwarnings("ignore::sknntk.exceptions.VmapFallbackWarning")
@pytest.mark.parametrize("kernel", ["nonlocal", "attention", "ntk"])
def test_item_call_kernel_matches_batched(kernel):
    X, _ = _data()
    X_new, _ = _data(n_rows=5, seed=1)
    fallback = NonlocalNTKKernel(_ItemNet(True), kernel=kernel, **SMALL).fit(X)
    batched = NonlocalNTKKernel(_ItemNet(False), kernel=kernel, **SMALL).fit(X)

    np.testing.assert_allclose(
        fallback.transform(X_new), batched.transform(X_new), rtol=1e-12, atol=1e-14
    )


# -------------------------------------------------------- degenerate data


@pytest.mark.parametrize("label", ["spam", 7])
def test_single_class_raises(label, forbid_expensive_work):
    X, _ = _data()
    classifier = NNTKClassifier(**SMALL)
    snapshot = _Snapshot(classifier)

    with pytest.raises(ValueError, match="only one class") as info:
        classifier.fit(X, np.full(X.shape[0], label))

    assert repr(label) in str(info.value)
    snapshot.assert_unchanged()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_empty_X_fit_raises(Estimator, forbid_expensive_work):
    estimator = Estimator(**SMALL)
    snapshot = _Snapshot(estimator)

    with pytest.raises(ValueError, match="0 sample"):
        _fit(estimator, np.empty((0, 2)), np.empty(0))

    snapshot.assert_unchanged()


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_empty_X_predict_raises(Estimator, request):
    X, y = _data()
    estimator = _fit(Estimator(**SMALL), X, y)
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(ValueError, match="0 sample"):
        getattr(estimator, _predict_method(Estimator))(np.empty((0, 2)))


# ------------------------------------------------------------ memory limit


def _size_in_message(message):
    """Return the first memory size in ``message`` in bytes, or None."""
    units = {"B": 1, "bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    match = re.search(r"([\d.]+) ?(bytes|B|KiB|MiB|GiB)\b", message)
    if match is None:
        return None
    return float(match.group(1)) * units[match.group(2)]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_gram_matrix_too_large_raises(Estimator, monkeypatch, request):
    X, y = _data()
    params = {} if Estimator is NonlocalNTKKernel else {"solver": "dual"}
    estimator = _fit(Estimator(**SMALL, **params), X, y)
    snapshot = _Snapshot(estimator)
    monkeypatch.setattr(sknntk._kernel, "_available_memory", lambda: 1000)
    request.getfixturevalue("forbid_expensive_work")

    with pytest.raises(MemoryError) as info:
        getattr(estimator, _predict_method(Estimator))(X)

    message = str(info.value)
    assert "(20, 20)" in message
    assert "output='features'" in message
    assert "solver='primal'" in message
    needed = _size_in_message(message)
    assert needed is not None, message
    assert needed > 0, message
    snapshot.assert_unchanged()


def test_feature_map_too_large_raises_at_fit(monkeypatch, forbid_expensive_work):
    X, _ = _data()
    kernel = NonlocalNTKKernel(**SMALL)
    snapshot = _Snapshot(kernel)
    monkeypatch.setattr(sknntk._kernel, "_available_memory", lambda: 1000)

    with pytest.raises(MemoryError, match=r"\(20, 16\).*n_samples"):
        kernel.fit(X)

    snapshot.assert_unchanged()
