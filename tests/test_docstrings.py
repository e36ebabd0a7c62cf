"""Every public class and function documents itself with a runnable example."""

import inspect

import pytest

import sknntk
import sknntk.datasets
import sknntk.diagnostics
import sknntk.exceptions
import sknntk.models
import sknntk.plotting

MODULES = [
    sknntk,
    sknntk.datasets,
    sknntk.diagnostics,
    sknntk.exceptions,
    sknntk.models,
    sknntk.plotting,
]


def _public_objects():
    for module in MODULES:
        names = getattr(module, "__all__", None) or [
            name for name in dir(module) if not name.startswith("_")
        ]
        for name in names:
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if not getattr(value, "__module__", "").startswith("sknntk"):
                continue
            yield f"{module.__name__}.{name}", value


@pytest.mark.parametrize(
    "name, value", list(_public_objects()), ids=[n for n, _ in _public_objects()]
)
def test_public_docstring_has_doctest(name, value):
    doc = inspect.getdoc(value) or ""
    assert "Examples" in doc, f"{name} has no Examples section"
    assert ">>>" in doc, f"{name} has no doctest"
