"""Which notifications belong to which alert at which destination (pure functions, no I/O).

Each integration of each receiver posts to its own sink path, so a notification's destination
is known from where it arrived; its alert is known when the payload says so (webhook JSON, a
title such as ``[FIRING:1] HighErrorRate``) and otherwise from the scenario's time window:
scenarios run one at a time per stack. A destination that an always-firing alert also
reaches cannot attribute a notification that does not name its alert: there the name is
required.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from synthmon.jsonfile import read_json
from synthmon.sinks import Notification


@dataclass(frozen=True)
class Target:
    """One destination the routing sends an alert to: ``receiver/integration[index]``."""

    receiver: str
    integration: str
    index: int
    send_resolved: bool = True
    unverifiable: str = ""  # why no local sink can see it ("" when it can)

    @property
    def name(self) -> str:
        return f"{self.receiver}/{self.integration}[{self.index}]"

    def received(self, note: Notification) -> bool:
        return (note.receiver, note.kind, note.index) == (
            self.receiver,
            self.integration,
            self.index,
        )


def is_of(note: Notification, alert: str, *, ambiguous: bool) -> bool:
    """The notification is about ``alert``: it names it, or names nothing where that is safe."""
    return note.alertname == alert or (not note.alertname and not ambiguous)


def matching(
    notes: Iterable[Notification],
    target: Target,
    alert: str,
    status: str,
    *,
    ambiguous: bool,
    unnamed_after: float = 0.0,
) -> list[Notification]:
    """The notifications of ``alert`` with ``status`` at ``target``.

    A payload that does not say its status counts as ``firing``, or as ``resolved`` when it
    arrived after ``unnamed_after`` (when Prometheus had ended the alert).
    """

    def status_ok(note: Notification) -> bool:
        if note.status:
            return note.status == status
        return status == "firing" or note.time >= unnamed_after

    return [
        n
        for n in notes
        if target.received(n) and is_of(n, alert, ambiguous=ambiguous) and status_ok(n)
    ]


def elsewhere(
    notes: Iterable[Notification], targets: Sequence[Target], alert: str
) -> list[Notification]:
    """Notifications that name ``alert`` but arrived at none of its ``targets``."""
    return [n for n in notes if n.alertname == alert and not any(t.received(n) for t in targets)]


def reached(notes: Iterable[Notification]) -> set[tuple[str, str]]:
    """(receiver, integration) pairs the notifications arrived at."""
    return {(n.receiver, n.kind) for n in notes}


def read_targets(path: Path) -> list[Target]:
    """The destinations of the rendered alertmanager.yml, as the stack recorded them; the
    unverifiable ones carry their reason."""
    data = read_json(path, "destinations")
    return [
        Target(
            receiver=str(d["receiver"]),
            integration=str(d["integration"]),
            index=int(d["index"]),
            send_resolved=bool(d.get("send_resolved", False)),
            unverifiable=f"not verifiable here: {d['reason']}" if "reason" in d else "",
        )
        for d in [*data["destinations"], *data["unverifiable"]]
    ]
