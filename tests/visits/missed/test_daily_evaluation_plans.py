"""Issue #16: the daily evaluation's reads on a realistic table (EXPLAIN, never times; as test_query_plans)."""

from __future__ import annotations

from tests.visits.test_query_plans import NOW, VISIT_INDEX, _explain, _visit_scans, scale  # noqa: F401 — a fixture
from visits import missed


def test_the_recently_missed_read_goes_through_the_recently_missed_index(scale):  # noqa: ANN001, F811
    """A later sweep of the day reads only the visits marked missed in the last RECHECK minutes: not the table, nor
    every missed visit of the last two days (which grow with the chain)."""
    params = [NOW - 2 * missed._DAY, NOW - missed.RECHECK, list(missed.PLAN_KINDS)]
    scans = _visit_scans(_explain(missed._RECENTLY_MISSED_SQL, params))
    assert scans
    assert all(kind != "Seq Scan" for kind, _ in scans), scans
    assert {index for _, index in scans} == {VISIT_INDEX["missed_at"]}, scans


def test_the_streak_search_of_one_clinic_reads_its_visits_through_an_index(scale):  # noqa: ANN001, F811
    clinic, _ = scale
    sql = missed._STREAKS_SQL.format(clinics="AND v.clinic_id = ANY(%s::bigint[])")
    since = NOW.date() - missed.timedelta(days=missed.RECENT_DAYS)
    scans = _visit_scans(_explain(sql, [list(missed.PLAN_KINDS), since, missed._pg_ints([clinic.pk])]))
    assert scans
    assert all(kind != "Seq Scan" for kind, _ in scans), scans
