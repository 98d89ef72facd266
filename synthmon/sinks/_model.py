"""What a sink recorded: one alert, as it reached one receiver integration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["pagerduty", "slack", "email", "webhook"]
KINDS: tuple[Kind, ...] = ("pagerduty", "slack", "email", "webhook")


@dataclass(frozen=True)
class Notification:
    """One alert in one arrival; a grouped message yields one Notification per alert.

    ``channel`` is the Slack channel, the email recipients, the webhook name or the PagerDuty
    routing key; ``receiver`` is Alertmanager's receiver name when the payload carries it.
    """

    id: int
    arrival_id: int
    time: float
    kind: Kind
    channel: str
    receiver: str
    status: str
    alertname: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    raw: Any = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        kind = data["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        return cls(
            id=int(data["id"]),
            arrival_id=int(data["arrival_id"]),
            time=float(data["time"]),
            kind=kind,
            channel=str(data["channel"]),
            receiver=str(data.get("receiver", "")),
            status=str(data["status"]),
            alertname=str(data["alertname"]),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
            raw=data.get("raw"),
        )

    def describe(self) -> str:
        """One line for logs and assertion messages (no raw payload)."""
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return (
            f"{self.kind}:{self.channel} {self.status} {self.alertname or '?'} "
            f"receiver={self.receiver or '?'} {{{labels}}} at {self.time:.3f}"
        )
