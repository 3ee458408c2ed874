"""Issue #16: the (clinic, date, status) index becomes covering — INCLUDE (patient, plan, kind, covered_through, id),
what the attendance reports and retention's episodes read — so they read a clinic's range index-only.

Built CONCURRENTLY (no lock on visits while it builds), then the plain index of the same keys is dropped
CONCURRENTLY; atomic = False as PostgreSQL requires. Between the two steps both indexes serve the same queries.
Should a concurrent build fail it leaves an INVALID index named visit_clinic_date_covering: drop it and migrate again.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("visits", "0013_visit_fk_indexes_covered"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="visit",
            index=models.Index(
                fields=["clinic", "date", "status"],
                include=["patient", "plan", "kind", "covered_through", "id"],
                name="visit_clinic_date_covering",
            ),
        ),
        RemoveIndexConcurrently(
            model_name="visit",
            name="visits_visi_clinic__c4cda6_idx",
        ),
    ]
