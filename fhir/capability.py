"""The CapabilityStatement at /fhir/R4/metadata: what a client that knows nothing of Dosewise can do."""

from __future__ import annotations

from typing import Any

BULK_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
# Each type: its interactions, search parameters (name, type) and _include values.
_SEARCH: dict[str, list[tuple[str, str]]] = {
    "Patient": [("_id", "token"), ("identifier", "token"), ("name", "string"), ("family", "string"),
                ("given", "string"), ("birthdate", "date")],
    "Appointment": [("_id", "token"), ("patient", "reference"), ("actor", "reference"), ("date", "date"),
                    ("status", "token"), ("service-type", "token"), ("based-on", "reference")],
    "CarePlan": [("_id", "token"), ("patient", "reference"), ("subject", "reference"), ("status", "token")],
    "MedicationAdministration": [("_id", "token"), ("patient", "reference"), ("subject", "reference"),
                                 ("effective-time", "date")],
    "MedicationDispense": [("_id", "token"), ("patient", "reference"), ("subject", "reference"),
                           ("whenhandedover", "date")],
    "Location": [("_id", "token"), ("name", "string")],
    "Schedule": [("_id", "token"), ("actor", "reference"), ("service-type", "token")],
    "Slot": [("schedule", "reference"), ("start", "date"), ("status", "token"), ("service-type", "token")],
}
_DOCS: dict[str, str] = {
    "Patient": "Identifier: the MRN under urn:dosewise:clinic:<clinic id>:mrn. telecom only for front desk, nurses, "
    "clinicians and admins.",
    "Appointment": "One per visit. Create books through Dosewise's services (capacity and the dosing guard); "
    "PATCH/PUT changes status to checked-in, cancelled (with cancelationReason) or noshow (once the visit's "
    "window has ended; the missed-visit sweep then applies the missed-dose ladder).",
    "CarePlan": "One per plan: the attendance pattern as activity.detail.scheduledTiming.",
    "MedicationAdministration": "One per completed dose or injection visit (no amounts recorded yet).",
    "MedicationDispense": "One per take-home batch (a completed visit that handed out take-home doses).",
    "Location": "One per clinic.",
    "Schedule": "One per clinic and service its dosing windows offer (<clinic id>-<service>).",
    "Slot": "One per window, date and service (<window id>-<YYYY-MM-DD>-<service>); free/busy from capacity, "
    "busy-unavailable on closures. Search needs schedule; start covers at most 31 days (default: a week).",
}


def _resource(resource_type: str) -> dict[str, Any]:
    interactions = [{"code": "read"}, {"code": "search-type"}]
    if resource_type == "Appointment":
        interactions += [{"code": "create"}, {"code": "update"}, {"code": "patch"}]
    out: dict[str, Any] = {
        "type": resource_type,
        "documentation": _DOCS[resource_type],
        "interaction": interactions,
        "searchParam": [{"name": name, "type": kind} for name, kind in _SEARCH[resource_type]],
    }
    if resource_type == "Appointment":
        out["searchInclude"] = ["Appointment:patient"]
    if resource_type == "Patient":
        out["operation"] = [{"name": "export", "definition": BULK_EXPORT}]
    return out


def capability_statement(base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-01",
        "publisher": "Dosewise",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": {"name": "Dosewise"},
        "implementation": {"description": "Dosewise FHIR R4 interface", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Bearer token from POST /api/v1/auth/token/ (expires; see the API docs). Roles and "
                "clinic isolation as in Dosewise's API. Resources with patient data carry 42 CFR Part 2 "
                "security labels.",
                "security": {
                    "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                             "code": "OAuth", "display": "OAuth"}],
                                 "text": "Bearer token (Dosewise API token)"}],
                    "description": "Authorization: Bearer <token>",
                },
                "resource": [_resource(t) for t in _SEARCH],
                "operation": [{"name": "export", "definition": BULK_EXPORT}],
            }
        ],
    }
