"""Write the results of a reproduction run as JSON and as a Markdown report."""

import json
import math

import numpy as np

from sknntk.experiments._common import DISPLAY_NAMES
from sknntk.experiments._regression import CLASSIFICATION_MODELS, REGRESSION_MODELS


def to_jsonable(value):
    """Convert numpy values and tuples to JSON types, and non-finite floats to None.

    JSON has no NaN or infinity, so those become ``null``.
    """
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(results, path):
    """Write ``results`` to ``path`` as strict JSON."""
    text = json.dumps(to_jsonable(results), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _number(value, digits=3):
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _figure_lines(figures, prefix):
    lines = []
    for figure in figures:
        if figure["file"].startswith(prefix):
            lines += [
                f"![{figure['file']}]({figure['file']})",
                "",
                figure["caption"],
                "",
            ]
    return lines


def _heatmap_section(results):
    lines = ["## Kernel heatmaps", ""]
    lines += _figure_lines(results["figures"], "heatmap_")
    rows = []
    for activation, entry in results["heatmaps"].items():
        for kernel, summary in entry["kernels"].items():
            share = summary.get("output_layer_trace_share")
            rows.append(
                [
                    DISPLAY_NAMES[activation],
                    kernel,
                    _number(summary["alignment"]),
                    _number(summary["centered_alignment"]),
                    _number(summary["effective_rank"]),
                    "" if share is None else f"{share:.0%}",
                ]
            )
    lines.append(
        "Alignment with the target of the same name on the grid, and the share of "
        "the exact NTK's trace that comes from the output layer (100% means that "
        "autograd returns zero derivatives for the hidden layer)."
    )
    lines.append("")
    header = [
        "network",
        "kernel",
        "alignment",
        "centered alignment",
        "effective rank",
        "output layer share",
    ]
    return lines + _table(header, rows) + [""]


def _spectrum_section(results):
    lines = ["## Spectrum convergence", ""]
    lines += _figure_lines(results["figures"], "spectrum_")
    first = next(iter(results["spectrum"].values()))
    header = ["network", *[f"N = {n}" for n in first["n_samples"]]]
    header += ["reference N", "reference standard error"]
    rows = []
    for activation, entry in results["spectrum"].items():
        reference = entry["reference"]
        rows.append(
            [
                DISPLAY_NAMES[activation],
                *[_number(error) for error in entry["relative_frobenius_error"]],
                reference["n_samples"],
                _number(reference["relative_std_error"]),
            ]
        )
    lines.append(
        "Relative Frobenius error ||K_N - K_ref||_F / ||K_ref||_F of the Gaussian "
        "nonlocal kernel against an independent reference estimate."
    )
    lines.append("")
    return lines + _table(header, rows) + [""]


def _alignment_section(results):
    lines = ["## Kernel-target alignment", ""]
    lines += _figure_lines(results["figures"], "alignment_sign")
    alignment = results["alignment"]
    rows = []
    for activation, entry in alignment["networks"].items():
        over_gamma = entry["gamma"]
        best = int(np.argmax(over_gamma["alignment"]))
        rows.append(
            [
                DISPLAY_NAMES[activation],
                _number(entry["exact_ntk"]),
                _number(over_gamma["alignment"][best]),
                _number(over_gamma["x"][best]),
                _number(entry["n_samples"]["alignment"][-1]),
            ]
        )
    largest_n = next(iter(alignment["networks"].values()))["n_samples"]["x"][-1]
    header = [
        "network",
        "exact NTK",
        "nonlocal, best over gamma",
        "at gamma",
        f"nonlocal, N = {largest_n}",
    ]
    lines.append(f"Alignment with the {alignment['target']} target.")
    lines.append("")
    return lines + _table(header, rows) + [""]


def _alignment_training_section(results):
    lines = ["## Kernel-target alignment over training", ""]
    lines += _figure_lines(results["figures"], "alignment_training_")
    entry = results["alignment_training"]
    rows = []
    for training in entry["trainings"].values():
        network = DISPLAY_NAMES[training["network"]["activation"]]
        for kernel, record in training["kernels"].items():
            rows.append(
                [
                    f"{network}, {training['optimizer']}",
                    kernel,
                    _number(record["alignment"][0]),
                    _number(record["alignment"][-1]),
                    _number(record["distance"][-1]),
                    _number(record["loss"][0]),
                    _number(record["loss"][-1]),
                ]
            )
    header = [
        "training",
        "kernel",
        "alignment at step 0",
        "alignment at the last step",
        "distance from step 0",
        "loss at step 0",
        "loss at the last step",
    ]
    lines.append(
        f"Alignment with the {entry['target']} target before and after "
        f"{results['settings']['training_steps']} training steps, and the "
        "distance 1 - <K_0, K>_F / (||K_0||_F ||K||_F) of the last Gram matrix "
        "from the first."
    )
    lines.append("")
    return lines + _table(header, rows) + [""]


def _best_cells(values, larger_is_better):
    """Format values, with the best in bold."""
    finite = [value for value in values if value is not None and math.isfinite(value)]
    best = None
    if finite:
        best = max(finite) if larger_is_better else min(finite)
    return [
        f"**{_number(value)}**" if value == best else _number(value) for value in values
    ]


def _regression_section(results):
    settings = results["settings"]
    lines = ["## Regression: test RMSE", ""]
    lines.append(
        f"Each model is tuned by {settings['cv_folds']}-fold GridSearchCV on the "
        f"training split ({1 - settings['test_size']:.0%} of the rows) and scored "
        f"once on the held-out rest; the best RMSE of each row is in bold. The "
        f"1-D targets have {settings['regression_rows']} rows with Gaussian noise "
        f"of standard deviation {settings['regression_noise']}, the expected "
        f"RMSE of the noise-free target itself. Diabetes RMSE is in standard "
        f"deviations of y. "
        f"X and y are standardized inside each model. The NNTK models use an MLP "
        f"with {settings['model_hidden_width']} hidden units of the listed activation "
        f"(the target's own for the 1-D targets, ReLU for diabetes) and "
        f"N = {settings['model_n_samples']} perturbations."
    )
    lines.append("")
    header = ["data set", "network", *[title for _, title in REGRESSION_MODELS]]
    rows = []
    for dataset, entry in results["regression"].items():
        values = [entry["models"][key]["test_rmse"] for key, _ in REGRESSION_MODELS]
        rows.append(
            [
                DISPLAY_NAMES[dataset],
                entry["network_activation"],
                *_best_cells(values, larger_is_better=False),
            ]
        )
    lines += _table(header, rows) + [""]
    lines.append(
        "Grids: nonlocal alpha "
        f"{settings['alpha_grid_nonlocal']} x gamma {settings['gamma_grid_nonlocal']}; "
        f"attention alpha {settings['alpha_grid_attention']} x temperature "
        f"{settings['temperature_grid_attention']} (tau = gamma, or the median "
        f"rule); exact NTK alpha {settings['alpha_grid_ntk']}; "
        f"RBF alpha {settings['alpha_grid_rbf']} x gamma {settings['gamma_grid_rbf']}. "
        "The chosen parameters are in results.json."
    )
    return lines + [""]


def _classification_section(results):
    entry = results["classification"]["digits"]
    settings = results["settings"]
    lines = ["## Classification: digits test accuracy", ""]
    lines.append(
        f"A stratified subset of {entry['n_train'] + entry['n_test']} digits "
        f"({entry['n_train']} train, {entry['n_test']} test), pixels scaled to "
        f"[0, 1]. NNTKClassifier uses an MLP with "
        f"{settings['model_hidden_width']} ReLU units; the reference is an RBF "
        f"SVC with C in {settings['c_grid_svc']}. "
        "Tuned like the regression models."
    )
    lines.append("")
    header = ["data set", *[title for _, title in CLASSIFICATION_MODELS]]
    values = [entry["models"][key]["test_accuracy"] for key, _ in CLASSIFICATION_MODELS]
    rows = [["digits", *_best_cells(values, larger_is_better=True)]]
    return lines + _table(header, rows) + [""]


def _footer(results):
    lines = ["## Warnings", ""]
    if results["warnings"]:
        for item in results["warnings"]:
            lines.append(f"- {item['category']} ({item['count']}x): {item['message']}")
    else:
        lines.append("No warnings were raised.")
    lines += ["", "## Timings", ""]
    rows = [
        [section, f"{seconds:.1f}"]
        for section, seconds in results["timings"]["sections"].items()
    ]
    rows.append(["total", f"{results['timings']['total']:.1f}"])
    lines += _table(["step", "seconds"], rows)
    versions = results["versions"]
    packages = ", ".join(
        f"{name} {version}"
        for name, version in versions.items()
        if name not in ("platform", "cpu_count", "torch_threads") and version
    )
    lines += [
        "",
        f"Wall time on {versions['cpu_count']} CPUs with {versions['torch_threads']} "
        f"torch threads ({versions['platform']}). Versions: {packages}.",
        "",
    ]
    return lines


def write_report(results, path):
    """Write the Markdown report of ``results`` to ``path``."""
    settings = results["settings"]
    kind = "quick run (small sizes)" if settings["quick"] else "full run"
    lines = [
        "# sknntk reproduction report",
        "",
        f'Figures and tables of the appendix of "Nonlocal Neural Tangent Kernels '
        f'via Parameter-Space Interactions" (Nagaraj and Hari, 2025), recomputed '
        f"by `sknntk reproduce`: {kind}, seed {settings['seed']}, "
        f"n_jobs {settings['n_jobs']}. Every network is an MLP with one hidden "
        f"layer in float64 with the standard parameterization. The Monte Carlo "
        f"kernels use antithetic Gaussian perturbations (uniform where stated) "
        f"with gamma = {settings['gamma']} unless stated, scaled by c = d (the "
        f"number of parameters). All numbers are in results.json.",
        "",
    ]
    lines += _heatmap_section(results)
    lines += _spectrum_section(results)
    lines += _alignment_section(results)
    lines += _alignment_training_section(results)
    lines += _regression_section(results)
    lines += _classification_section(results)
    lines += _footer(results)
    path.write_text("\n".join(lines), encoding="utf-8")
