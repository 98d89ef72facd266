"""What a sink recorded: one alert as it reached one destination, and every request that came.

A destination is ``(receiver, integration, index)``: one entry of one receiver's
``<integration>_configs`` list. The sinks learn it from the URL path (HTTP) or the EHLO name
(SMTP) that the redirected alertmanager.yml gives each destination, never from the payload,
so a user's own templates cannot hide who was notified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal[
    "webhook", "slack", "pagerduty", "email", "opsgenie", "victorops", "wechat", "telegram",
    "webex", "sns", "discord", "msteams", "msteamsv2", "jira", "rocketchat", "pushover",
]  # fmt: skip
KINDS: tuple[Kind, ...] = (
    "webhook", "slack", "pagerduty", "email", "opsgenie", "victorops", "wechat", "telegram",
    "webex", "sns", "discord", "msteams", "msteamsv2", "jira", "rocketchat", "pushover",
)  # fmt: skip
STATUSES = ("firing", "resolved", "")  # "": the payload does not say


def kind_of(value: object) -> Kind:
    """``value`` as an integration name; ValueError naming the known ones otherwise."""
    for kind in KINDS:
        if value == kind:
            return kind
    raise ValueError(f"unknown integration {value!r}: expected one of {', '.join(KINDS)}")


@dataclass(frozen=True)
class Notification:
    """One alert in one arrival; a grouped message yields one Notification per alert.

    ``kind`` is the integration, ``receiver``/``index`` the destination (from the path);
    ``status`` and ``alertname`` are "" when the payload does not say. ``channel`` is the Slack
    channel or the email recipients, else "".
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
    index: int = 0
    method: str = ""
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            id=int(data["id"]),
            arrival_id=int(data["arrival_id"]),
            time=float(data["time"]),
            kind=kind_of(data["kind"]),
            channel=str(data.get("channel", "")),
            receiver=str(data.get("receiver", "")),
            status=str(data.get("status", "")),
            alertname=str(data.get("alertname", "")),
            labels=_str_map(data.get("labels")),
            annotations=_str_map(data.get("annotations")),
            raw=data.get("raw"),
            index=int(data.get("index", 0)),
            method=str(data.get("method", "")),
            path=str(data.get("path", "")),
        )

    @property
    def destination(self) -> tuple[str, str, int]:
        return (self.receiver, self.kind, self.index)

    def describe(self) -> str:
        """One line for logs and assertion messages (no raw payload)."""
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        where = f"{self.kind}:{self.channel}" if self.channel else self.kind
        return (
            f"{where} {self.status or '?'} {self.alertname or '?'} to "
            f"{self.receiver or '?'}/{self.kind}[{self.index}] {{{labels}}} at {self.time:.3f}"
        )


@dataclass(frozen=True)
class SinkRequest:
    """One HTTP request or SMTP message as it came, notification or not (token fetch, search)."""

    id: int
    time: float
    receiver: str
    kind: str
    index: int
    method: str
    path: str
    status_code: int
    notification: bool
    errors: list[str] = field(default_factory=list)
    tls: bool = False  # SMTP: the message came after STARTTLS
    authenticated: bool = False  # SMTP: after a successful AUTH

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SinkRequest:
        return cls(
            id=int(data["id"]), time=float(data["time"]), receiver=str(data["receiver"]),
            kind=str(data["kind"]), index=int(data["index"]), method=str(data["method"]),
            path=str(data["path"]), status_code=int(data["status_code"]),
            notification=bool(data["notification"]),
            errors=[str(e) for e in data.get("errors") or []], tls=bool(data.get("tls")),
            authenticated=bool(data.get("authenticated")),
        )  # fmt: skip

    def describe(self) -> str:
        what = "notification" if self.notification else "request"
        errors = f" errors: {'; '.join(self.errors)}" if self.errors else ""
        return (
            f"{self.receiver or '?'}/{self.kind or '?'}/{self.index} {self.method} {self.path} "
            f"-> {self.status_code} ({what}){errors}"
        )


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
