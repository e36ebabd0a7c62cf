"""Sphinx configuration of the sknntk documentation.

Build with ``bash docs/build.sh``, which treats warnings as errors. The
gallery scripts under ``examples/`` run during the build, and
``SKNNTK_EXAMPLES_QUICK=1`` makes them use small problem sizes. The build
needs no network access: intersphinx is not used, and MathJax is loaded by
the reader's browser.
"""

import os
import sys

# Import sknntk from this checkout, so that the pages describe this tree even
# where another version is installed.
sys.path.insert(0, os.path.abspath(".."))

import sknntk  # noqa: E402

project = "sknntk"
author = "The sknntk developers"
copyright = "2025, The sknntk developers"
release = sknntk.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
# benchmarks.md is included by benchmarks.rst, so it is not a page of its own.
exclude_patterns = ["_build", "benchmarks.md"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
nitpicky = False

# API reference: one page per object, generated from the docstrings into
# docs/generated/.
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Benchmark records are appended to benchmarks.md by hand, and a skipped
# heading level there should not fail the build.
suppress_warnings = ["myst.header"]

# The gallery: every examples/plot_*.py runs at build time.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "write_computation_times": False,
    "image_scrapers": ("matplotlib",),
}

html_theme = "pydata_sphinx_theme"
html_title = f"sknntk {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
