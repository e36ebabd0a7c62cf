"""Run every reproduction step, then write the figures, report.md and results.json."""

import collections
import logging
import os
import pathlib
import platform
import time
import warnings
from importlib import metadata

from tqdm.auto import tqdm

from sknntk.experiments._alignment import run_alignment
from sknntk.experiments._heatmaps import run_heatmaps
from sknntk.experiments._regression import (
    REGRESSION_DATASETS,
    run_classification,
    run_regression,
)
from sknntk.experiments._report import write_report, write_results
from sknntk.experiments._settings import (
    HEATMAP_ACTIVATIONS,
    SPECTRUM_ACTIVATIONS,
    make_settings,
)
from sknntk.experiments._spectrum import run_spectrum
from sknntk.experiments._training import run_alignment_training
from sknntk.plotting import _import_matplotlib

logger = logging.getLogger(__name__)

# One unit of work: the result goes to results[section][key], or to
# results[section] when key is None.
Task = collections.namedtuple("Task", ["section", "key", "run"])

_VERSIONED_PACKAGES = (
    "sknntk",
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "matplotlib",
    "joblib",
    "tqdm",
)


def _tasks(settings, out_dir):
    tasks = [
        Task("heatmaps", name, lambda n=name: run_heatmaps(n, settings, out_dir))
        for name in HEATMAP_ACTIVATIONS
    ]
    tasks += [
        Task("spectrum", name, lambda n=name: run_spectrum(n, settings, out_dir))
        for name in SPECTRUM_ACTIVATIONS
    ]
    tasks.append(Task("alignment", None, lambda: run_alignment(settings, out_dir)))
    tasks.append(
        Task(
            "alignment_training",
            None,
            lambda: run_alignment_training(settings, out_dir),
        )
    )
    tasks += [
        Task("regression", name, lambda n=name: run_regression(n, settings))
        for name in REGRESSION_DATASETS
    ]
    tasks.append(Task("classification", "digits", lambda: run_classification(settings)))
    return tasks


def package_versions():
    """Return the versions of Python, the platform and the packages used."""
    versions = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None

    import torch

    versions["torch_threads"] = torch.get_num_threads()
    return versions


def _record_warnings(caught, counts):
    for item in caught:
        counts[(item.category.__name__, str(item.message))] += 1


def reproduce(out, *, quick=False, seed=0, n_jobs=1, verbose=1):
    """Reproduce the appendix figures and the benchmark tables into ``out``.

    Writes one PNG per figure, ``report.md`` with the tables and the embedded
    figures, and ``results.json`` with every number, the settings, the timings
    and the package versions.

    Parameters
    ----------
    out : str or os.PathLike
        Output directory, created with its parents if missing.
    quick : bool, default=False
        Whether to run the same steps at small sizes.
    seed : int, default=0
        Seed of the networks, the data splits and the perturbations.
    n_jobs : int, default=1
        joblib workers for the Monte Carlo kernels.
    verbose : int, default=1
        0 prints nothing, and 1 or more shows a progress bar over the steps.
        The time of each step and the warnings raised are logged at the INFO
        level of the ``sknntk.experiments`` loggers whatever the value.

    Returns
    -------
    dict
        The results written to ``results.json``.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    NotADirectoryError
        If ``out`` exists and is not a directory.
    """
    _import_matplotlib()
    out_dir = pathlib.Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(
            f"The output path {str(out_dir)!r} exists and is not a directory. "
            "Pass a new or existing directory."
        )
    out_dir.mkdir(parents=True, exist_ok=True)

    settings = make_settings(quick=quick, seed=seed, n_jobs=n_jobs)
    results = {
        "settings": settings.as_dict(),
        "versions": package_versions(),
        "timings": {"sections": {}, "tasks": {}},
        "figures": [],
        "warnings": [],
    }
    warning_counts = collections.Counter()
    start = time.perf_counter()

    tasks = _tasks(settings, out_dir)
    with tqdm(tasks, desc="reproduce", unit="step", disable=verbose < 1) as bar:
        for task in bar:
            label = task.section if task.key is None else f"{task.section}/{task.key}"
            bar.set_postfix_str(label)
            tic = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result, figures = task.run()
            seconds = time.perf_counter() - tic
            _record_warnings(caught, warning_counts)

            if task.key is None:
                results[task.section] = result
            else:
                results.setdefault(task.section, {})[task.key] = result
            results["figures"].extend(figures)
            results["timings"]["tasks"][label] = seconds
            sections = results["timings"]["sections"]
            sections[task.section] = sections.get(task.section, 0.0) + seconds
            logger.info("%s finished in %.1f s", label, seconds)

    for (category, message), count in warning_counts.items():
        results["warnings"].append(
            {"category": category, "message": message, "count": count}
        )
        logger.info("%s raised %d times: %s", category, count, message)
    results["timings"]["total"] = time.perf_counter() - start
    write_results(results, out_dir / "results.json")
    write_report(results, out_dir / "report.md")
    return results
