"""Issue #16: the sweep's claim reads the page it picked, not every scheduled visit (EXPLAIN, never times)."""

from __future__ import annotations

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.visits.test_query_plans import NOW, VISIT_INDEX, _explain, _visit_scans, scale  # noqa: F401 — a fixture
from visits import missed


def test_the_claims_update_finds_its_page_by_primary_key_not_by_a_scan_of_scheduled_visits(scale):  # noqa: ANN001, F811
    """As `id IN (page)` the planner hash-joined the page with a bitmap of every scheduled visit (the whole horizon
    ahead, 80,000 visits at 1M): the steady sweep's largest cost, growing with the chain. As `id = ANY(ARRAY(page))`
    the UPDATE looks up the page's ids on the primary key; the page itself stays the (status, end) read."""
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        missed._claim_overdue(NOW, missed._clinic_days(NOW))
        transaction.set_rollback(True)
    claims = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().startswith("UPDATE visits_visit")]
    assert len(claims) == 2  # the ended page and the undated claim
    for sql in claims:
        nodes = _explain(sql)
        assert not [n for n in nodes if n["Node Type"] in ("Hash Join", "Merge Join", "Nested Loop")], nodes
        scans = [s for s in _visit_scans(nodes) if s[0] != "ModifyTable"]
        assert ("Index Scan", "visits_visit_pkey") in scans, scans
        assert all(kind != "Seq Scan" for kind, _ in scans), scans
        # Only the page's own read touches another index of visits: nothing else scans status = 'scheduled'.
        assert len([s for s in scans if s != ("Index Scan", "visits_visit_pkey")]) <= 2, scans
    page = _visit_scans(_explain(claims[0].replace("LIMIT 5000", "LIMIT 10")))
    assert ("Index Scan", VISIT_INDEX["status_end"]) in page, page
