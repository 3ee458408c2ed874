"""Indexes for the front desk's as-you-type patient search on PostgreSQL.

Django compiles `last_name__istartswith="riv"` to `UPPER("last_name"::text) LIKE UPPER('riv%')`.
These expression indexes match that expression exactly, and text_pattern_ops lets LIKE 'x%' use a
b-tree whatever the database collation.
"""

from django.db import migrations

COLUMNS = ("last_name", "first_name", "mrn")


def create(apps, schema_editor):
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS scheduler_patient_{column}_upper_prefix "
            f'ON scheduler_patient (clinic_id, UPPER("{column}"::text) text_pattern_ops)'
        )


def drop(apps, schema_editor):
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS scheduler_patient_{column}_upper_prefix")


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0002_rule_set_presets")]
    operations = [migrations.RunPython(create, drop)]
