#!/usr/bin/env bash
# Run the whole test suite (lint, types, tests). With DATABASE_URL/REDIS_URL set (CI) it runs on
# PostgreSQL and Redis; without them PostgreSQL/Redis-only tests are skipped locally (never in CI).
set -euo pipefail
source "$(dirname "$0")/venv.sh"
export DOSEWISE_DEV=1
echo "== ruff"
ruff check .
echo "== mypy"
mypy config scheduler visits notifications web
echo "== pytest"
python -m pytest "$@"
