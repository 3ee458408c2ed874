#!/usr/bin/env bash
# Sourced by run.sh and test.sh after venv.sh: `embedded_services_start FOLDER` starts an embedded PostgreSQL
# and/or Redis in FOLDER for whichever of DATABASE_URL/REDIS_URL is not set (config/embedded.py) and exports
# its URL; with both set it starts nothing. `embedded_services_stop` stops what was started (data stays).
EMBEDDED_DIR=""
embedded_services_start() {
  if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
    return 0
  fi
  EMBEDDED_DIR="$1"
  local exports
  exports="$(python -m config.embedded start "$EMBEDDED_DIR")" || { echo "Could not start the embedded PostgreSQL/Redis in $EMBEDDED_DIR" >&2; return 1; }
  eval "$exports"
  echo "Embedded PostgreSQL/Redis running in $EMBEDDED_DIR" >&2
}
embedded_services_stop() {
  if [ -n "$EMBEDDED_DIR" ]; then
    python -m config.embedded stop "$EMBEDDED_DIR" || true
  fi
}
