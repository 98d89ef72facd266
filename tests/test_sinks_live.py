"""A real Alertmanager (Debian's 0.25) notifying every integration it has at the sinks.

The config (tests/data/sinks/alertmanager.yml) is written by hand, already redirected per
the contract, so this proves the sinks' half alone: each destination is attributed by its
path or EHLO name, Alertmanager accepts every answer (no failed notification), and an answer
the real service would refuse makes Alertmanager's notification fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from synthmon.alerting import AlertmanagerClient, alert_payload
from synthmon.sinks import Notification, SinkClient
from synthmon.waiting import NotYet, wait_until
from tests._am_live import sinks_and_alertmanager

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path(__file__).parent / "data" / "sinks" / "alertmanager.yml"
LIVE = {"alertname": "SynthLive", "severity": "critical", "team": "ops"}
NOTES = {"summary": "live delivery", "description": "to every integration"}
DESTINATIONS = {
    ("hooks", "webhook", 0), ("hooks", "webhook", 1), ("chat", "slack", 0),
    ("ops team/pager", "pagerduty", 0), ("mail", "email", 0), ("genie", "opsgenie", 0),
    ("victor", "victorops", 0), ("wechat", "wechat", 0), ("telegram", "telegram", 0),
    ("webex", "webex", 0), ("discord", "discord", 0), ("sns", "sns", 0),
}  # fmt: skip
DEADLINE_S = 20


@dataclass(frozen=True)
class Live:
    sinks: SinkClient
    alertmanager: AlertmanagerClient


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The sinks and an Alertmanager on free ports, stopped (and their data removed) after."""

    def config(sinks_url: str, smtp_port: int) -> str:
        return CONFIG.read_text().replace("@SINKS@", sinks_url).replace("@SMTP@", str(smtp_port))

    with sinks_and_alertmanager(tmp_path_factory.mktemp("sinks-live"), config) as pair:
        yield Live(pair.sinks, pair.alertmanager)


def test_every_destination_is_notified_once_then_resolved(live: Live) -> None:
    live.sinks.clear()
    live.alertmanager.post_alerts(
        [alert_payload(LIVE, NOTES, ends_at=datetime.now(UTC) + timedelta(hours=1))]
    )
    firing = _arrivals(live.sinks, "firing")
    for got in firing.values():  # every payload named the alert and its status
        assert (got[0].alertname, got[0].status) == ("SynthLive", "firing"), got[0].describe()
    assert {n.kind: n.channel for n in live.sinks.notifications()}["slack"] == "incidents"
    assert live.sinks.notifications()[0].raw is not None

    now = datetime.now(UTC)
    live.alertmanager.post_alerts(
        [alert_payload(LIVE, NOTES, starts_at=now - timedelta(minutes=1), ends_at=now)]
    )
    resolved = _arrivals(live.sinks, "resolved")
    arrivals = Counter((n.destination, n.status) for n in live.sinks.notifications())
    assert all(count == 1 for count in arrivals.values()), arrivals  # each seen once a status
    assert len(arrivals) == 2 * len(DESTINATIONS) and set(resolved) == DESTINATIONS
    assert not any(live.alertmanager.failed_notifications().values())  # all answers accepted
    requests = live.sinks.requests()
    tokens = [r for r in requests if r.kind == "wechat" and r.path.endswith("gettoken")]
    assert tokens and not tokens[0].notification  # a token fetch is not a notification
    mails = [r for r in requests if r.kind == "email"]  # require_tls and auth, as written
    assert mails and all(r.tls and r.authenticated for r in mails), mails
    bot = [r.path for r in requests if r.kind == "telegram"]
    assert bot and all("dummy" not in path for path in bot)  # the bot token is not kept


def test_a_refused_event_fails_alertmanagers_notification(live: Live) -> None:
    before = live.alertmanager.failed_notifications().get("pagerduty", 0.0)
    live.alertmanager.post_alerts(
        [
            alert_payload(
                {"alertname": "SynthBadKey"}, ends_at=datetime.now(UTC) + timedelta(hours=1)
            )
        ]
    )

    def failed() -> float | NotYet:
        now = live.alertmanager.failed_notifications().get("pagerduty", 0.0)
        return now if now > before else NotYet(f"pagerduty failures still {now:g}")

    wait_until(failed, timeout_s=DEADLINE_S, interval_s=0.2, what="a failed pagerduty notification")
    [refused] = [r for r in live.sinks.requests() if r.receiver == "bad key"][:1]
    assert (refused.kind, refused.index, refused.status_code) == ("pagerduty", 0, 400)
    assert "routing_key" in " ".join(refused.errors) and not refused.notification
    assert not [n for n in live.sinks.notifications() if n.receiver == "bad key"]


def _arrivals(sinks: SinkClient, status: str) -> dict[tuple[str, str, int], list[Notification]]:
    """Wait until every destination got ``status``; its notifications by destination."""

    def all_there() -> dict[tuple[str, str, int], list[Notification]] | NotYet:
        got: dict[tuple[str, str, int], list[Notification]] = {}
        for n in sinks.notifications():
            if n.status == status:
                got.setdefault(n.destination, []).append(n)
        missing = DESTINATIONS - set(got)
        return got if not missing else NotYet(f"missing {sorted(missing)}; got {sorted(got)}")

    return wait_until(all_there, timeout_s=DEADLINE_S, interval_s=0.2, what=f"{status} everywhere")
