"""Locust users for the capacity tests: one GET /work per task, paced by synthmon's profile.

SYNTHMON_TEST_HOG_MS > 0 burns that much CPU in the generator before every request: a
starved generator whose shortfall is its own, not the server's.
"""

from __future__ import annotations

import os
import time

from locust import FastHttpUser, task

from synthmon.load.shape import profile_wait_time

HOG_S = float(os.environ.get("SYNTHMON_TEST_HOG_MS", "0")) / 1000


class WorkUser(FastHttpUser):
    wait_time = profile_wait_time()

    @task
    def work(self) -> None:
        if HOG_S:
            end = time.perf_counter() + HOG_S
            while time.perf_counter() < end:
                pass
        self.client.get("/work")
