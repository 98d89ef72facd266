"""The runbook's recovery procedures: restart the app; back up, lose and restore the database.

Steps are named after the runbook's procedures, with the exchanges and row checksums judged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from synthmon import evidence, progress
from synthmon.faults import Faults
from synthmon.health import app_health_problems
from synthmon.prom import wait_until
from synthmon.stack import Stack
from synthmon.stack.compose_runner import ComposeRunner
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


def _pg(
    stack: Stack, argv: list[str], database_url: str, given: Path | None = None,
    output: Path | None = None,
) -> str:  # fmt: skip
    """pg_dump/pg_restore of the database's own version: on compose, `compose exec` in the
    database's container (the runbook's `docker-compose exec`), else the host's client."""
    assert stack.runner is not None
    stdin = given.read_bytes() if given is not None else None
    if isinstance(stack.runner, ComposeRunner):
        db = "--dbname=" + urlsplit(database_url).path.lstrip("/")
        out = stack.runner.exec("postgres", [*argv, "-U", "postgres", db], stdin=stdin)
        shown = f"compose exec -T postgres {' '.join(argv)}: ok"
    else:
        run = subprocess.run(
            [postgres_bin(argv[0]), *argv[1:], f"--dbname={database_url}"], input=stdin,
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, f"{argv[0]} failed: {run.stderr.decode(errors='replace')}"
        out, shown = run.stdout, f"{' '.join(argv)}: exit 0"
    if output is not None:
        output.write_bytes(out)
    return shown


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
        dumped = _pg(stack, ["pg_dump", "--format=custom"], database_url, output=backup)
        evidence.attach_text("pg_dump", dumped)

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
        restored = _pg(stack, ["pg_restore", "--clean", "--if-exists"], database_url, backup)
        evidence.attach_text("pg_restore", restored)
    with evidence.step("Verify every row is back (count and md5 of all rows)"):
        with psycopg.connect(database_url, autocommit=True) as conn:
            after = conn.execute(CHECKSUM_SQL).fetchone()
        evidence.attach_text("rows: before / after", f"before {before}\nafter  {after}")
        assert after == before, f"restored rows differ: before {before}, after {after}"
    wait_healthy(stack, http)
