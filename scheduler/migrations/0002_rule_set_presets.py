"""Ship the rule-set presets of DOMAIN.md §3 as read-only RuleSet rows."""

from django.db import migrations


def add_presets(apps, schema_editor):
    from scheduler.rules import PRESETS

    RuleSet = apps.get_model("scheduler", "RuleSet")
    for name, rules in PRESETS.items():
        RuleSet.objects.update_or_create(name=name, is_preset=True, defaults={"rules": rules})


def remove_presets(apps, schema_editor):
    apps.get_model("scheduler", "RuleSet").objects.filter(is_preset=True).delete()


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0001_initial")]
    operations = [migrations.RunPython(add_presets, remove_presets)]
