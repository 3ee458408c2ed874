"""FHIR R4 REST: read and search per resource type, Appointment writes, the CapabilityStatement.

Views translate: selectors read (scoped to the user's clinics), fhir.mapping turns rows into FHIR dicts,
fhir.appointments hands writes to Dosewise's services. Every patient-record read is audited (fhir.audit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from fhir import appointments, capability, mapping, schedules, search, selectors
from fhir.audit import audit_patients, audit_read
from fhir.http import FhirError, FhirView, not_found
from scheduler.models import SERVICES
from scheduler.permissions import FRONT_DESK, has_role


def base_url(request: Request) -> str:
    return request.build_absolute_uri(reverse("fhir-metadata")).rsplit("/", 1)[0]


def _pk(raw: str, resource_type: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise not_found(resource_type, raw)
    return int(raw)


def _telecom(request: Request) -> bool:
    """Phone numbers: front desk, nurses, clinicians and admins (not managers), as in the API."""
    return has_role(request.user, FRONT_DESK)


# --- per-type search and read ---------------------------------------------------------------------------


@dataclass
class Found:
    """One search page: the rows' resources, the patients they concern, and included resources."""

    resources: list[dict[str, Any]]
    patient_ids: list[int]
    included: list[dict[str, Any]] = field(default_factory=list)


def _page(request: Request, queryset: QuerySet[Any] | list[Any], url: str) -> search.Page:
    return search.paginate(queryset, request.query_params, url)


def _where_patient(request: Request, queryset: QuerySet[Any], *names: str) -> QuerySet[Any]:
    for name in names:
        ids = search.ids_param(request.query_params, name, "Patient")
        if ids is not None:
            queryset = queryset.filter(patient_id__in=ids)
    return queryset


def _where_id(request: Request, queryset: QuerySet[Any]) -> QuerySet[Any]:
    ids = search.ids_param(request.query_params, "_id", "")
    return queryset if ids is None else queryset.filter(pk__in=ids)


def search_patients(request: Request, url: str) -> tuple[search.Page, Found]:
    params = request.query_params
    search.check_params(params, frozenset({"_id", "identifier", "name", "family", "given", "birthdate"}), "Patient")
    qs = _where_id(request, selectors.patients(request.user))
    for raw in params.getlist("identifier"):
        qs = selectors.patients_by_identifier(qs, raw)
    for raw in params.getlist("name"):
        qs = selectors.patients_by_name(qs, raw)
    for name, column in (("family", "last_name"), ("given", "first_name")):
        for raw in params.getlist(name):
            qs = qs.filter(**{f"{column}__istartswith": raw})
    bounds = search.date_bounds(params, "birthdate")
    if bounds:
        qs = qs.filter(search.date_filter(bounds, date_field="date_of_birth", instant_field="date_of_birth"))
    page = _page(request, qs, url)
    telecom = _telecom(request)
    return page, Found([mapping.patient(p, telecom=telecom) for p in page.rows], [p.pk for p in page.rows])


APPOINTMENT_STATUS_SEARCH: dict[str, list[str]] = {
    "booked": ["scheduled"], "checked-in": ["checked_in"], "arrived": ["checked_in"], "fulfilled": ["completed"],
    "noshow": ["missed"], "cancelled": ["cancelled", "excused"], "proposed": [], "pending": [],
    "waitlist": [], "entered-in-error": [],
}
INCLUDES = ("Appointment:patient", "Appointment:actor:Patient", "Appointment:participant:Patient")


def _service_filter(request: Request) -> Q | None:
    values = search.tokens(request.query_params, "service-type", {s: s for s in SERVICES})
    if values is None:
        return None
    return Q(kind__in=("dose", "injection"), plan__medication__in=values) | Q(kind__in=values)


def search_appointments(request: Request, url: str) -> tuple[search.Page, Found]:
    params = request.query_params
    allowed = frozenset({"_id", "patient", "actor", "date", "status", "service-type", "based-on", "_include"})
    search.check_params(params, allowed, "Appointment")
    includes = params.getlist("_include")
    bad = [i for i in includes if i not in INCLUDES]
    if bad:
        raise FhirError(f"_include {bad[0][:60]!r} is not supported; use Appointment:patient.", code="not-supported",
                        expression=["_include"])
    qs = _where_patient(request, _where_id(request, selectors.visits(request.user)), "patient", "actor")
    plans = search.ids_param(params, "based-on", "CarePlan")
    if plans is not None:
        qs = qs.filter(plan_id__in=plans)
    statuses = search.tokens(params, "status", APPOINTMENT_STATUS_SEARCH)
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    service = _service_filter(request)
    if service is not None:
        qs = qs.filter(service)
    qs = qs.filter(search.date_filter(search.date_bounds(params, "date"), date_field="date", instant_field="start"))
    page = _page(request, qs, url)
    patient_ids = sorted({v.patient_id for v in page.rows})
    included = []
    if includes:
        telecom = _telecom(request)
        included = [mapping.patient(p, telecom=telecom) for p in selectors.patients(request.user)
                    .filter(pk__in=patient_ids)]
    return page, Found([mapping.appointment(v) for v in page.rows], patient_ids, included)


