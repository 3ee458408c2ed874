"""The fault drills at CI size, against real workers, beat, redis-server and PostgreSQL.

Each drill checks after recovery that every due reminder was accepted by the fake provider exactly
once, no overdue visit was lost or marked twice, and no escalation exists twice.
"""

from __future__ import annotations

import shutil

import pytest

from bench.drills import flaky_provider, kill_worker, restart_redis, two_beats, two_dispatchers

pytestmark = pytest.mark.worker


def _assert_sent_once(sends: dict) -> None:
    assert sends["sent_twice"] == [] and sends["never_sent"] == []
    assert sends["provider_accepted"] == sends["due"] == sends["outbox_done"]


def _assert_swept_once(sweep: dict) -> None:
    assert sweep["missed"] == sweep["overdue"] == sweep["marked_by_all_sweeps"]
    assert sweep["visits_after"] == sweep["visits_before"]
    assert sweep["escalations"] == sweep["expected_escalations"] and sweep["duplicate_escalations"] == 0


def test_a_worker_killed_mid_send_loses_nothing_and_doubles_nothing(live_worker_db, require_redis):
    figures = kill_worker.main(["--size", "tiny"])
    assert figures["at_kill"].get("sending", 0) >= 1  # the kill landed inside a chunk being sent
    assert figures["at_kill"].get("queued", 0) >= 1  # other chunks' tasks were waiting in Redis
    assert figures["recovered"]
    _assert_sent_once(figures["sends"])
    assert figures["ok"]


def test_a_broker_restart_mid_dispatch_loses_nothing_and_doubles_nothing(live_worker_db, require_redis):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server must be installed to run the broker drill")
    figures = restart_redis.main(["--size", "tiny"])
    assert figures["at_broker_loss"].get("queued", 0) >= 1  # tasks were in the broker when it died
    assert figures["dispatch_while_down"]["claimed"] >= 1
    assert figures["after_failed_enqueue"].get("pending", 0) >= 1  # enqueue failed: rows went back to pending
    assert figures["recovered"]
    _assert_sent_once(figures["sends"])
    assert figures["ok"]


def test_two_beats_double_the_jobs_but_not_the_texts_misses_or_escalations(live_worker_db, require_redis):
    figures = two_beats.main(["--size", "tiny"])
    assert all(n >= 2 for n in figures["beat_sends"])
    _assert_sent_once(figures["sends"])
    _assert_swept_once(figures["sweep"])  # many sweeps ran; only those that changed something leave an audit entry


def test_two_workers_and_two_dispatchers_share_the_work_without_overlap(live_worker_db, require_redis):
    figures = two_dispatchers.main(["--size", "tiny"])
    assert figures["claimed_total"] == figures["sends"]["due"]
    _assert_sent_once(figures["sends"])
    _assert_swept_once(figures["sweep"])
    assert figures["ok"]


def test_a_flaky_provider_with_early_duplicate_and_out_of_order_callbacks_sends_once(live_worker_db):
    figures = flaky_provider.main(["--size", "tiny"])
    assert figures["provider_accepted"] == figures["due"] and figures["sent_twice"] == []
    assert figures["attempts"] == {3: figures["due"]}  # 503, timeout, accepted
    assert figures["statuses"] == {"delivered": figures["due"]}  # "sent" after "delivered" moved nothing back
    assert figures["callback_codes"] == [204]
    assert figures["bad_signature_code"] == 403 and figures["bad_signature_changed_nothing"]
