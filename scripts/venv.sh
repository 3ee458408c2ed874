#!/usr/bin/env bash
# Sourced by run.sh and test.sh: create .venv from the pinned lock, reinstalling only when the lock changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DOSEWISE_VENV:-$ROOT/.venv}"
LOCK="$ROOT/requirements-dev.lock"
PYTHON_BIN="${PYTHON:-python3.11}"
if ! command -v "$PYTHON_BIN" >/dev/null 2>&1; then
  echo "Dosewise needs Python 3.11 ($PYTHON_BIN not found; set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating virtual environment in $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
stamp="$VENV/.lock-sha256"
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing pinned dependencies from $(basename "$LOCK")"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q --no-deps -r "$LOCK"
  "$VENV/bin/python" -m pip check
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
