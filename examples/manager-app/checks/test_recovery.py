"""The runbook's recovery procedures: restart the app; back up, lose and restore the database.

Steps are named after the runbook's procedures, with the exchanges and row checksums judged.
"""

from __future__ import annotations

import subprocess

import httpx
import psycopg
import pytest

from synthmon import evidence, progress
from synthmon.faults import Faults
from synthmon.health import app_health_problems
from synthmon.prom import wait_until
from synthmon.stack import Stack
from synthmon.stack.embedded import postgres_bin

pytestmark = pytest.mark.destructive

HEALTH_CHECKS = ("database", "redis", "github_api")
CHECKSUM_SQL = (
    "SELECT count(*), coalesce(md5(string_agg(id || '|' || title || '|' || completed, ',' "
    "ORDER BY id)), '') FROM tasks"
)


def wait_healthy(stack: Stack, http: httpx.Client, deadline_s: float = 30) -> None:
    last: list[httpx.Response] = []

    def problems() -> list[str]:
        try:
            response = http.get(f"{stack.app_url}/health")
        except httpx.HTTPError as exc:
            return [f"{type(exc).__name__}: {exc}"]
        last[:] = [response]
        return app_health_problems(response.status_code, response.json(), HEALTH_CHECKS)

    def show() -> None:
        for response in last:
            evidence.attach_exchange(response, "last GET /health")

    with evidence.step("Verify all services are healthy: GET /health", show):
        progress.waiting("the app to report healthy", deadline_s)
        wait_until(
            lambda: not problems(), deadline_s, lambda: "app /health: " + "; ".join(problems())
        )


def test_graceful_restart_of_the_app_recovers(
    stack: Stack, http: httpx.Client, faults: Faults
) -> None:
    with evidence.step("Graceful restart: stop the app, /health refuses connections"):
        with faults.stopped("app"), pytest.raises(httpx.ConnectError) as refused:
            http.get(f"{stack.app_url}/health")
        evidence.attach_failed_request("GET", f"{stack.app_url}/health", refused.value)
    wait_healthy(stack, http)


def test_database_backup_and_restore_bring_every_row_back(stack: Stack, http: httpx.Client) -> None:
    database_url = stack.urls["postgres"]
    assert stack.runner
    with evidence.step("Create 25 tasks through the API"):
        for n in range(25):
            created = http.post(f"{stack.app_url}/api/tasks", json={"title": f"recovery drill {n}"})
            assert created.status_code == 201, created.text
        evidence.attach_exchange(created, "last POST /api/tasks")
        with psycopg.connect(database_url, autocommit=True) as conn:
            before = conn.execute(CHECKSUM_SQL).fetchone()
        evidence.attach_text("rows before: count, md5", f"{CHECKSUM_SQL}\n\n{before}")
        assert before and before[0] >= 25

    backup = stack.run_dir / "backup.dump"
    with evidence.step("Database backup: pg_dump"):
        run = subprocess.run(
            [postgres_bin("pg_dump"), "--format=custom", f"--file={backup}", database_url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        evidence.attach_text("pg_dump", f"exit {run.returncode}\n{run.stderr}")
        assert run.returncode == 0, f"pg_dump failed: {run.stderr}"

    with (
        evidence.step("Disaster: DROP TABLE tasks"),
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        conn.execute("DROP TABLE tasks")  # the disaster
        lost = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tasks'"
        ).fetchone()
        assert lost == (0,)

    with evidence.step("Database recovery: pg_restore from the backup"):
        run = subprocess.run(
            [postgres_bin("pg_restore"), "--clean", "--if-exists", f"--dbname={database_url}",
             str(backup)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        evidence.attach_text("pg_restore", f"exit {run.returncode}\n{run.stderr}")
        assert run.returncode == 0, f"pg_restore failed: {run.stderr}"
    with evidence.step("Verify every row is back (count and md5 of all rows)"):
        with psycopg.connect(database_url, autocommit=True) as conn:
            after = conn.execute(CHECKSUM_SQL).fetchone()
        evidence.attach_text("rows: before / after", f"before {before}\nafter  {after}")
        assert after == before, f"restored rows differ: before {before}, after {after}"
    wait_healthy(stack, http)
