"""Run celery or gunicorn on the same shifted clock as the test (or bench) process that started it.

Tests freeze or shift "now" with time-machine (`pytest --today=YYYY-MM-DD` shifts a whole run). A worker,
beat or web subprocess they start must see the same clock, or a visit the test made for "today" is in the
past or the future for the worker. The parent passes its offset from the real clock in
DOSEWISE_CLOCK_OFFSET (seconds, see `offset_env`); this wrapper travels by that offset with the clock
ticking, then runs the program in-process (prefork children inherit the shifted clock).

    python -m bench._clock celery -A config worker ...
    python -m bench._clock gunicorn config.wsgi ...

Scripts started by drills (bench/drills/dispatcher.py) call `travel_from_env` through `bench._common.setup_django`.

Bench, drill and test code only: the production entry points never import this module.
"""

from __future__ import annotations

import os
import sys
import time

OFFSET_ENV = "DOSEWISE_CLOCK_OFFSET"


def offset_env() -> dict[str, str]:
    """{OFFSET_ENV: seconds} when this process runs on a time-machine clock, else {}."""
    try:
        import time_machine
    except ImportError:  # a production image without the test dependencies: the real clock
        return {}
    if not time_machine.escape_hatch.is_travelling():
        return {}
    return {OFFSET_ENV: repr(time.time() - time_machine.escape_hatch.time.time())}


def travel_from_env() -> None:
    """Travel by DOSEWISE_CLOCK_OFFSET seconds (ticking) if it is set and this process is not travelling yet."""
    offset = float(os.environ.get(OFFSET_ENV) or 0)
    if offset:
        import time_machine

        if time_machine.escape_hatch.is_travelling():
            return
        time_machine.travel(time.time() + offset, tick=True).start()


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("celery", "gunicorn"):
        raise SystemExit("usage: python -m bench._clock celery|gunicorn ARGS...")
    travel_from_env()
    program, args = sys.argv[1], sys.argv[2:]
    sys.argv = [program, *args]
    if program == "celery":
        from celery.__main__ import main as run
    else:
        from gunicorn.app.wsgiapp import run
    run()


if __name__ == "__main__":
    main()
