"""Issue #16: the rolling generation's fingerprint of each plan's inputs and rows, so that the hourly run skips
plans nothing has changed for (visits.generation)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0008_brixadi_monthly_medication"),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="generated_fingerprint",
            field=models.CharField(blank=True, default="", editable=False, max_length=32),
        ),
    ]
