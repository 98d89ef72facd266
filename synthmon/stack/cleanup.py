"""Find and end what a crashed or SIGKILLed earlier run left behind.

Each run records its owner PID and its services' PIDs in ``<run>/pids.json``; its services run
with the run directory (or a directory below it) as their working directory. A service is only
ever killed when its owner is gone *and* its cwd is still inside that run directory, so a
recycled PID is never hit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import psutil


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def clean_stale_runs(base: Path) -> list[str]:
    """End leftover services of dead runs under ``base``; return what was cleaned, for the log."""
    cleaned: list[str] = []
    if not base.is_dir():
        return cleaned
    for record_path in base.glob("*/pids.json"):
        run_dir = record_path.parent
        try:
            record = json.loads(record_path.read_text())
            owner, pids = int(record["owner"]), dict(record["pids"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner != os.getpid() and _alive(owner):
            continue
        for name, pid in pids.items():
            try:
                process = psutil.Process(int(pid))
                # services run in the run dir or below it (PostgreSQL, Redis: their data dir)
                if not Path(process.cwd()).resolve().is_relative_to(run_dir.resolve()):
                    continue
                os.killpg(process.pid, signal.SIGKILL)
                cleaned.append(f"{run_dir.name}/{name} (pid {pid})")
            except (psutil.Error, ProcessLookupError, PermissionError, ValueError):
                continue
        shutil.rmtree(run_dir / "data", ignore_errors=True)
        shutil.rmtree(run_dir / "conf" / "secrets", ignore_errors=True)
        record_path.unlink(missing_ok=True)
    return cleaned
