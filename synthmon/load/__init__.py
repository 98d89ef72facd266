"""Load generation with Locust, always as a subprocess (gevent must stay out of pytest).

Public API: :class:`LoadProfile` and :func:`load_profiles` (``load/profiles.yaml``),
:func:`run_load` returning a :class:`LoadResult` measured over the steady window only.
"""

from synthmon.load.profiles import LoadProfile, load_profiles
from synthmon.load.remote import RemoteWorkers
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
    "run_load",
    "worker_counts",
]
