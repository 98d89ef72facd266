"""What makes a Locust run's measured window exact, for any user's locustfile.

Imported only inside Locust processes (gevent), never by pytest or the rest of synthmon:
:func:`synthmon.load.run_load` passes :mod:`synthmon.load.synthmon_shape` to Locust as a
second ``-f`` file next to the user's own, so a plain locustfile (users and tasks, no synthmon
import) gets:

* :class:`ProfileShape`: ramp to the profile's users, then hold exactly ``steady_s`` counted
  from the moment Locust reports all users spawned; writes ``shape-timing.json`` (the window);
* a per-request recorder (completion time, method, name, ms, failed; one ``requests-<pid>.tsv``
  per generating process) that the parent cuts to the window.

Both are registered once per process however often this module is imported (it is imported as
``synthmon.load.shape``, never loaded by path). A locustfile may use :func:`profile_wait_time`
to pace its users by the profile (constant throughput or the profile's think time).

Environment (set by run_load): SYNTHMON_LOAD_PROFILE_JSON, or for a standalone run
SYNTHMON_LOAD_PROFILES (file, default ``load/profiles.yaml``) + SYNTHMON_LOAD_PROFILE (name,
default smoke); SYNTHMON_LOAD_TIMING_FILE and SYNTHMON_LOAD_RECORD_DIR (outputs, optional;
recording is off when SYNTHMON_LOAD_RECORD=0). Standalone::

    SYNTHMON_LOAD_PROFILES=load/profiles.yaml locust --headless -H http://127.0.0.1:8000 \\
        -f "$(python -c 'import synthmon.load.shape as s; print(s.LOCUSTFILE)')",load/locustfile.py
"""

from __future__ import annotations

import json
import os
import random
import time
from functools import cache
from pathlib import Path
from typing import Any

from locust import LoadTestShape, between, constant_throughput, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from synthmon.load.profiles import LoadProfile, load_profiles
from synthmon.load.results import record_line

#: The file run_load gives Locust with ``-f`` (it only imports :class:`ProfileShape`).
LOCUSTFILE = Path(__file__).resolve().with_name("synthmon_shape.py")


@cache
def profile() -> LoadProfile:
    """The validated profile: from run_load's JSON, else from the profiles file by name."""
    raw = os.environ.get("SYNTHMON_LOAD_PROFILE_JSON")
    if raw:
        return LoadProfile.from_json(raw)
    path = os.environ.get("SYNTHMON_LOAD_PROFILES", "load/profiles.yaml")
    name = os.environ.get("SYNTHMON_LOAD_PROFILE", "smoke")
    profiles = load_profiles(path)
    if name not in profiles:
        raise SystemExit(f"{path}: no profile {name!r} (have: {', '.join(sorted(profiles))})")
    return profiles[name]


def profile_wait_time() -> Any:
    """Constant throughput (target_rps / users per user) or the profile's uniform think time."""
    prof = profile()
    if prof.per_user_rps is not None:
        return _dephased(constant_throughput(prof.per_user_rps), 1 / prof.per_user_rps)
    return between(prof.wait_min_s, prof.wait_max_s)


def _dephased(paced: Any, period_s: float) -> Any:
    """``paced`` with a random extra wait in [0, period) after each user's first task.

    Locust spawns a batch of users at once; paced users that start together stay in phase
    and send one burst per period instead of a rate (a server at half its capacity then
    queues the whole burst). The first task still runs on spawn, in the ramp.
    """

    def wait(user: Any) -> float:
        seconds = float(paced(user))
        if not getattr(user, "_synthmon_dephased", False):
            user._synthmon_dephased = True
            extra = random.uniform(0.0, period_s)
            user._cp_last_wait_time += extra  # constant_pacing counts its wait from here
            seconds += extra
        return seconds

    return wait


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
            "users": profile().users,
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
        prof = profile()
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
                if elapsed < prof.max_run_s - prof.steady_s:  # ramp_s + grace
                    return prof.users, prof.spawn_rate
                _Timing.spawned_at, _Timing.ramp_complete = now, False
            _Timing.steady_end = _Timing.spawned_at + prof.steady_s
        if now >= _Timing.steady_end:
            _Timing.write(now, "steady phase over")
            return None
        return prof.users, prof.spawn_rate


class _Recorder:
    """Appends one line per request; buffered, so it costs a few µs per request."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("w", encoding="utf-8", buffering=1 << 16)

    def on_request(
        self, request_type: str, name: str, response_time: float, exception: Any, **_: Any
    ) -> None:
        self._fh.write(record_line(request_type, name, response_time, exception))

    def close(self, **_: Any) -> None:
        self._fh.close()


def _listen(hook: Any, listener: Any) -> None:
    """``hook.add_listener`` (Locust's EventHook is untyped)."""
    hook.add_listener(listener)


def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    shapes = [environment.shape_class, *(environment.available_shape_classes or {}).values()]
    others = sorted({type(s).__name__ for s in shapes if not isinstance(s, ProfileShape | None)})
    if others:
        # Another shape would drive the load (or be silently ignored): refuse, measure nothing.
        raise SystemExit(
            f"synthmon: the locustfile defines its own LoadTestShape ({', '.join(others)}); "
            "synthmon's ProfileShape sets the users and the measured window, remove it"
        )
    if not isinstance(runner, WorkerRunner):  # local or master: the shape runs here
        users = profile().users

        def spawned(user_count: int, **_: Any) -> None:
            if _Timing.spawned_at is None and user_count >= users:
                _Timing.spawned_at = time.time()

        _listen(environment.events.spawning_complete, spawned)
        _listen(
            environment.events.quitting,
            lambda **_: _Timing.write(time.time(), "quit before the steady phase ended"),
        )
    if isinstance(runner, WorkerRunner):
        # Locust's master waits a fixed 0.5 s for the workers' last stats after "quit" and
        # writes its CSV without what came later (seen on a busy machine: 105 counted of 114
        # sent). Sent on test_stop, they arrive before this worker's "client_stopped", which
        # the master waits for before it stops.
        _listen(environment.events.test_stop, lambda **_: runner._send_stats())
    record_dir = os.environ.get("SYNTHMON_LOAD_RECORD_DIR")
    recording = os.environ.get("SYNTHMON_LOAD_RECORD", "1") != "0"
    if record_dir and recording and not isinstance(runner, MasterRunner):
        recorder = _Recorder(Path(record_dir) / f"requests-{os.getpid()}.tsv")
        _listen(environment.events.request, recorder.on_request)
        _listen(environment.events.quitting, recorder.close)


_listen(events.init, _on_init)
