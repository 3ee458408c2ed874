#!/usr/bin/env bash
# Start the whole system (web, a Celery worker and beat, with demo data) on PostgreSQL and Redis: the ones
# DATABASE_URL/REDIS_URL name, or else an embedded PostgreSQL and Redis from the virtual environment
# (config/embedded.py) with their data under var/services, stopped again when this script stops.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
source "$(dirname "$0")/services.sh"
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
# Only this machine can reach the demo server unless HOST says otherwise (e.g. HOST=0.0.0.0).
HOST="${HOST:-127.0.0.1}"
VAR="${DOSEWISE_VAR_DIR:-var}"
mkdir -p "$VAR/static"

pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; embedded_services_stop; }
trap cleanup INT TERM EXIT
embedded_services_start "$VAR/services"

python manage.py migrate --noinput
python manage.py seed_demo
python manage.py setup_periodic_tasks
python manage.py generate_visits
python manage.py mark_missed_visits

celery -A config worker --loglevel=INFO --concurrency=2 --hostname="worker@%h" &
pids+=($!)
celery -A config beat --loglevel=INFO --schedule="$VAR/celerybeat-schedule" &
pids+=($!)
python manage.py runserver "$HOST:$PORT" --noreload &
pids+=($!)

sleep 3
cat <<MSG

  Dosewise is running: web, worker and beat.
  Staff pages:  http://localhost:$PORT/        (log in with a demo user above)
  Admin:        http://localhost:$PORT/admin/
  API docs:     http://localhost:$PORT/api/docs/
  Health:       http://localhost:$PORT/health/
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
