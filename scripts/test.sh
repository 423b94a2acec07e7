#!/usr/bin/env bash
# Set everything up and run the whole check: lint, types, tests.
# The tests start their own memcached on free ports (installed here when absent).
# Extra arguments go to pytest, e.g. scripts/test.sh -m slow for the soak runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "test: ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }
echo "test: mypy" >&2
.venv/bin/mypy
echo "test: import-linter (layers, pyproject.toml)" >&2
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
echo "test: pytest" >&2
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when nothing was collected: that is a failure of the suite, not a pass
exit $rc
