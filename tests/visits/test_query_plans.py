"""Issue #16: the hot queries' plan shapes on a realistic table (EXPLAIN, never times).

seed_scale writes 8 clinics of 100 patients with 120 days of history and two weeks ahead (≈ 50,000 visits) and
ANALYZEs, so PostgreSQL's planner sees the same proportions as at a chain's scale (one clinic-day is well under 1%
of the table; each plan's completed visits a few hundred rows of a large table). The queries are the ones the code
runs (captured from the board, the visit list, availability and the sweep), EXPLAINed as they were sent. Nothing
sets enable_seqscan: a plan that would choose a sequential scan on visits here would choose it at 15M too.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from scheduler.management.commands.seed_scale import seed
from scheduler.models import Clinic, Plan
from scheduler.timeutil import local_date
from visits import missed
from visits.models import AttendanceMonth, Visit

NOW = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # a Wednesday, afternoon in every US zone: the day's doses are done
VISIT_INDEX = {"_".join(index.fields) if index.fields else index.name: index.name for index in Visit._meta.indexes}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(sql: str, params: Any = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    doc = raw if isinstance(raw, list) else json.loads(raw)
    return list(_nodes(doc[0]["Plan"]))


def _visit_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'visits_visit'")
        return {row[0] for row in cursor.fetchall()}


def _visit_scans(nodes: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(node type, index name) of every scan reading visits_visit or one of its indexes (bitmap index scans
    name only the index)."""
    indexes = _visit_indexes()
    return [
        (n["Node Type"], n.get("Index Name"))
        for n in nodes
        if n.get("Relation Name") == "visits_visit" or n.get("Index Name") in indexes
    ]


