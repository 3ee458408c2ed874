"""Property-based run over the whole authenticated API: never a 5xx, responses match the schema.

Loaded from the app itself (WSGI, in-process), as an admin with a token in a clinic with data.
CI-sized: few examples per operation, derandomized, no deadline. Runs on PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from scheduler.timeutil import local_date, local_instant
from tests.factories import PatientFactory, PlanFactory, make_staff
from visits.models import Visit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def ids(admin_token, clinic) -> dict[str, int]:
    """Real ids per resource, so half of each run reaches past the 404 into the handlers."""
    visit = Visit.objects.filter(clinic=clinic).order_by("id").first()
    assert visit is not None and visit.plan is not None
    return {
        "clinics": clinic.pk, "patients": visit.patient_id, "plans": visit.plan_id, "visits": visit.pk,
        "windows": clinic.windows.order_by("id").first().pk,
    }


def _with_real_ids(case, ids: dict[str, int]) -> None:
    """Replace each path id with a real one of the resource named just before it (/visits/{id}/...)."""
    parts = case.operation.path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part.startswith("{") and i > 0 and parts[i - 1] in ids:
            case.path_parameters[part.strip("{}")] = ids[parts[i - 1]]


@pytest.fixture
def admin_token(require_postgres, clinic) -> str:
    admin = make_staff("admin", [clinic], username="schemathesis_admin")
    today = local_date(timezone.now(), clinic.timezone)
    window = clinic.windows.order_by("id").first()
    for i in range(3):
        patient = PatientFactory(clinic=clinic)
        plan = PlanFactory(patient=patient, start_date=today - timedelta(days=20))
        day = today + timedelta(days=i)
        Visit.objects.create(
            patient=patient, clinic=clinic, plan=plan, kind="dose", date=day, window=window, source="plan",
            planned_date=day, start=local_instant(day, window.start, clinic.timezone),
            end=local_instant(day, window.end, clinic.timezone),
        )
    return Token.objects.create(user=admin).key


@pytest.fixture
def keep_test_connection():
    """The WSGI handler closes connections after each request; Django's test client switches that off too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(admin_token, keep_test_connection):
    headers = {"Authorization": f"Token {admin_token}"}
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), headers=headers)


def _fuzz(operation, headers, ids):
    """One hypothesis run over `operation`; with `ids`, path ids are real ones (else generated, mostly 404)."""

    @settings(
        max_examples=10, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy())
    def run(case):
        if ids:
            _with_real_ids(case, ids)
        case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

    return run


# schemathesis.pytest.from_fixture() reads `node._nodeid`, which pytest 9 no longer has; so the
# operations are walked here, each with its own hypothesis run, and every failure is reported together.
def test_the_api_never_fails_and_matches_its_schema(api_schema, admin_token, ids):
    headers = {"Authorization": f"Token {admin_token}"}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8, "the schema lost the visit endpoints"
    for operation in operations:
        for real_ids in (ids, None):
            try:
                _fuzz(operation, headers, real_ids)()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, then fail once
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
