"""Issue #16: a partial index on `missed_at` for the missed visits of a plan, read by every sweep
(visits.missed `_RECENTLY_MISSED_SQL`): the steady sweep read two days of the chain's missed visits (a heap fetch
each, 4,175 at 15M) to find the few marked in the last RECHECK minutes.

Built CONCURRENTLY (no lock on visits while it builds); atomic = False as PostgreSQL requires. Should the build fail
it leaves an INVALID index named visit_recently_missed: drop it and migrate again.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("visits", "0014_visit_clinic_date_covering"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="visit",
            index=models.Index(
                fields=["missed_at"],
                condition=models.Q(("plan__isnull", False), ("status", "missed")),
                name="visit_recently_missed",
            ),
        ),
    ]
