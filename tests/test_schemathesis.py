"""Schemathesis over the whole API, once per role: never a 5xx, and every answer is what the schema says.

A bounded, in-process copy of `schemathesis run --checks all` with its phases (the audit in issue #10 ran the
CLI for each role). The app is loaded over WSGI with a token per role, in a clinic with data; per operation:
- coverage: an evenly spaced, deterministic sample of schemathesis's coverage cases (boundary values,
  missing and extra fields, wrong types), valid and invalid;
- fuzzing: hypothesis, valid and invalid data, derandomized;
- stateful (admin): the state machine of the links schemathesis infers (create, then read/change what was created);
- examples: the schema declares none, so this phase has nothing to run.
Path ids (integers in the schema) are replaced by real ones (/visits/{id}/ → a visit of the clinic), so the cases
reach the handlers instead of stopping at 404; invalid ids (negative mode) stay, to test the 404s.

Every check runs, and nothing is an expected failure. One check is held to the schema's own words instead of
taken as is: positive_data_acceptance (ST202) wants every schema-valid request accepted, but some rules cannot be
written in JSON Schema: one field against another (a window's end after its start, a report's date_to on or after
date_from), against stored data (a duplicate MRN, a booking on a date the plan is not active, wrong credentials on
the token endpoint) or against today.
API.md answers those 400 naming the field. Each operation lists its rules in its description, and the schema's
`x-rules` names the fields they concern (config.schema.rules). So a 400 to a schema-valid request passes only when
every field its body names is one of that operation's `x-rules`. Any other 400 still fails, and so does a 400
naming an undeclared field or coming from an operation that declares none. (Excluding the check for those operations
would also pass 400s that are plain schema mistakes; schemathesis's `expected-statuses` would pass any 400.)
Conflicts with stored state that are not input mistakes answer 409, which the check accepts.

Budget: about 1,300 requests, 35-45 s on this 2-core machine; `ROLES` sets it, and DOSEWISE_SCHEMATHESIS_SCALE=N
multiplies it for a deeper local run (N=4 takes about three minutes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.schema import RULES
from config.throttling import AnonRateThrottle, UserRateThrottle
from scheduler.timeutil import local_date, local_instant
from tests.conftest import ROLES as ALL_ROLES
from tests.factories import PatientFactory, PlanFactory, make_staff
from visits.models import Visit

pytestmark = [pytest.mark.django_db]

HYPOTHESIS = {"deadline": None, "derandomize": True, "database": None, "suppress_health_check": list(HealthCheck)}
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass(frozen=True)
class Budget:
    coverage: int  # coverage cases per operation (an evenly spaced sample)
    fuzz: int  # hypothesis examples per operation and generation mode
    stateful: int = 0  # state-machine scenarios


# The admin may do everything, so its run reaches every handler; the other roles mostly prove the role table
# (403s that match the schema) and the reads they share.
SCALE = int(os.environ.get("DOSEWISE_SCHEMATHESIS_SCALE", "1"))
ROLES = {role: Budget(coverage=3 * SCALE, fuzz=SCALE) for role in ALL_ROLES} | {
    "admin": Budget(coverage=10 * SCALE, fuzz=3 * SCALE, stateful=8 * SCALE)
}


@pytest.fixture
def ids(clinic) -> dict[str, int]:
    """Real ids per resource, plus patients with plans and visits around today."""
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
    visit = Visit.objects.filter(clinic=clinic).order_by("id").first()
    assert visit is not None and visit.plan is not None
    return {
        "clinics": clinic.pk, "patients": visit.patient_id, "plans": visit.plan_id, "visits": visit.pk,
        "windows": window.pk,
    }


@pytest.fixture
def tokens(clinic) -> dict[str, str]:
    return {
        role: Token.objects.create(user=make_staff(role, [clinic], username=f"schemathesis_{role}")).key
        for role in ROLES
    }


@pytest.fixture
def unthrottled(monkeypatch) -> None:
    """The run sends far more than a person would; 429 stays in the schema, tested in tests/api."""
    for throttle in (UserRateThrottle, AnonRateThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", {"user": None, "anon": None})


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """The WSGI handler closes connections after each request; Django's test client switches that off too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(tokens, keep_test_connection, unthrottled):
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def _with_real_ids(case: Any, ids: dict[str, int]) -> None:
    """Replace each whole-number path id with a real one of the resource named just before it."""
    parts = case.operation.path.strip("/").split("/")
    for i, part in enumerate(parts):
        name = part.strip("{}")
        if part.startswith("{") and i > 0 and parts[i - 1] in ids and isinstance(case.path_parameters.get(name), int):
            case.path_parameters[name] = ids[parts[i - 1]]


