"""Local stand-ins for every Alertmanager integration (HTTP) and SMTP, attributed by path.

Run ``python -m synthmon.sinks --host 127.0.0.1 --http-port P --smtp-port S``; read what
arrived with :class:`SinkClient`. A destination ``(receiver, integration, index)`` posts to
``/r/{receiver}/{integration}/{index}[/...]`` and mails with EHLO ``r/{receiver}/email/{index}``.
"""

from synthmon.sinks._client import SinkClient
from synthmon.sinks._model import KINDS, Kind, Notification, SinkRequest

__all__ = ["KINDS", "Kind", "Notification", "SinkClient", "SinkRequest"]
