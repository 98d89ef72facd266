"""The log stores behind :class:`~synthmon.logstore.model.LogStore`, by a stack's ``logs_api``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from synthmon.errors import ConfigError
from synthmon.logstore.loki import Loki
from synthmon.logstore.model import LogStore
from synthmon.logstore.victorialogs import VictoriaLogs

#: ``logs_api`` → the client of that store's query API
STORES: Mapping[str, Callable[[str, httpx.Client], LogStore]] = {
    "victorialogs": VictoriaLogs,
    "loki": Loki,
}


def open_store(api: str, base_url: str, http: httpx.Client, where: str = "logs_api") -> LogStore:
    """The client of the ``api`` store at ``base_url`` (a Stack's ``logs_api``/``logs_url``)."""
    try:
        return STORES[api](base_url, http)
    except KeyError:
        raise ConfigError(f"{where}: expected one of {', '.join(STORES)}, got {api!r}") from None
