"""The delivery report, the attribution of notifications and the config coverage (pure)."""

from __future__ import annotations

from dataclasses import replace

from synthmon import coverage, delivery
from synthmon.attribution import Target, elsewhere, matching
from synthmon.sinks import Notification

PD = Target("pager", "pagerduty", 0)
SLACK = Target("pager", "slack", 0)


def note(
    kind: str = "pagerduty", receiver: str = "pager", alert: str = "A", **kw: object
) -> Notification:
    base = Notification(
        id=1, arrival_id=1, time=100.0, kind=kind, channel="", receiver=receiver, status="firing",
        alertname=alert, index=0,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_notification_is_attributed_by_its_destination() -> None:
    assert matching([note()], PD, "A", "firing", ambiguous=False)
    assert not matching([note()], SLACK, "A", "firing", ambiguous=False)
    assert not matching([note(index=1)], PD, "A", "firing", ambiguous=False)
    assert not matching([note(alert="B")], PD, "A", "firing", ambiguous=False)


def test_an_unnamed_notification_counts_only_where_no_always_firing_alert_goes() -> None:
    unnamed = note(alert="")
    assert matching([unnamed], PD, "A", "firing", ambiguous=False)
    assert not matching([unnamed], PD, "A", "firing", ambiguous=True)


def test_an_unknown_status_is_resolved_only_after_the_alert_ended() -> None:
    unknown = note(status="", time=100.0)
    assert not matching([unknown], PD, "A", "resolved", ambiguous=False, unnamed_after=150.0)
    assert matching([unknown], PD, "A", "resolved", ambiguous=False, unnamed_after=90.0)
    assert not matching([note(status="firing")], PD, "A", "resolved", ambiguous=False)


def test_elsewhere_names_notifications_outside_the_destinations() -> None:
    stray = note(kind="email", receiver="team-mail")
    assert elsewhere([note(), stray], [PD, SLACK], "A") == [stray]
    assert elsewhere([note(kind="email", alert="")], [PD], "A") == []


def test_delivery_line_in_production_time_and_over_bound() -> None:
    ok = delivery.Delivery("A", "pager", "pagerduty", 0, "firing", True, 3.9, 0.5, 4.5, 60)
    assert ok.line() == (
        "A firing at pager/pagerduty[0]: 3.9 s after the fault, 0.5 s after firing = "
        "3 min 54 s in production; bound 4 min 30 s"
    )
    late = replace(ok, after_cause_s=5.0)
    assert late.line().endswith("OVER BOUND")
    missing = replace(ok, delivered=False, after_cause_s=None)
    assert "NOT DELIVERED" in missing.line()
    head = delivery.summary_lines([ok, late, missing])[0]
    assert "1 over their bound, 1 missing" in head and "2 of 3" in head


def test_delivery_records_round_trip_through_a_property() -> None:
    record = delivery.Delivery("A", "r", "email", 0, "resolved", False, None, None, 9.0, 60, "x")
    assert delivery.decode([delivery.encode([record])]) == [record]


def test_coverage_names_what_no_passing_scenario_reached() -> None:
    config = {
        "route": {
            "receiver": "root",
            "routes": [
                {"receiver": "pager", "routes": [{"receiver": "pager"}, {"receiver": "mail"}]},
                {"receiver": "heartbeat"},
            ],
        },
        "receivers": [{"name": n} for n in ("root", "pager", "mail", "heartbeat")],
        "inhibit_rules": [{}],
    }
    universe = coverage.Universe.of(config, ["A", "B", "Watchdog"], exempt=["Watchdog"])
    assert dict(universe.leaf_routes) == {
        "route.routes[0].routes[0]": "pager",
        "route.routes[0].routes[1]": "mail",
        "route.routes[1]": "heartbeat",
    }
    done = coverage.Exercised("A", ("route.routes[0].routes[0]",), ("pager",))
    lines = [
        p.line() for p in coverage.measure(universe, [coverage.Exercised.decode(done.encode())])
    ]
    assert lines == [
        "alert rules with a passing scenario: 1/2 (50%); missing: B",
        "receivers reached: 1/4 (25%); missing: heartbeat, mail, root",
        "leaf routes reached: 1/3 (33%); missing: route.routes[0].routes[1] (mail), "
        "route.routes[1] (heartbeat)",
        "inhibit rules exercised: 0/1 (0%); missing: inhibit_rules[0]",
    ]


def test_scaling_flags_every_alert_a_floor_made_inexact() -> None:
    from synthmon.run_report import scaled_lines
    from synthmon.stack.rules import load_alerts

    rules = load_alerts(
        "groups:\n- name: g\n  rules:\n"
        "  - {alert: Exact, expr: 'rate(x[10m]) > 1', for: 5m}\n"
        "  - {alert: Quick, expr: 'rate(x[2m]) > 1', for: 30s}\n"
    )
    head, *inexact = scaled_lines(rules.values(), 60)
    assert "inexact where a floor applies" in head
    assert inexact == ["  Quick: for: 30s -> 1 s (floor), window 2m -> 4 s (floor), not 60x faster"]
    assert scaled_lines([rules["Exact"]], 60)[0].endswith("(all exact)")
    head, *rest = scaled_lines(rules.values(), 60, {"Quick"})  # windows kept: no window floor
    assert rest == [
        "  Quick: for: 30s -> 1 s (floor), not 60x faster",
        "  windows kept as written, not scaled (monitoring.unscaled_windows; their for: still / 60)"
        ": Quick",
    ]


def test_an_always_firing_delivery_counts_from_when_it_began() -> None:
    record = delivery.Delivery(
        "Beat", "hb", "webhook", 0, "firing", True, 0.9, 0.9, 2.0, 60, cause="it began firing"
    )
    assert record.line() == (
        "Beat firing at hb/webhook[0]: 0.9 s after it began firing = 54 s in production; "
        "bound 2 min"
    )
    same_poll = delivery.Delivery("A", "r", "email", 0, "resolved", True, 1.0, -0.02, 9.0, 60)
    assert "0.0 s after the alert ended" in same_poll.line()
