"""Locust users for bench/cost_curve.py --saturation: the trivial endpoint alone, the server's ceiling in
requests per second under the same closed loop as bench/locustfile.py's mixed workload."""

from __future__ import annotations

import json
import os
from pathlib import Path

from locust import HttpUser, between, task

_CONFIG_PATH = os.environ.get("BENCH_LOCUST_CONFIG")
CONFIG = json.loads(Path(_CONFIG_PATH).read_text()) if _CONFIG_PATH else {}


class Trivial(HttpUser):
    wait_time = between(0, 0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Token {CONFIG['token']}"
        self.clinic = CONFIG["clinic"]

    @task
    def baseline_clinic_detail(self) -> None:
        self.client.get(f"/api/v1/clinics/{self.clinic}/", name="baseline: GET /api/v1/clinics/<id>/")