def _declared_rules_only(case: Any, response: Any) -> bool:
    """A 400 whose body names only fields of the operation's declared rules (`x-rules`, config.schema)."""
    declared = case.operation.definition.raw.get(RULES) or {}
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body) and set(body) <= set(declared)


def positive_data_acceptance_within_declared_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance (ST202), except a 400 for a rule the operation declares beyond its schema."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 400 and _declared_rules_only(case, response):
            return None
        raise


CHECKS = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_acceptance_within_declared_rules],
}


class Run:
    """Calls and validates cases for one role, collecting failures (one per operation and failure title)."""

    def __init__(self, role: str, token: str, ids: dict[str, int]) -> None:
        self.role, self.headers, self.ids = role, {"Authorization": f"Token {token}"}, ids
        self.failures: dict[tuple[str, str], str] = {}

    def check(self, case: Any) -> None:
        _with_real_ids(case, self.ids)
        try:
            case.call_and_validate(headers=self.headers, **CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all, then fail once
            self.record(f"{case.operation.method.upper()} {case.operation.path}", exc)

    def record(self, where: str, exc: BaseException) -> None:
        """One entry per operation and failure code (ST100 ... ST401), with the first example of it."""
        failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
        for failure in failures:
            code = failure.code if isinstance(failure, Failure) else type(failure).__name__
            self.failures.setdefault((where, code), f"[{self.role}] {where}: {code} {str(exc)[:1500]}")

    def coverage(self, schema: Any, operation: Any, sample: int) -> None:
        cases = list(schema.iter_coverage_cases(
            operation, generation_modes=list(MODES), generation_config=schema.config.generation_for(operation=operation)
        ))
        step = max(1, len(cases) // sample)
        for case in cases[::step][:sample]:
            self.check(case)

    def fuzz(self, operation: Any, examples: int) -> None:
        for mode in MODES:

            @settings(max_examples=examples, **HYPOTHESIS)
            @given(case=operation.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                self.check(case)

            try:
                one()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - generation itself failed
                self.record(f"{operation.method.upper()} {operation.path}", exc)

    def stateful(self, schema: Any, scenarios: int) -> None:
        headers = self.headers

        class Machine(schema.as_state_machine()):  # type: ignore[misc]
            def get_call_kwargs(self, case: Any) -> dict[str, Any]:
                return {"headers": headers}

            def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
                # As call_and_validate does: the checks must know which header is the credential
                # (ignored_auth replays the request without it).
                case.validate_response(response, headers=headers, transport_kwargs=kwargs,
                                       recorder=getattr(self, "recorder", None), **CHECKS)

        try:
            Machine.run(settings=settings(max_examples=scenarios, stateful_step_count=6, **HYPOTHESIS))
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001
            self.record("stateful", exc)


@pytest.mark.parametrize("role", list(ROLES))
def test_the_api_never_fails_and_answers_as_its_schema_says_for_each_role(api_schema, tokens, ids, role):
    budget = ROLES[role]
    run = Run(role, tokens[role], ids)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40, "the schema lost operations"

    for operation in operations:
        run.coverage(api_schema, operation, budget.coverage)
        run.fuzz(operation, budget.fuzz)
    if budget.stateful:
        run.stateful(api_schema, budget.stateful)

    assert not run.failures, "\n\n".join(run.failures.values())
