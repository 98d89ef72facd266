"""linkcheck's load: check links, and read back last results (a plain Locust file).

    locust -f load/locustfile.py --headless -u 10 -r 10 -t 30s -H http://127.0.0.1:8080

Each user runs LINKCHECK_LOAD_RPS_PER_USER requests/s (default 2; constant throughput, so a
slow service does not lower the offered rate). Request names are the service's route
templates, the same values as the `handler` label of http_requests_total.
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant_throughput, task

LINKS = [f"link-{n:04d}" for n in range(1, 201)]
RPS_PER_USER = float(os.environ.get("LINKCHECK_LOAD_RPS_PER_USER", "2"))


class LinkcheckUser(FastHttpUser):
    wait_time = constant_throughput(RPS_PER_USER)
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        self.checked: list[str] = []

    @task(8)
    def check_link(self) -> None:
        link = random.choice(LINKS)
        with self.client.get(
            f"/v1/links/{link}", name="/v1/links/{link_id}", catch_response=True
        ) as response:
            if response.status_code == 200:
                response.success()
                self.checked = [*self.checked[-19:], link]
            else:
                response.failure(f"HTTP {response.status_code}")

    @task(2)
    def last_result(self) -> None:
        # A link this user checked (404 is then a real failure), or any link (404 is fine).
        link = random.choice(self.checked) if self.checked else random.choice(LINKS)
        with self.client.get(
            f"/v1/links/{link}/last", name="/v1/links/{link_id}/last", catch_response=True
        ) as response:
            if response.status_code == 200 or (
                response.status_code == 404 and link not in self.checked
            ):
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")