def _captured_visit_reads(client: Client, url: str) -> list[list[tuple[str, str | None]]]:
    """The scans on visits of every SELECT the page or endpoint ran, EXPLAINed as sent."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    reads = []
    for query in ctx.captured_queries:
        sql = query["sql"]
        if "visits_visit" in sql and sql.lstrip().upper().startswith(("SELECT", "WITH")):
            reads.append(_visit_scans(_explain(sql)))
    assert reads, f"{url} read no visits"
    return reads


def _no_seq_scan(reads: list[list[tuple[str, str | None]]]) -> None:
    for scans in reads:
        assert scans, "a query on visits_visit without a scan on it"
        assert all(kind != "Seq Scan" for kind, _ in scans), scans


@pytest.fixture
def scale(db):  # noqa: ANN001, ANN201
    with time_machine.travel(NOW, tick=False):
        seed(clinics=8, patients=800, days=120, future=14, rng=random.Random(16), now=NOW, prefix="Plan clinic")
    clinic = Clinic.objects.filter(name__startswith="Plan clinic").order_by("id").first()
    assert Visit.objects.count() > 30_000
    user = get_user_model().objects.get(username="scale_manager")
    client = Client()
    client.force_login(user)
    return clinic, client


def test_the_today_board_reads_the_days_visits_through_the_clinic_date_status_index(scale):  # noqa: ANN001
    clinic, client = scale
    with time_machine.travel(NOW, tick=False):
        reads = _captured_visit_reads(client, f"/clinics/{clinic.pk}/today/")
    _no_seq_scan(reads)
    assert ("Index Scan", VISIT_INDEX["clinic_date_status"]) in reads[0]


def test_the_visit_list_for_a_day_uses_the_clinic_date_status_index(scale):  # noqa: ANN001
    clinic, client = scale
    today = local_date(NOW, clinic.timezone)
    with time_machine.travel(NOW, tick=False):
        reads = _captured_visit_reads(client, f"/api/v1/visits/?clinic={clinic.pk}&date={today}")
    _no_seq_scan(reads)
    used = {index for scans in reads for _, index in scans}
    assert used == {VISIT_INDEX["clinic_date_status"]}  # the count and the page


def test_availability_counts_a_windows_day_through_the_window_date_index(scale):  # noqa: ANN001
    clinic, client = scale
    today = local_date(NOW, clinic.timezone)
    url = f"/api/v1/clinics/{clinic.pk}/availability/?date={today}&service=methadone"
    with time_machine.travel(NOW, tick=False):
        reads = _captured_visit_reads(client, url)
    _no_seq_scan(reads)
    assert {index for scans in reads for _, index in scans} == {VISIT_INDEX["window_date"]}


def test_the_sweeps_overdue_claim_reads_visits_along_the_status_end_index(scale):  # noqa: ANN001
    """The planner assumes status and end independent, so it estimates `status = 'scheduled' AND end <= now` at
    the scheduled share times the past share (≈ 9% of the table here, none in fact); on the 15M chain one read with
    `OR end IS NULL` became a parallel sequential scan of the table (1.9 s every sweep). The claim now picks (end, id)
    pages with a LIMIT inside its UPDATE, which the (status, end) index serves in order and stops at the last overdue
    visit; the visits without an end are their own statement (`end IS NULL`). On this small table the estimate
    (≈ 4,500 rows) is under the page's LIMIT, so the planner may also pick a bitmap over another index (seen in CI);
    where the estimate passes the LIMIT (the chain), the ordered index read is the only one that stops early."""
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        missed._claim_overdue(NOW, missed._clinic_days(NOW))
        transaction.set_rollback(True)
    claims = [q["sql"] for q in ctx.captured_queries if "visits_visit" in q["sql"]]
    assert len(claims) == 2  # the ended page (one: nothing is overdue) and the undated claim
    assert all(sql.lstrip().startswith("UPDATE visits_visit") for sql in claims)
    assert 'ORDER BY "end", id LIMIT 5000' in " ".join(claims[0].split())
    for sql in claims:
        scans = _visit_scans(_explain(sql))
        assert scans and all(kind != "Seq Scan" for kind, _ in scans), scans
        assert any(index is not None for _, index in scans), scans
    # With the estimate far past the page (as on 15M visits), the page is the (status, end) index read in order.
    nodes = _explain(claims[0].replace("LIMIT 5000", "LIMIT 10"))
    (limit,) = [n for n in nodes if n["Node Type"] == "Limit"]
    scans = _visit_scans(list(_nodes(limit)))
    assert scans[0] == ("Index Scan", VISIT_INDEX["status_end"]), scans


def test_the_sweeps_latest_completed_read_is_two_limit_1_index_descents_a_plan(scale):  # noqa: ANN001
    """Bounded by the plan count, not by their history: each plan's latest completed visit and furthest cover come
    from one index descent each (EXPLAIN ANALYZE: at most one row a loop), not from an aggregate over its history."""
    plan_ids = list(Plan.objects.order_by("id").values_list("id", flat=True))
    assert Visit.objects.filter(status="completed").count() > 20 * len(plan_ids)  # weeks of history a plan
    params = [missed._pg_ints(plan_ids), list(missed.PLAN_KINDS), list(missed.PLAN_KINDS)]
    nodes = _explain(missed._LAST_DONE_SQL, params)
    assert sorted(_visit_scans(nodes)) == [
        ("Index Scan", "visit_plan_furthest_cover"),
        ("Index Scan", "visit_plan_last_completed"),
    ]
    assert not [n for n in nodes if n["Node Type"] in ("Aggregate", "Sort")]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + missed._LAST_DONE_SQL, params)
        raw = cursor.fetchone()[0]
    analyzed = list(_nodes((raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]))
    scans = [n for n in analyzed if n.get("Relation Name") == "visits_visit"]
    assert len(scans) == 2
    assert scans[0]["Actual Loops"] == len(plan_ids)  # the latest completed visit: one descent a plan
    assert scans[1]["Actual Loops"] <= len(plan_ids)  # the furthest cover: plans with a completed visit
    for scan in scans:
        assert scan["Actual Rows"] <= 1  # per loop: one row a plan, however long its history


@pytest.fixture
def chain(db):  # noqa: ANN001, ANN201
    """As `scale`, in 32 clinics of 25 patients: a clinic's whole history is ≈ 3% of the table (1/158 on the 15M
    chain), not 1/8, where reading the clinic's year or history by a sequential scan may be cheapest."""
    with time_machine.travel(NOW, tick=False):
        seed(clinics=32, patients=800, days=120, future=14, rng=random.Random(16), now=NOW, prefix="Chain clinic")
    clinic = Clinic.objects.filter(name__startswith="Chain clinic").order_by("id").first()
    user = get_user_model().objects.get(username="scale_manager")
    client = Client()
    client.force_login(user)
    return clinic, client


def test_the_retention_episodes_read_one_clinics_completed_doses_through_a_clinic_index(chain):  # noqa: ANN001
    """Issue #17: the episodes' window-function SQL (notifications.analytics.load_episodes) reads the clinic's
    completed doses through an index led by the clinic (no sequential scan on visits). It reads the clinic's whole
    dose history, so its cost grows with that history, not with the other clinics' rows. On `chain`: where the clinic's
    history is 1/8 of the table (`scale`) the planner sometimes found a sequential scan cheaper (ANALYZE's sample)."""
    from notifications import analytics

    clinic, _ = chain
    with CaptureQueriesContext(connection) as ctx:
        episodes = analytics.load_episodes(clinic, local_date(NOW, clinic.timezone))
    assert episodes
    (sql,) = [q["sql"] for q in ctx.captured_queries if "visits_visit" in q["sql"]]
    scans = _visit_scans(_explain(sql))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'visits_visit' AND indexdef LIKE %s", ["%(clinic_id%"]
        )
        clinic_led = {row[0] for row in cursor.fetchall()}
    assert scans and all(kind != "Seq Scan" for kind, _ in scans), scans
    used = {index for _, index in scans if index is not None}  # a bitmap heap scan names no index; its index scan does
    assert used and used <= clinic_led, scans


