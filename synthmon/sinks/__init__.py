"""Local stand-ins for PagerDuty, Slack, webhooks and SMTP that Alertmanager really posts to.

Run ``python -m synthmon.sinks --host 127.0.0.1 --http-port P --smtp-port S``; read what
arrived with :class:`SinkClient`. Contract: docs/architecture.md, "Notification sinks".
"""

from synthmon.sinks._client import SinkClient
from synthmon.sinks._model import KINDS, Kind, Notification

__all__ = ["KINDS", "Kind", "Notification", "SinkClient"]
