#!/usr/bin/env bash
# The quality gate: lint, format, types, then the test suite. `.ci/run` runs this after setup.
#   bash scripts/check.sh            # everything
#   bash scripts/check.sh -k onnx    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m ruff check .
$PY -m ruff format --check .
$PY -m mypy incept_dsl
$PY -m pytest -q "$@"