def _covering_columns() -> set[str]:
    """The columns of the (clinic, date, status) index: its keys and the columns it includes."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.attname FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indexrelid = %s::regclass""",
            [VISIT_INDEX["clinic_date_status"]],
        )
        return {row[0] for row in cursor.fetchall()}


def _visit_columns_read(sql: str, params: Any = None) -> set[str]:
    """Every column of visits_visit the query reads (EXPLAIN VERBOSE: the scans' outputs, conditions and filters)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    nodes = list(_nodes((raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]))
    columns: set[str] = set()
    for node in nodes:
        if node.get("Relation Name") != "visits_visit":
            continue
        alias = re.escape(node["Alias"])
        for output in node.get("Output", []):  # a scan outputs plain columns (an index-only scan: the index's)
            columns |= set(re.findall(rf"^(?:{alias}\.)?(\w+)$", output))
        conditions = " ".join(node.get(key, "") for key in ("Index Cond", "Recheck Cond", "Filter"))
        columns |= set(re.findall(rf"\b{alias}\.(\w+)", conditions))
    assert columns, "no visits_visit scan"
    return columns


def _index_only_on_covering(sql: str, params: Any = None) -> None:
    """The visits read is one scan of the covering index, which holds every column the query reads: on a table whose
    pages are all-visible (vacuumed history, as a clinic's past year is), an index-only scan with no heap fetch."""
    scans = _visit_scans(_explain(sql, params))
    assert scans and all(kind != "Seq Scan" for kind, _ in scans), scans
    # (a bitmap heap scan names no index; its bitmap index scan does)
    assert {index for _, index in scans if index is not None} == {VISIT_INDEX["clinic_date_status"]}, scans
    assert _visit_columns_read(sql, params) <= _covering_columns()


def test_the_attendance_reports_read_the_clinics_year_from_the_covering_index(chain):  # noqa: ANN001
    """Issue #16: the API's report (totals, by patient, by day) over 365 days, and the dashboard's by-week and
    by-medication figures, read the clinic's range from the covering (clinic, date, status) index alone: no sequential
    scan, no other visit index, and no column outside the index (at 1M visits the year was a parallel bitmap heap
    scan, at 15M one plain index scan fetching every visit's heap row). The first report caches the closed months
    (one INSERT … SELECT over their run, visits.reports `_fill_months`) and reads the open edges; the next reads only
    the edges from the visits."""
    from web import selectors

    clinic, client = chain
    today = local_date(NOW, clinic.timezone)
    since = today - timedelta(days=364)
    url = f"/api/v1/reports/attendance/?clinic={clinic.pk}&date_from={since}&date_to={today}"
    with CaptureQueriesContext(connection) as ctx, time_machine.travel(NOW, tick=False):
        cold = client.get(url)
        assert cold.status_code == 200
        cached = client.get(url)
        assert cached.json() == cold.json()
        span = {"clinic": clinic, "date_from": since, "date_to": today}
        selectors.attendance_by_week(**span)
        selectors.attendance_by_medication(**span)
    reads = [q["sql"] for q in ctx.captured_queries if "visits_visit" in q["sql"]]
    assert [sql.lstrip().split()[0] for sql in reads] == ["INSERT", "SELECT", "SELECT", "SELECT", "SELECT"]
    assert AttendanceMonth.objects.filter(clinic_id=clinic.pk, patient_id=None, day=None).count() == 11
    for sql in reads:
        _index_only_on_covering(sql)


def test_the_retention_episodes_read_the_clinic_index_only_and_hash_one_clinics_plans(chain):  # noqa: ANN001
    """Issue #16: the episodes read the clinic's completed doses from the covering index alone, and the plans they
    join are the clinic's patients' (the hash holds one clinic's plans, not the chain's: 79,000 at 15M visits); the
    look-up by id for a plan of a patient who moved away never runs here (EXPLAIN ANALYZE)."""
    from notifications import analytics

    clinic, _ = chain
    with CaptureQueriesContext(connection) as ctx:
        assert analytics.load_episodes(clinic, local_date(NOW, clinic.timezone))
    (query,) = [q for q in ctx.captured_queries if "visits_visit" in q["sql"]]
    _index_only_on_covering(query["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
        raw = cursor.fetchone()[0]
    analyzed = list(_nodes((raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]))
    clinic_plans = Plan.objects.filter(patient__clinic=clinic).count()
    assert 0 < clinic_plans < Plan.objects.count()
    plan_scans = [n for n in analyzed if n.get("Relation Name") == "scheduler_plan"]
    assert plan_scans
    for scan in plan_scans:
        if scan.get("Index Cond", "").startswith("(id = "):  # the moved patient's plan, by id
            assert scan["Actual Loops"] == 0, scan
    hashed = [  # the hashes of plans (not the hash of visits joined to them)
        n for n in analyzed if n["Node Type"] == "Hash"
        and {c.get("Relation Name") for c in _nodes(n)} & {"scheduler_plan", "visits_visit"} == {"scheduler_plan"}
    ]
    assert hashed and all(n["Actual Rows"] <= clinic_plans for n in hashed), hashed
