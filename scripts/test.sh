#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint and type-check (ruff, mypy --strict on hil_service/),
# then run the whole test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "test: ruff check"
.venv/bin/ruff check .
echo "test: mypy (strict, hil_service/)"
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