CAREPLAN_STATUS_SEARCH: dict[str, list[str]] = {
    "active": ["active"], "on-hold": ["paused"], "completed": ["ended"], "draft": [], "revoked": [],
    "entered-in-error": [], "unknown": [],
}


def search_careplans(request: Request, url: str) -> tuple[search.Page, Found]:
    params = request.query_params
    search.check_params(params, frozenset({"_id", "patient", "subject", "status"}), "CarePlan")
    qs = _where_patient(request, _where_id(request, selectors.plans(request.user)), "patient", "subject")
    statuses = search.tokens(params, "status", CAREPLAN_STATUS_SEARCH)
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    page = _page(request, qs, url)
    return page, Found([mapping.careplan(p) for p in page.rows], sorted({p.patient_id for p in page.rows}))


def _medication_search(
    name: str, date_param: str, queryset: Callable[[Any], QuerySet[Any]], render: Callable[[Any], dict[str, Any]]
) -> Callable[[Request, str], tuple[search.Page, Found]]:
    def run(request: Request, url: str) -> tuple[search.Page, Found]:
        params = request.query_params
        search.check_params(params, frozenset({"_id", "patient", "subject", date_param}), name)
        qs = _where_patient(request, _where_id(request, queryset(request.user)), "patient", "subject")
        bounds = search.date_bounds(params, date_param)
        qs = qs.filter(search.date_filter(bounds, date_field="date", instant_field="completed_at"))
        page = _page(request, qs, url)
        return page, Found([render(v) for v in page.rows], sorted({v.patient_id for v in page.rows}))

    return run


def search_locations(request: Request, url: str) -> tuple[search.Page, Found]:
    search.check_params(request.query_params, frozenset({"_id", "name"}), "Location")
    qs = _where_id(request, selectors.clinics(request.user))
    for raw in request.query_params.getlist("name"):
        qs = qs.filter(name__icontains=raw)
    page = _page(request, qs, url)
    return page, Found([mapping.location(c) for c in page.rows], [])


def search_schedules(request: Request, url: str) -> tuple[search.Page, Found]:
    params = request.query_params
    search.check_params(params, frozenset({"_id", "actor", "service-type"}), "Schedule")
    clinics = selectors.clinics(request.user)
    actors = search.ids_param(params, "actor", "Location")
    if actors is not None:
        clinics = clinics.filter(pk__in=actors)
    wanted = search.tokens(params, "service-type", {s: s for s in SERVICES})
    ids = set(params.get("_id", "").split(",")) if "_id" in params else None
    rows = [
        mapping.schedule(clinic, service)
        for clinic in clinics
        for service in selectors.services_of(clinic)
        if (wanted is None or service in wanted)
        and (ids is None or mapping.schedule_id(clinic.pk, service) in ids)
    ]
    page = _page(request, rows, url)
    return page, Found(page.rows, [])


def search_slots(request: Request, url: str) -> tuple[search.Page, Found]:
    params = request.query_params
    search.check_params(params, frozenset({"schedule", "start", "status", "service-type"}), "Slot")
    raw = params.get("schedule")
    if not raw:
        raise FhirError("Slot search needs schedule=Schedule/<id> (see Schedule?actor=Location/<clinic id>).",
                        code="required", expression=["schedule"])
    found = schedules.schedule_parts(raw.rpartition("/")[2], request.user)
    if found is None:
        return _page(request, [], url), Found([], [])
    clinic, service = found
    wanted = search.tokens(params, "service-type", {s: s for s in SERVICES})
    days = schedules.slot_days(search.date_bounds(params, "start"), clinic)
    rows = [] if wanted is not None and service not in wanted else schedules.slot_resources(clinic, service, days)
    statuses = search.tokens(params, "status", {s: s for s in ("free", "busy", "busy-unavailable",
                                                               "busy-tentative", "entered-in-error")})
    if statuses is not None:
        rows = [r for r in rows if r["status"] in statuses]
    page = _page(request, rows, url)
    return page, Found(page.rows, [])


SEARCHES: dict[str, Callable[[Request, str], tuple[search.Page, Found]]] = {
    "Patient": search_patients,
    "Appointment": search_appointments,
    "CarePlan": search_careplans,
    "MedicationAdministration": _medication_search(
        "MedicationAdministration", "effective-time", selectors.administrations, mapping.medication_administration
    ),
    "MedicationDispense": _medication_search(
        "MedicationDispense", "whenhandedover", selectors.dispenses, mapping.medication_dispense
    ),
    "Location": search_locations,
    "Schedule": search_schedules,
    "Slot": search_slots,
}
PATIENT_DATA = frozenset({"Patient", "Appointment", "CarePlan", "MedicationAdministration", "MedicationDispense"})


