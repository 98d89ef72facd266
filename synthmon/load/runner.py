"""Run one load profile with Locust in subprocesses and measure only its steady window.

Locust is never imported here: it monkey-patches the interpreter with gevent. ``run_load``
starts ``python -m locust`` headless (local, or a master plus N workers), all in one process
group that is torn down on every exit path, bounds the run twice (the shape honours ``-t``; a
hard timeout kills the group), then reads the files the run left in ``out_dir``.

The user's locustfile needs no synthmon import: Locust gets it together with
:data:`SHAPE_LOCUSTFILE` (``-f synthmon_shape.py,user.py``, Locust's list of locustfiles), whose
:class:`synthmon.load.shape.ProfileShape` and per-request recorder make the window exact.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from synthmon.errors import ConfigError, SynthmonError
from synthmon.load import results
from synthmon.load.process import ProcessGroup
from synthmon.load.profiles import LoadProfile
from synthmon.load.remote import (
    SHAPE_LOCUSTFILE,
    WORKERS_LOCUSTFILE,
    RemoteWorkers,
    missing_workers,
)
from synthmon.ports import free_ports

_WORKER_CONNECT_S = 30  # --expect-workers-max-wait of local workers
_WORKER_EXIT_S = 15.0  # after the master is done, workers get "quit" and should follow


class LoadError(SynthmonError):
    """A Locust run failed, overran its time bound, or left no measurable window."""


class WorkersMissing(LoadError):
    """Fewer workers than expected joined the master before its deadline."""


def run_load(
    target_url: str,
    profile: LoadProfile,
    out_dir: Path,
    *,
    locustfile: Path,
    workers: int = 0,
    remote: RemoteWorkers | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout_margin_s: float = 30.0,
) -> results.LoadResult:
    """Run ``profile`` against ``target_url`` with the project's ``locustfile``; the result
    covers the steady window only.

    ``locustfile`` is a plain Locust file (users and tasks); synthmon's shape and recorder are
    added by this function, and a LoadTestShape of its own is an error (LoadError).

    ``workers=N`` runs Locust's master and N worker processes. ``remote`` makes the master
    bind its address and wait for that many more workers started elsewhere (``synthmon
    worker``); too few by its deadline is :class:`WorkersMissing`, one line saying how many
    came. ``workers.json`` has per-worker request counts whenever there are workers.

    Outputs in ``out_dir``:
    ``locust_stats.csv``, ``locust_stats_history.csv`` (full history), ``locust.html``,
    ``locust.json``, logs, per-request records, and for the gate CLI ``load-window.json``
    (``--window-file``) and ``load-client-stats.json`` (``--locust-stats``: window figures).
    """
    parts = urlsplit(target_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"target_url: expected http(s)://host:port, got {target_url!r}")
    if workers < 0:
        raise ConfigError(f"workers: expected an integer ≥ 0, got {workers}")
    user_file = Path(locustfile).resolve()
    if "," in str(user_file) or user_file.suffix != ".py" or not user_file.is_file():
        raise ConfigError(
            f"locustfile: expected an existing .py file without ',' in its path, got {locustfile}"
        )
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("requests-*.tsv"), out_dir / "shape-timing.json"]:
        stale.unlink(missing_ok=True)
    files = {
        "stats_csv": out_dir / "locust_stats.csv",
        "history_csv": out_dir / "locust_stats_history.csv",
        "failures_csv": out_dir / "locust_failures.csv",
        "html": out_dir / "locust.html",
        "json": out_dir / "locust.json",
        "log": out_dir / "locust.log",
        "timing": out_dir / "shape-timing.json",
        "window": out_dir / "load-window.json",
        "client_stats": out_dir / "load-client-stats.json",
        "workers": out_dir / "workers.json",
    }
    files["workers"].unlink(missing_ok=True)
    env = {
        **os.environ,
        **(extra_env or {}),
        "SYNTHMON_LOAD_PROFILE_JSON": profile.to_json(),
        "SYNTHMON_LOAD_TIMING_FILE": str(files["timing"]),
        "SYNTHMON_LOAD_RECORD_DIR": str(out_dir),
        "PYTHONUNBUFFERED": "1",
    }
    # synthmon's shape first: Locust runs the first shape class it finds (headless)
    files_arg = f"{SHAPE_LOCUSTFILE},{WORKERS_LOCUSTFILE},{user_file}"
    locust = [sys.executable, "-m", "locust", "-f", files_arg]
    main = [
        *locust,
        "--headless",
        "-H",
        target_url,
        "-t",
        f"{math.ceil(profile.max_run_s) + 2}s",
        "--csv",
        str(out_dir / "locust"),
        "--csv-full-history",
        "--html",
        str(files["html"]),
        "--json-file",
        str(out_dir / "locust"),  # Locust appends ".json"
        "--exit-code-on-error",
        "0",  # failures are data here; a non-zero exit means Locust itself broke
    ]
    expected = workers + (remote.expect if remote else 0)
    bind_host, port = (remote.bind_host, remote.bind_port) if remote else ("127.0.0.1", 0)
    connect_s = remote.wait_s if remote else float(_WORKER_CONNECT_S)
    if workers and not remote:
        port = free_ports(1)[0]
    if expected:
        main += ["--master", "--master-bind-host", bind_host, "--master-bind-port", str(port)]
        main += ["--expect-workers", str(expected), "--expect-workers-max-wait", f"{connect_s:g}"]
    budget = profile.max_run_s + timeout_margin_s + (connect_s if expected else 0)
    local_master = "127.0.0.1" if bind_host in ("0.0.0.0", "*", "") else bind_host
    with ProcessGroup() as group:
        master = group.spawn(main, files["log"], env, out_dir)
        for i in range(workers):
            argv = [*locust, "--worker", "--master-host", local_master, "--master-port", str(port)]
            group.spawn([*argv, "-H", target_url], out_dir / f"worker-{i}.log", env, out_dir)
        try:
            master.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            raise LoadError(
                f"locust ({profile.name}) still running after {budget:.0f} s; killed its "
                f"process group {group.pgid} (log: {files['log']})"
            ) from None
        group.wait_all(time.monotonic() + _WORKER_EXIT_S)  # stragglers are killed on exit
        pids = group.pids
    if master.returncode != 0 and expected:
        log = files["log"].read_text(encoding="utf-8", errors="replace")
        missing = missing_workers(log, expected, f"{bind_host}:{port}", connect_s)
        if missing:
            raise WorkersMissing(f"{missing} (log: {files['log']})")
    if master.returncode != 0:
        raise LoadError(f"locust exited {master.returncode}: {_tail(files['log'])}")
    return _result(target_url, profile, out_dir, files, pids)


def _result(
    target_url: str,
    profile: LoadProfile,
    out_dir: Path,
    files: dict[str, Path],
    pids: tuple[int, ...],
) -> results.LoadResult:
    try:
        window = results.read_window(files["timing"])
    except (OSError, ValueError, KeyError) as exc:
        raise LoadError(f"no measured window: {exc} (log: {files['log']})") from None
    seconds = window.end - window.start
    records = sorted(out_dir.glob("requests-*.tsv"))
    if any(w.recording == "none" for w in worker_counts(files["workers"]).values()):
        records = []  # a worker without records: exact counts would miss its requests
    total, total_failed = results.csv_totals(files["stats_csv"])
    endpoints: list[results.EndpointStats] = []
    if records:
        endpoints, latencies, failures, total, total_failed = results.from_records(records, window)
        requests, p95 = len(latencies), results.percentile(latencies, 0.95)
    else:
        requests, failures, p95 = results.from_history(
            files["history_csv"], files["stats_csv"], window
        )
    achieved = requests / seconds if seconds > 0 else 0.0
    valid, reason = results.verdict(window, requests, achieved, profile.target_rps)
    result = results.LoadResult(
        profile=profile.name,
        target_url=target_url,
        window_start=window.start,
        window_end=window.end,
        requests=requests,
        failures=failures,
        achieved_rps=achieved,
        target_rps=profile.target_rps,
        p95_ms=p95,
        valid=valid,
        reason=reason,
        exact=bool(records),
        total_requests=total,
        total_failures=total_failed,
        endpoints={f"{e.method} {e.name}": e for e in endpoints},
        files=files,
        pids=pids,
    )
    files["window"].write_text(json.dumps(result.window_doc(), indent=2) + "\n", encoding="utf-8")
    client = {"requests": requests, "failures": failures, "p95_ms": p95}  # gate --locust-stats
    files["client_stats"].write_text(json.dumps(client) + "\n", encoding="utf-8")
    return result


@dataclass(frozen=True)
class WorkerCount:
    """One worker's whole-run figures as its Locust stats reports gave them to the master."""

    requests: int
    failures: int
    recording: str  # local (its own requests-<pid>.tsv), shipped (to the master) or none
    shipped: int  # request lines it sent with its reports


def worker_counts(workers_json: Path) -> dict[str, WorkerCount]:
    """Locust worker id (``host_uuid``) → its counts, from a run's ``workers.json``
    (``result.files["workers"]``); empty when the run had no workers."""
    try:
        doc = json.loads(workers_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise LoadError(f"{workers_json}: unreadable per-worker counts: {exc}") from None
    return {
        name: WorkerCount(
            int(w["requests"]), int(w["failures"]), str(w["recording"]), int(w["shipped"])
        )
        for name, w in doc.items()
    }


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log, joined on one line for the error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return " | ".join(text[-lines:])
