"""Locust users for bench/api_load.py. Configuration comes from the JSON file named in BENCH_LOCUST_CONFIG.

Every user runs the same mix in a closed loop (no think time); the baseline endpoint is one of the
tasks, so it is measured under exactly the same load as the others.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from locust import HttpUser, between, task

_CONFIG_PATH = os.environ.get("BENCH_LOCUST_CONFIG")
CONFIG = json.loads(Path(_CONFIG_PATH).read_text()) if _CONFIG_PATH else {}
_bookings = itertools.count()


class Staff(HttpUser):
    wait_time = between(0, 0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Token {CONFIG['token']}"
        self.client.cookies.set("sessionid", CONFIG["session"])
        self.clinic = CONFIG["clinic"]
        self.today = CONFIG["today"]

    @task(3)
    def baseline_clinic_detail(self) -> None:
        self.client.get(f"/api/v1/clinics/{self.clinic}/", name="baseline: GET /api/v1/clinics/<id>/")

    @task(3)
    def today_board(self) -> None:
        # The web page authenticates by session; the token header is ignored there.
        self.client.get(f"/clinics/{self.clinic}/today/", name="GET /clinics/<id>/today/")

    @task(3)
    def visit_list(self) -> None:
        self.client.get(f"/api/v1/visits/?clinic={self.clinic}&date={self.today}", name="GET /api/v1/visits/")

    @task(3)
    def availability(self) -> None:
        self.client.get(
            f"/api/v1/clinics/{self.clinic}/availability/?date={self.today}&service=methadone",
            name="GET /api/v1/clinics/<id>/availability/",
        )

    @task(1)
    def book(self) -> None:
        # Distinct (patient, weekday) pairs, spread over 40 weekdays so no window fills up, each on a day the
        # patient has no other visit (bench/api_load.py book_pairs).
        patient, day = CONFIG["book_pairs"][next(_bookings) % len(CONFIG["book_pairs"])]
        payload = {"patient": patient, "kind": "counselling", "date": day}
        self.client.post("/api/v1/visits/", json=payload, name="POST /api/v1/visits/ (book)")
