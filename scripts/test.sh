#!/usr/bin/env bash
# Run the whole test suite: lint (ruff), imports (import-linter), types (mypy) and tests (pytest). Every stage runs, and the
# command fails if any stage failed. Extra arguments go to pytest.
# It always runs on PostgreSQL and Redis, and no test is skipped for want of them: with DATABASE_URL/REDIS_URL
# set (CI) it uses those; without them it starts an embedded PostgreSQL and Redis (config/embedded.py) in a
# temporary folder and stops and deletes them at the end, also on failure or Ctrl-C.
set -uo pipefail
source "$(dirname "$0")/venv.sh"
source "$(dirname "$0")/services.sh"
services_tmp=""
# Keeps the run's exit status: the cleanup's own last test must not become it (with the URLs set, as in CI, there
# is no folder to delete, and a bare `[ -n "" ] && rm` would turn a green run into exit 1).
finish() {
  local rc=$?
  trap - EXIT INT TERM
  embedded_services_stop
  if [ -n "$services_tmp" ]; then rm -rf "$services_tmp"; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  services_tmp=$(mktemp -d "${TMPDIR:-/tmp}/dosewise-test.XXXXXX")
  embedded_services_start "$services_tmp/services" || exit 1
fi
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
