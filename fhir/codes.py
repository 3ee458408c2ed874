"""Code systems and identifier systems the FHIR interface uses.

HL7's own systems for what HL7 defines; Dosewise's own values (services, medications, MRNs) under
`urn:dosewise:`, so a receiving system can tell them from anyone else's. Medications carry Dosewise's code and
their clinic words, not RxNorm: a wrong clinical code is worse than none.
"""

from __future__ import annotations

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MED_ADMIN_CATEGORY = "http://terminology.hl7.org/CodeSystem/medication-admin-category"
BCP47 = "urn:ietf:bcp:47"
UCUM = "http://unitsofmeasure.org"

SERVICE = "urn:dosewise:service"
MEDICATION = "urn:dosewise:medication"
MRN_PREFIX = "urn:dosewise:clinic:"
MRN_SUFFIX = ":mrn"


def mrn_system(clinic_id: int) -> str:
    """Each clinic issues its own MRNs (unique per clinic): one identifier system per clinic."""
    return f"{MRN_PREFIX}{clinic_id}{MRN_SUFFIX}"


def clinic_of_mrn_system(system: str) -> int | None:
    """The clinic id of an MRN system, or None for a system that is not one of ours."""
    if not (system.startswith(MRN_PREFIX) and system.endswith(MRN_SUFFIX)):
        return None
    middle = system[len(MRN_PREFIX) : -len(MRN_SUFFIX)]
    return int(middle) if middle.isascii() and middle.isdigit() and len(middle) < 19 else None
