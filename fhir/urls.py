"""/fhir/R4/ — everything under it answers FHIR JSON; an unknown path is a 404 OperationOutcome."""

from django.urls import path, re_path

from fhir import export, views

# FHIR ids: [A-Za-z0-9\-\.]{1,64}; anything else falls through to the 404 OperationOutcome.
TYPE = "(?P<resource_type>[A-Z][A-Za-z]{1,40})"
ID = r"(?P<pk>[A-Za-z0-9\-\.]{1,64})"

urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="fhir-metadata"),
    path("$export", export.ExportKickoffView.as_view(), name="fhir-export"),
    path("Patient/$export", export.PatientExportKickoffView.as_view(), name="fhir-export-patient"),
    re_path(r"^Group/(?P<group_id>[^/]{1,64})/\$export$", export.GroupExportKickoffView.as_view(),
            name="fhir-export-group"),
    path("$export-status/<uuid:job_id>", export.ExportStatusView.as_view(), name="fhir-export-status"),
    path("$export-file/<str:file_id>", export.ExportFileView.as_view(), name="fhir-export-file"),
    re_path(rf"^{TYPE}$", views.TypeView.as_view(), name="fhir-type"),
    re_path(rf"^{TYPE}/{ID}$", views.InstanceView.as_view(), name="fhir-instance"),
    re_path(r"^.*$", views.UnknownView.as_view(), name="fhir-unknown"),
]
