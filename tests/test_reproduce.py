import json
import math
import re

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sknntk._cli import main
from sknntk.datasets import TARGETS, make_grid
from sknntk.experiments import make_settings
from sknntk.experiments._common import build_network
from sknntk.experiments._regression import (
    CLASSIFICATION_MODELS,
    REGRESSION_MODELS,
    load_regression_data,
)
from sknntk.experiments._settings import (
    ALIGNMENT_ACTIVATIONS,
    HEATMAP_ACTIVATIONS,
    SPECTRUM_ACTIVATIONS,
)
from sknntk.experiments._training import TRACKED_KERNELS, TRAININGS, record_steps

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SEED = 3


def _reject_constant(name):
    raise ValueError(f"results.json contains the non-standard constant {name}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the quick reproduction once; return its directory and its results."""
    out = tmp_path_factory.mktemp("reproduce") / "nested" / "out"
    status = main(
        ["reproduce", "--out", str(out), "--quick", "--seed", str(SEED), "--quiet"]
    )
    assert status == 0
    text = (out / "results.json").read_text(encoding="utf-8")
    results = json.loads(text, parse_constant=_reject_constant)
    return out, results


def _expected_figures():
    names = [f"heatmap_{name}.png" for name in HEATMAP_ACTIVATIONS]
    names += [f"spectrum_{name}.png" for name in SPECTRUM_ACTIVATIONS]
    return [*names, "alignment_sign.png", "alignment_training_sign.png"]


def _finite(value):
    return isinstance(value, int | float) and math.isfinite(value)


def test_reproduce_writes_every_file(run):
    out, _ = run
    for name in ["report.md", "results.json", *_expected_figures()]:
        path = out / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name


def test_reproduce_figures_are_png(run):
    out, results = run
    assert sorted(f["file"] for f in results["figures"]) == sorted(_expected_figures())
    for name in _expected_figures():
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name


def test_reproduce_report_links_every_png(run):
    out, _ = run
    report = (out / "report.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report))
    written = {path.name for path in out.glob("*.png")}
    assert written == set(_expected_figures())
    assert linked == written


def test_reproduce_report_has_tables(run):
    out, _ = run
    report = (out / "report.md").read_text(encoding="utf-8")
    for _, title in REGRESSION_MODELS:
        assert f"| {title} " in report
    assert "| digits |" in report
    assert "## Timings" in report


def test_reproduce_records_settings_and_versions(run):
    _, results = run
    settings = results["settings"]
    assert settings == json.loads(
        json.dumps(make_settings(quick=True, seed=SEED).as_dict())
    )
    for package in ("sknntk", "numpy", "scipy", "scikit-learn", "torch", "matplotlib"):
        assert results["versions"][package]
    timings = results["timings"]
    assert _finite(timings["total"])
    assert timings["total"] > 0
    assert set(timings["sections"]) == {
        "heatmaps",
        "spectrum",
        "alignment",
        "alignment_training",
        "regression",
        "classification",
    }


def test_reproduce_regression_table_complete(run):
    _, results = run
    regression = results["regression"]
    assert set(regression) == {*TARGETS, "diabetes"}
    for dataset, entry in regression.items():
        assert set(entry["models"]) == {key for key, _ in REGRESSION_MODELS}, dataset
        for model, scores in entry["models"].items():
            assert _finite(scores["test_rmse"]), (dataset, model)
            assert scores["test_rmse"] > 0, (dataset, model)
            assert _finite(scores["cv_rmse"]), (dataset, model)
            assert scores["best_params"], (dataset, model)


def test_reproduce_rbf_row_matches_sklearn(run):
    # The RBF column goes through the same split, tuning and scoring as the
    # NNTK columns, so recomputing it with scikit-learn alone checks that path.
    _, results = run
    settings = make_settings(quick=True, seed=SEED)
    for dataset in ("sign", "diabetes"):
        X_train, X_test, y_train, y_test = load_regression_data(dataset, settings)
        model = TransformedTargetRegressor(
            regressor=Pipeline(
                [("scale", StandardScaler()), ("model", KernelRidge(kernel="rbf"))]
            ),
            transformer=StandardScaler(),
        )
        grid = {
            "regressor__model__alpha": list(settings.alpha_grid_rbf),
            "regressor__model__gamma": list(settings.gamma_grid_rbf),
        }
        cv = KFold(settings.cv_folds, shuffle=True, random_state=SEED)
        search = GridSearchCV(
            model, grid, cv=cv, scoring="neg_root_mean_squared_error"
        ).fit(X_train, y_train)
        expected = root_mean_squared_error(y_test, search.predict(X_test))

        recorded = results["regression"][dataset]["models"]["rbf"]["test_rmse"]
        assert recorded == pytest.approx(expected, rel=1e-10), dataset


def test_reproduce_relu_target_beats_mean(run):
    # On the ReLU target every tuned kernel model should clearly beat the
    # constant prediction, whose RMSE is the standard deviation of y.
    _, results = run
    settings = make_settings(quick=True, seed=SEED)
    _, _, _, y_test = load_regression_data("relu", settings)
    for model, scores in results["regression"]["relu"]["models"].items():
        assert scores["test_rmse"] < 0.5 * np.std(y_test), model


def test_reproduce_classification_table_complete(run):
    _, results = run
    digits = results["classification"]["digits"]
    assert set(digits["models"]) == {key for key, _ in CLASSIFICATION_MODELS}
    for model, scores in digits["models"].items():
        # Ten classes, so chance level is about 0.1.
        assert 0.5 < scores["test_accuracy"] <= 1.0, model


def test_reproduce_output_layer_share(run):
    # Autograd gives sign and square-wave units a zero derivative, so the
    # whole exact NTK comes from the output layer; ReLU units contribute too.
    _, results = run
    heatmaps = results["heatmaps"]
    assert set(heatmaps) == set(HEATMAP_ACTIVATIONS)
    for activation in ("sign", "square_wave"):
        share = heatmaps[activation]["kernels"]["ntk"]["output_layer_trace_share"]
        assert share == pytest.approx(1.0, rel=1e-10), activation
    relu_share = heatmaps["relu"]["kernels"]["ntk"]["output_layer_trace_share"]
    assert 0.0 < relu_share < 0.999


def test_reproduce_heatmap_kernels(run):
    _, results = run
    for activation, entry in results["heatmaps"].items():
        assert set(entry["kernels"]) == {"ntk", "attention", "gaussian", "uniform"}
        for kernel, summary in entry["kernels"].items():
            assert -1.0 <= summary["alignment"] <= 1.0, (activation, kernel)
            # Every kernel is a Gram matrix, so its eigenvalues are >= 0 up
            # to rounding.
            assert summary["min_eigenvalue"] >= -1e-8 * summary["max_eigenvalue"]


def test_reproduce_spectrum_error_falls_with_n(run):
    _, results = run
    settings = make_settings(quick=True, seed=SEED)
    for activation in SPECTRUM_ACTIVATIONS:
        entry = results["spectrum"][activation]
        errors = entry["relative_frobenius_error"]
        assert entry["n_samples"] == list(settings.spectrum_n_samples)
        assert all(_finite(error) for error in errors), activation
        assert errors[-1] < errors[0], activation
        assert len(entry["reference"]["top_eigenvalues"]) == min(
            settings.spectrum_top_eigenvalues, settings.spectrum_points
        )


def test_reproduce_alignment_curves(run):
    _, results = run
    settings = make_settings(quick=True, seed=SEED)
    alignment = results["alignment"]
    assert alignment["target"] == "sign"
    for activation in ALIGNMENT_ACTIVATIONS:
        entry = alignment["networks"][activation]
        assert -1.0 <= entry["exact_ntk"] <= 1.0
        assert entry["gamma"]["x"] == list(settings.alignment_gammas)
        assert entry["n_samples"]["x"] == list(settings.alignment_n_samples)
        for curve in ("gamma", "n_samples"):
            values = entry[curve]["alignment"]
            assert len(values) == len(entry[curve]["x"])
            assert all(-1.0 <= value <= 1.0 for value in values), (activation, curve)


def test_reproduce_alignment_training_records(run):
    _, results = run
    settings = make_settings(quick=True, seed=SEED)
    entry = results["alignment_training"]
    assert entry["target"] == "sign"
    assert set(entry["trainings"]) == {training.key for training in TRAININGS}
    steps = record_steps(settings)
    assert steps[0] == 0
    assert steps[-1] == settings.training_steps
    assert all(later > earlier for earlier, later in zip(steps, steps[1:]))

    for key, training in entry["trainings"].items():
        losses = training["loss"]
        assert len(losses) == settings.training_steps + 1, key
        assert all(_finite(loss) and loss >= 0 for loss in losses), key
        # Both optimizers fit the target at least partly in the quick run.
        assert losses[-1] < 0.8 * losses[0], key

        assert set(training["kernels"]) == {kernel for kernel, _ in TRACKED_KERNELS}
        for kernel, record in training["kernels"].items():
            assert record["step"] == steps, (key, kernel)
            assert record["loss"] == [losses[step] for step in steps], (key, kernel)
            for value in record["alignment"]:
                assert _finite(value), (key, kernel)
                assert -1.0 <= value <= 1.0, (key, kernel)
            assert record["distance"][0] == pytest.approx(0.0, abs=1e-12), key
            assert all(_finite(value) for value in record["distance"]), (key, kernel)


def _closed_form_ntk(network, X):
    """Exact NTK of a one-hidden-layer MLP with the standard parameterization.

    K(x, x') = h(x) . h(x') + 1 + sum_j v_j**2 s_j(x) s_j(x') (x x' + 1), with
    h the hidden activations, v the output weights and s_j the derivative of
    unit j, which autograd takes as zero for sign units.
    """
    hidden, output = network.layers
    w = hidden.weight.detach().numpy()[:, 0]
    b = hidden.bias.detach().numpy()
    v = output.weight.detach().numpy()[0]
    x = X[:, 0]
    pre_activation = np.outer(x, w) + b
    if network.activation.__class__.__name__ == "Tanh":
        h = np.tanh(pre_activation)
        slope = 1.0 - h**2
    else:
        h = np.sign(pre_activation)
        slope = np.zeros_like(h)
    output_layer = h @ h.T + 1.0
    hidden_layer = (slope * v**2) @ slope.T * (np.outer(x, x) + 1.0)
    return output_layer + hidden_layer


def test_reproduce_alignment_training_starts_at_ntk(run):
    # At step 0 the networks are the seeded initial ones, so the recorded
    # exact NTK alignment must equal that of the closed-form NTK.
    _, results = run
    settings = make_settings(quick=True, seed=SEED)
    X, y = make_grid("sign", settings.alignment_points, domain=settings.domain)
    for training in TRAININGS:
        network = build_network(training.activation, 1, settings)
        K = _closed_form_ntk(network, X)
        expected = y @ K @ y / (np.linalg.norm(K) * (y @ y))

        record = results["alignment_training"]["trainings"][training.key]
        recorded = record["kernels"]["ntk"]["alignment"][0]
        assert recorded == pytest.approx(expected, rel=1e-10), training.key
