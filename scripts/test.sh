#!/usr/bin/env bash
# Run the whole test suite: lint (ruff), imports (import-linter), types (mypy) and tests (pytest). Every stage runs, and the
# command fails if any stage failed. Extra arguments go to pytest.
# With DATABASE_URL/REDIS_URL set (CI) it runs on PostgreSQL and Redis; without them the tests that need
# PostgreSQL or Redis are skipped locally (never in CI, where a missing service fails the run).
set -uo pipefail
source "$(dirname "$0")/venv.sh"
failed=()
echo "== ruff"
ruff check . || failed+=(ruff)
echo "== import-linter"
# Imports only go down (the contracts in pyproject.toml): a broken contract fails the run.
lint-imports || failed+=(import-linter)
echo "== mypy"
mypy config api jobs scheduler visits notifications web fhir || failed+=(mypy)
echo "== pytest"
python -m pytest "$@" || failed+=(pytest)
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed[*]}"
  exit 1
fi
