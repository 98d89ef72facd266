"""synthmon's Locust load: a weighted, realistic request mix over the reference app.

Run by ``synthmon.load.run_load`` as a subprocess (never imported into pytest: gevent
monkey-patches the interpreter). Standalone::

    SYNTHMON_LOAD_PROFILE=smoke locust -f examples/manager-app/load/locustfile.py --headless \
        -H http://127.0.0.1:8000

Besides the user class this file holds what makes the measured window exact, so other
locustfiles (e.g. the bench's bare one) can import it: ``ProfileShape`` (ramp, then steady for
``steady_s`` counted from the moment Locust reports all users spawned) and a per-request recorder
(completion time, method, name, ms, failed) the parent cuts to the window.

Environment: SYNTHMON_LOAD_PROFILE_JSON (set by run_load) or SYNTHMON_LOAD_PROFILES (file,
default profiles.yaml next to this file) + SYNTHMON_LOAD_PROFILE (name, default smoke);
SYNTHMON_LOAD_TIMING_FILE and SYNTHMON_LOAD_RECORD_DIR (outputs, optional; recording is off when
SYNTHMON_LOAD_RECORD=0); SYNTHMON_LOGIN_PASSWORD or APP_LOGIN_PASSWORD (default demo-password).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, constant_throughput, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

_HERE = Path(__file__).resolve().parent


def _load_profile() -> Any:
    """The validated profile: from run_load's JSON, else from the profiles file by name."""
    from synthmon.load.profiles import LoadProfile, load_profiles

    raw = os.environ.get("SYNTHMON_LOAD_PROFILE_JSON")
    if raw:
        return LoadProfile.from_json(raw)
    path = os.environ.get("SYNTHMON_LOAD_PROFILES", str(_HERE / "profiles.yaml"))
    name = os.environ.get("SYNTHMON_LOAD_PROFILE", "smoke")
    profiles = load_profiles(path)
    if name not in profiles:
        raise SystemExit(f"{path}: no profile {name!r} (have: {', '.join(sorted(profiles))})")
    return profiles[name]


PROFILE = _load_profile()
RAMP_DEADLINE_S = PROFILE.max_run_s - PROFILE.steady_s  # ramp_s + grace
PASSWORD = os.environ.get("SYNTHMON_LOGIN_PASSWORD") or os.environ.get(
    "APP_LOGIN_PASSWORD", "demo-password"
)
REPOS = (("octocat", "hello-world"), ("python", "cpython"), ("locustio", "locust"))


def wait_time_for_profile() -> Any:
    """Constant throughput (target_rps / users per user) or a uniform think time."""
    if PROFILE.per_user_rps is not None:
        return constant_throughput(PROFILE.per_user_rps)
    return between(PROFILE.wait_min_s, PROFILE.wait_max_s)


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

    wait_time = wait_time_for_profile()
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


class _Timing:
    """Window facts, kept in the process that runs the shape (local runner or master)."""

    test_start: float | None = None
    spawned_at: float | None = None
    steady_end: float | None = None
    ramp_complete = True
    written = False

    @classmethod
    def write(cls, stopped_at: float, why: str) -> None:
        path = os.environ.get("SYNTHMON_LOAD_TIMING_FILE")
        if cls.written or not path:
            return
        cls.written = True
        doc = {
            "test_start": cls.test_start,
            "spawned_at": cls.spawned_at,
            "steady_end": cls.steady_end,
            "stopped_at": stopped_at,
            "ramp_complete": cls.ramp_complete,
            "users": PROFILE.users,
            "why": why,
        }
        Path(path + ".tmp").write_text(json.dumps(doc), encoding="utf-8")
        os.replace(path + ".tmp", path)


class ProfileShape(LoadTestShape):
    """Ramp to the profile's users, then hold exactly ``steady_s`` after all are spawned.

    ``use_common_options`` makes Locust pass ``-t`` through; the shape honours it as a hard cap
    (Locust itself ignores ``-t`` for shapes).
    """

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        now = time.time()
        if _Timing.test_start is None:
            _Timing.test_start = now
        elapsed = now - _Timing.test_start
        options = self.runner.environment.parsed_options if self.runner else None
        cap = getattr(options, "run_time", None)
        if cap and elapsed >= cap:
            _Timing.write(now, "run time cap (-t) reached")
            return None
        if _Timing.steady_end is None:
            if _Timing.spawned_at is None:
                if elapsed < RAMP_DEADLINE_S:
                    return PROFILE.users, PROFILE.spawn_rate
                _Timing.spawned_at, _Timing.ramp_complete = now, False
            _Timing.steady_end = _Timing.spawned_at + PROFILE.steady_s
        if now >= _Timing.steady_end:
            _Timing.write(now, "steady phase over")
            return None
        return PROFILE.users, PROFILE.spawn_rate


class _Recorder:
    """Appends one line per request; buffered, so it costs a few µs per request."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("w", encoding="utf-8", buffering=1 << 16)

    def on_request(
        self, request_type: str, name: str, response_time: float, exception: Any, **_: Any
    ) -> None:
        failed = 1 if exception else 0
        self._fh.write(
            f"{time.time():.6f}\t{request_type}\t{name}\t{response_time:.3f}\t{failed}\n"
        )

    def close(self, **_: Any) -> None:
        self._fh.close()


def _listen(hook: Any, listener: Any) -> None:
    """``hook.add_listener`` (Locust's EventHook is untyped)."""
    hook.add_listener(listener)


def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):  # local or master: the shape runs here

        def spawned(user_count: int, **_: Any) -> None:
            if _Timing.spawned_at is None and user_count >= PROFILE.users:
                _Timing.spawned_at = time.time()

        _listen(environment.events.spawning_complete, spawned)
        _listen(
            environment.events.quitting,
            lambda **_: _Timing.write(time.time(), "quit before the steady phase ended"),
        )
    record_dir = os.environ.get("SYNTHMON_LOAD_RECORD_DIR")
    recording = os.environ.get("SYNTHMON_LOAD_RECORD", "1") != "0"
    if record_dir and recording and not isinstance(runner, MasterRunner):
        recorder = _Recorder(Path(record_dir) / f"requests-{os.getpid()}.tsv")
        _listen(environment.events.request, recorder.on_request)
        _listen(environment.events.quitting, recorder.close)


_listen(events.init, _on_init)