def read_resource(request: Request, resource_type: str, raw_id: str) -> dict[str, Any]:
    user = request.user
    if resource_type == "Schedule":
        parts = schedules.schedule_parts(raw_id, user)
        if parts is None:
            raise not_found("Schedule", raw_id)
        return mapping.schedule(*parts)
    if resource_type == "Slot":
        slot = schedules.slot_parts(raw_id, user)
        if slot is None:
            raise not_found("Slot", raw_id)
        rows = schedules.slot_resources(slot["clinic"], slot["service"], [slot["date"]], [slot["window"]])
        if not rows:
            raise not_found("Slot", raw_id)
        return rows[0]
    pk = _pk(raw_id, resource_type)
    querysets: dict[str, tuple[QuerySet[Any], Callable[[Any], dict[str, Any]]]] = {
        "Patient": (selectors.patients(user), lambda p: mapping.patient(p, telecom=_telecom(request))),
        "Appointment": (selectors.visits(user), mapping.appointment),
        "CarePlan": (selectors.plans(user), mapping.careplan),
        "MedicationAdministration": (selectors.administrations(user), mapping.medication_administration),
        "MedicationDispense": (selectors.dispenses(user), mapping.medication_dispense),
        "Location": (selectors.clinics(user), mapping.location),
    }
    queryset, render = querysets[resource_type]
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise not_found(resource_type, raw_id)
    if resource_type in PATIENT_DATA:
        audit_read(request, row)
    return render(row)


def _known(resource_type: str) -> None:
    if resource_type not in SEARCHES:
        raise FhirError(
            f"Dosewise serves no {resource_type[:40]!r} resources; see the CapabilityStatement at metadata.",
            status_code=404, code="not-supported",
        )


# --- views ------------------------------------------------------------------------------------------------------


class MetadataView(FhirView):
    """The CapabilityStatement; public, as the spec expects (a client reads it before it has a token)."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(capability.capability_statement(base_url(request)))


class TypeView(FhirView):
    """GET <Type>?params: search; POST Appointment: book."""

    def get(self, request: Request, resource_type: str) -> Response:
        _known(resource_type)
        url = f"{base_url(request)}/{resource_type}"
        page, found = SEARCHES[resource_type](request, url)
        audit_patients(user=request.user, patient_ids=found.patient_ids, what=f"{resource_type} search")
        entries = [_entry(request, r, "match") for r in found.resources]
        entries += [_entry(request, r, "include") for r in found.included]
        return Response(mapping.bundle(
            entries=entries, total=page.total, links=page.links, labelled=resource_type in PATIENT_DATA,
            timestamp=timezone.now(),
        ))

    def post(self, request: Request, resource_type: str) -> Response:
        _known(resource_type)
        if resource_type != "Appointment":
            raise FhirError(f"{resource_type} resources are read-only here; only Appointment is created.",
                            status_code=405, code="not-supported")
        self.require(FRONT_DESK, "book appointments")
        visit = appointments.book(request.data, request.user)
        visit = selectors.visits(request.user).get(pk=visit.pk)
        location = f"{base_url(request)}/Appointment/{visit.pk}"
        return Response(mapping.appointment(visit), status=201, headers={"Location": location})


class InstanceView(FhirView):
    """GET <Type>/<id>: read; PUT/PATCH Appointment/<id>: change its status."""

    def get(self, request: Request, resource_type: str, pk: str) -> Response:
        _known(resource_type)
        return Response(read_resource(request, resource_type, pk))

    def patch(self, request: Request, resource_type: str, pk: str) -> Response:
        visit = self._appointment(resource_type, pk)
        return self._change(visit, appointments.parse_patch(request.data))

    def put(self, request: Request, resource_type: str, pk: str) -> Response:
        visit = self._appointment(resource_type, pk)
        return self._change(visit, appointments.parse_put(request.data, visit))

    def _appointment(self, resource_type: str, pk: str) -> Any:
        _known(resource_type)
        if resource_type != "Appointment":
            raise FhirError(f"{resource_type} resources are read-only here.", status_code=405, code="not-supported")
        self.require(FRONT_DESK, "change appointments")
        visit = selectors.visits(self.request.user).filter(pk=_pk(pk, "Appointment")).first()
        if visit is None:
            raise not_found("Appointment", pk)
        return visit

    def _change(self, visit: Any, change: appointments.Change) -> Response:
        appointments.change_status(visit, change, self.request.user)
        visit = selectors.visits(self.request.user).get(pk=visit.pk)
        return Response(mapping.appointment(visit))


class UnknownView(FhirView):
    """Anything else under /fhir/R4/: a 404 OperationOutcome."""

    permission_classes = [AllowAny]

    def _unknown(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise FhirError("Not a FHIR endpoint of Dosewise; see the CapabilityStatement at /fhir/R4/metadata.",
                        status_code=404, code="not-found")

    get = post = put = patch = delete = _unknown


def _entry(request: Request, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url(request)}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }
