#!/usr/bin/env bash
# Build the HTML documentation into docs/_build/html, with warnings as errors.
# The gallery scripts run in quick mode unless SKNNTK_EXAMPLES_QUICK is set;
# PYTHON selects the interpreter (default: python on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

export SKNNTK_EXAMPLES_QUICK="${SKNNTK_EXAMPLES_QUICK:-1}"
export MPLBACKEND=Agg
"${PYTHON:-python}" -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
