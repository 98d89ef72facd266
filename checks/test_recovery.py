"""The runbook's recovery procedures: restart the app; back up, lose and restore the database."""

from __future__ import annotations

import subprocess

import httpx
import psycopg
import pytest

from synthmon.faults import Faults
from synthmon.health import app_health_problems
from synthmon.prom import wait_until
from synthmon.stack import Stack
from synthmon.stack.embedded import postgres_bin

pytestmark = pytest.mark.destructive

CHECKSUM_SQL = (
    "SELECT count(*), coalesce(md5(string_agg(id || '|' || title || '|' || completed, ',' "
    "ORDER BY id)), '') FROM tasks"
)


def wait_healthy(stack: Stack, http: httpx.Client, deadline_s: float = 30) -> None:
    def problems() -> list[str]:
        try:
            response = http.get(f"{stack.app_url}/health")
        except httpx.HTTPError as exc:
            return [f"{type(exc).__name__}: {exc}"]
        return app_health_problems(response.status_code, response.json())

    wait_until(lambda: not problems(), deadline_s, lambda: "app /health: " + "; ".join(problems()))


def test_graceful_restart_of_the_app_recovers(
    stack: Stack, http: httpx.Client, faults: Faults
) -> None:
    with faults.stopped("app"), pytest.raises(httpx.ConnectError):
        http.get(f"{stack.app_url}/health")
    wait_healthy(stack, http)


def test_database_backup_and_restore_bring_every_row_back(stack: Stack, http: httpx.Client) -> None:
    assert stack.database_url and stack.runner
    for n in range(25):
        created = http.post(f"{stack.app_url}/api/tasks", json={"title": f"recovery drill {n}"})
        assert created.status_code == 201, created.text
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        before = conn.execute(CHECKSUM_SQL).fetchone()
    assert before and before[0] >= 25

    backup = stack.run_dir / "backup.dump"
    run = subprocess.run(
        [postgres_bin("pg_dump"), "--format=custom", f"--file={backup}", stack.database_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, f"pg_dump failed: {run.stderr}"

    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE tasks")  # the disaster
        lost = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tasks'"
        ).fetchone()
        assert lost == (0,)

    run = subprocess.run(
        [postgres_bin("pg_restore"), "--clean", "--if-exists", f"--dbname={stack.database_url}",
         str(backup)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, f"pg_restore failed: {run.stderr}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        after = conn.execute(CHECKSUM_SQL).fetchone()
    assert after == before, f"restored rows differ: before {before}, after {after}"
    wait_healthy(stack, http)
