"""Shell on top: Celery tasks and management commands that orchestrate across apps (the ledger's sweeps
handing over to notifications, holiday imports through replanning, the demo data). Task names stay the
strings beat knows ("visits.tasks.generate_visits", ...)."""
