"""Issue #16: a sweep reads every clinic's grace period, but parses a clinic's rule set only when it is new to the
worker or was edited since (cached by the rule set's id and `updated`), so a later sweep costs one read of the
clinics, not a parse per clinic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduler.models import RuleSet
from tests.factories import ClinicFactory
from visits import missed

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def _grace(clinic_id: int) -> int:
    (day,) = [d for d in missed._clinic_days(NOW) if d.clinic_id == clinic_id]
    return day.grace


def test_a_later_sweep_reads_the_clinics_once_and_parses_no_rule_set(clinic):
    other = ClinicFactory(name="Hillside Clinic", sms_name="Hillside Health", rule_set=None)
    first = {d.clinic_id: d for d in missed._clinic_days(NOW)}
    assert first[clinic.pk].grace == clinic.rule_set.to_rules().missed_grace_minutes
    assert first[clinic.pk].rules_updated == clinic.rule_set.updated
    assert first[other.pk].rules_updated is None
    with (
        CaptureQueriesContext(connection) as ctx,
        mock.patch.object(RuleSet, "to_rules", side_effect=AssertionError("parsed again")) as parse,
    ):
        again = {d.clinic_id: d for d in missed._clinic_days(NOW)}
    assert again == first
    assert not parse.called
    assert len(ctx.captured_queries) == 1
    assert "scheduler_ruleset" in ctx.captured_queries[0]["sql"]  # the stamps come with the clinics
    assert '"rules"' not in ctx.captured_queries[0]["sql"]  # not the rules themselves


def test_an_edited_rule_set_is_read_and_parsed_again(clinic):
    assert _grace(clinic.pk) == clinic.rule_set.to_rules().missed_grace_minutes != 25
    rule_set = clinic.rule_set
    with time_machine.travel(rule_set.updated + timedelta(minutes=1), tick=False):
        rule_set.rules = {**rule_set.rules, "missed_grace_minutes": 25}
        rule_set.save()
    assert _grace(clinic.pk) == 25
    (day,) = [d for d in missed._clinic_days(NOW) if d.clinic_id == clinic.pk]
    assert day.rules_updated == RuleSet.objects.get(pk=rule_set.pk).updated


def test_the_cache_is_bounded(clinic, monkeypatch):
    monkeypatch.setattr(missed, "_RULES_CACHE_SIZE", 1)
    monkeypatch.setattr(missed, "_RULES_CACHE", {("stale", NOW): None})
    assert _grace(clinic.pk) == clinic.rule_set.to_rules().missed_grace_minutes
    assert list(missed._RULES_CACHE) == [(clinic.rule_set.pk, clinic.rule_set.updated)]
