"""The locustfile that lets workers on other hosts count as exactly as local ones.

Loaded by Locust with ``-f`` (master and every worker; never imported by pytest: gevent).
A worker started elsewhere has no access to the master's output directory, so instead of
writing ``requests-<pid>.tsv`` itself (:mod:`synthmon.load.shape` does that when
``SYNTHMON_LOAD_RECORD_DIR`` is set, as for local workers) it appends its request lines to
Locust's own periodic worker report. The master then writes, in its ``SYNTHMON_LOAD_RECORD_DIR``:

* ``requests-<worker>.tsv`` per remote worker (same format, the worker's clock), and
* ``workers.json``: per worker, the requests and failures of Locust's own stats reports and
  how it records (``local``, ``shipped``; a worker without this file reports ``none``),

so the parent can tell whether the records cover every worker.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from synthmon.load.results import record_line

KEY = "synthmon_records"  # the report field with the request lines
MODE = "synthmon_recording"  # the report field saying how the worker records


class _Master:
    """Per-worker counts and shipped records, kept by the master."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.counts: dict[str, dict[str, Any]] = {}

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        entry = self.counts.setdefault(
            client_id, {"requests": 0, "failures": 0, "recording": "none", "shipped": 0}
        )
        total = data.get("stats_total") or {}
        entry["requests"] += int(total.get("num_requests", 0))
        entry["failures"] += int(total.get("num_failures", 0))
        entry["recording"] = str(data.get(MODE, "none"))
        lines = data.get(KEY) or []
        if lines:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", client_id)
            with (self.out_dir / f"requests-{safe}.tsv").open("a", encoding="utf-8") as fh:
                fh.writelines(lines)
            entry["shipped"] += len(lines)
        tmp = self.out_dir / "workers.json.tmp"
        tmp.write_text(json.dumps(self.counts, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.out_dir / "workers.json")


class _Shipper:
    """A remote worker's request lines, handed to the next report to the master."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_request(
        self, request_type: str, name: str, response_time: float, exception: Any, **_: Any
    ) -> None:
        self.lines.append(record_line(request_type, name, response_time, exception))

    def on_report(self, client_id: str, data: dict[str, Any]) -> None:
        data[KEY], self.lines = self.lines, []
        data[MODE] = "shipped"


def _listen(hook: Any, listener: Any) -> None:
    """``hook.add_listener`` (Locust's EventHook is untyped)."""
    hook.add_listener(listener)


def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    record_dir = os.environ.get("SYNTHMON_LOAD_RECORD_DIR")
    recording = os.environ.get("SYNTHMON_LOAD_RECORD", "1") != "0"
    if isinstance(runner, MasterRunner) and record_dir:
        _listen(environment.events.worker_report, _Master(Path(record_dir)).on_worker_report)
    elif isinstance(runner, WorkerRunner) and recording and not record_dir:
        shipper = _Shipper()
        _listen(environment.events.request, shipper.on_request)
        _listen(environment.events.report_to_master, shipper.on_report)
    elif isinstance(runner, WorkerRunner):
        mode = "local" if recording else "none"
        _listen(environment.events.report_to_master, lambda data, **_: data.update({MODE: mode}))


_listen(events.init, _on_init)
