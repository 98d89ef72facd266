"""Load generation with Locust, always as a subprocess (gevent must stay out of pytest).

Public API: :class:`LoadProfile` and :func:`load_profiles` (``load/profiles.yaml``),
:func:`run_load` returning a :class:`LoadResult` measured over the steady window only;
:class:`RemoteWorkers` (from settings: :func:`remote_workers`) for workers on other hosts,
:func:`worker_counts` for what each worker reported.
"""

from synthmon.load.profiles import LoadProfile, load_profiles
from synthmon.load.remote import RemoteWorkers, remote_workers
from synthmon.load.results import EndpointStats, LoadResult
from synthmon.load.runner import LoadError, WorkerCount, WorkersMissing, run_load, worker_counts

__all__ = [
    "EndpointStats",
    "LoadError",
    "LoadProfile",
    "LoadResult",
    "RemoteWorkers",
    "WorkerCount",
    "WorkersMissing",
    "load_profiles",
    "remote_workers",
    "run_load",
    "worker_counts",
]
