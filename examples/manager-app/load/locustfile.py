"""synthmon's Locust load: a weighted, realistic request mix over the reference app.

Only users and tasks: ``synthmon.load.run_load`` runs it as a subprocess together with synthmon's
shape and per-request recorder (``synthmon.load.shape``, which makes the measured window
exact), so it works the same as any user's locustfile. Standalone, see synthmon/load/shape.py.

Environment: SYNTHMON_LOGIN_PASSWORD or APP_LOGIN_PASSWORD (default demo-password); the profile
(and so the pacing) comes from synthmon.load.shape's SYNTHMON_LOAD_* variables.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, task

from synthmon.load.shape import profile_wait_time

PASSWORD = os.environ.get("SYNTHMON_LOGIN_PASSWORD") or os.environ.get(
    "APP_LOGIN_PASSWORD", "demo-password"
)
REPOS = (("octocat", "hello-world"), ("python", "cpython"), ("locustio", "locust"))


def judge(response: Any, missing_ok: bool = False) -> bool:
    """Mark a catch_response response; True when it is a success.

    5xx and transport errors are server failures. A 404 on a task this user created
    (``missing_ok``) is not: the data can be reset under a running load (fixtures truncate
    tables), so it is counted as a success and the id forgotten. Any other 4xx is a failure:
    the script and the app disagree about the contract.
    """
    status = response.status_code
    if not status:
        response.failure(f"transport error: {response.error}")
    elif status >= 500:
        response.failure(f"HTTP {status} (server error)")
    elif status == 404 and missing_ok:
        response.success()
        return False
    elif status >= 400:
        response.failure(f"HTTP {status} (client error: script and app contract differ)")
    else:
        response.success()
        return True
    return False


class SynthmonUser(FastHttpUser):
    """One API client; every task is exactly one request, so tasks/s equals requests/s."""

    wait_time = profile_wait_time()
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        self.task_ids: list[int] = []

    @task(40)
    def list_tasks(self) -> None:
        with self.client.get("/api/tasks", name="/api/tasks", catch_response=True) as r:
            judge(r)

    @task(10)
    def create_task(self) -> None:
        title = f"synthetic {random.randrange(1_000_000)}"
        with self.client.post(
            "/api/tasks", json={"title": title}, name="/api/tasks", catch_response=True
        ) as r:
            if judge(r):
                try:
                    body = r.json()
                    task_id = int(body.get("id", body.get("task_id")))
                except (ValueError, TypeError, AttributeError):
                    return
                self.task_ids = [*self.task_ids[-49:], task_id]  # bounded per user

    @task(15)
    def get_task(self) -> None:
        if not self.task_ids:
            self.create_task()
            return
        task_id = random.choice(self.task_ids)
        name = "/api/tasks/{task_id}"
        with self.client.get(f"/api/tasks/{task_id}", name=name, catch_response=True) as r:
            if r.status_code == 404:
                self.task_ids.remove(task_id)
            judge(r, missing_ok=True)

    @task(8)
    def complete_task(self) -> None:
        if not self.task_ids:
            self.create_task()
            return
        task_id = self.task_ids.pop(random.randrange(len(self.task_ids)))
        path = f"/api/tasks/{task_id}/complete"
        name = "/api/tasks/{task_id}/complete"
        with self.client.post(path, name=name, catch_response=True) as r:
            judge(r, missing_ok=True)

    @task(10)
    def view_repo(self) -> None:
        owner, repo = random.choice(REPOS)
        name = "/api/repos/{owner}/{repo}"
        with self.client.get(f"/api/repos/{owner}/{repo}", name=name, catch_response=True) as r:
            judge(r)

    @task(5)
    def login(self) -> None:
        """Right password only: failed logins would trip the brute-force security alert."""
        body = {"username": "demo", "password": PASSWORD}
        with self.client.post("/api/login", json=body, name="/api/login", catch_response=True) as r:
            judge(r)

    @task(1)
    def health(self) -> None:
        with self.client.get("/health", name="/health", catch_response=True) as r:
            judge(r)
