"""synthmon.amconfig routing, matchers, time intervals and inhibition: hand-written answers for
the hard cases, and a corpus (tests/data/routing/*.yml, label sets in ``# labels:`` lines) on
which the computation must agree with Debian's amtool 0.25 (``config routes test``)."""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.amconfig.inhibition import inhibit_rules, inhibited_by
from synthmon.amconfig.matchers import config_matchers, parse_classic_matcher, parse_matchers
from synthmon.amconfig.routing import RouteTree, integrations, route
from synthmon.errors import ConfigError
from tests._programs import require

DATA = Path(__file__).parent / "data" / "routing"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _labels(text: str) -> dict[str, str]:
    """``a=1 b=2`` as amtool reads its arguments (each one a classic ``=`` matcher)."""
    found = {}
    for word in shlex.split(text):
        matcher = parse_classic_matcher(word)
        assert matcher.op == "="
        found[matcher.name] = matcher.value
    return found


def _corpus() -> list[Any]:
    cases = []
    for file in sorted(DATA.glob("*.yml")):
        for line in file.read_text().splitlines():
            if line.startswith("# labels:"):
                text = line.removeprefix("# labels:").strip()
                cases.append(pytest.param(file, text, id=f"{file.stem}[{text}]"))
    return cases


def amtool_receivers(file: Path, labels: str) -> list[str]:
    """The receivers amtool resolves for ``labels`` (its first output line, comma-separated)."""
    done = subprocess.run(
        [
            require("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={file}",
            *shlex.split(labels),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"amtool failed on {file.name} {labels}: {done.stderr.strip()}"
    return done.stdout.strip().splitlines()[0].split(",")


def disagreement(file: Path, labels: str, answer: list[str]) -> str | None:
    """None when ``answer`` is amtool's; else one line saying both."""
    theirs = amtool_receivers(file, labels)
    if theirs == answer:
        return None
    return f"{file.name} {{{labels}}}: synthmon says {','.join(answer)}, amtool {','.join(theirs)}"


def _tree(file: Path) -> RouteTree:
    return RouteTree(yaml.safe_load(file.read_text()), mode="classic")


def test_corpus_is_big_enough() -> None:
    assert len(list(DATA.glob("*.yml"))) >= 20
    assert len(_corpus()) >= 60


@pytest.mark.parametrize(("file", "labels"), _corpus())
def test_agrees_with_amtool(file: Path, labels: str) -> None:
    ours = _tree(file).receivers(_labels(labels))
    problem = disagreement(file, labels, ours)
    assert problem is None, problem


def test_a_wrong_answer_is_caught() -> None:
    file = DATA / "02-continue-leaf.yml"
    right = _tree(file).receivers(_labels("severity=critical"))
    assert right == ["pager", "mail"]
    problem = disagreement(file, "severity=critical", ["pager"])  # as if continue were ignored
    assert problem == (
        "02-continue-leaf.yml {severity=critical}: synthmon says pager, amtool pager,mail"
    )


# -- hand-written answers -------------------------------------------------------------------


def test_continue_at_a_leaf_adds_the_next_sibling() -> None:
    found = _tree(DATA / "03-continue-nested.yml").match(_labels("team=a severity=critical"))
    assert [(m.route_id, m.receiver, m.continue_) for m in found] == [
        ("route.routes[0].routes[0]", "team-a-pager", True),
        ("route.routes[0].routes[1]", "team-a-mail", False),
        ("route.routes[1]", "audit", False),
    ]


def test_regex_is_fully_anchored() -> None:
    tree = _tree(DATA / "04-regex-anchoring.yml")
    assert tree.receivers({"service": "api"}) == ["api"]
    assert tree.receivers({"service": "api-gateway"}) == ["default"]
    assert tree.receivers({"service": "www2"}) == ["default"]
    # Python's $ would match before a trailing newline; Alertmanager's does not
    assert tree.receivers({"service": "api\n"}) == ["default"]


def test_not_equal_on_a_missing_label_matches() -> None:
    assert _tree(DATA / "05-neq-missing.yml").receivers({}) == ["not-prod"]
    assert _tree(DATA / "06-nre-missing.yml").receivers({"alertname": "A"}) == ["no-team"]


def test_falls_back_to_the_root_and_to_the_parent() -> None:
    tree = _tree(DATA / "07-fallback-root.yml")
    [root] = tree.match({"x": "1"})
    assert (root.route_id, root.receiver) == ("route", "root")
    [parent] = tree.match({"a": "1"})
    assert (parent.route_id, parent.receiver) == ("route.routes[0]", "a")


def test_nested_inheritance_of_receiver_and_timers() -> None:
    tree = _tree(DATA / "08-inherit-receiver.yml")
    [crit] = tree.match({"team": "db", "severity": "critical"})
    assert (crit.route_id, crit.receiver, crit.group_wait_s) == (
        "route.routes[0].routes[0]",
        "db",
        1,
    )
    assert (crit.group_interval_s, crit.repeat_interval_s) == (300, 4 * 3600)
    [prod] = tree.match({"team": "db", "severity": "warning", "env": "prod"})
    assert (prod.route_id, prod.receiver, prod.group_wait_s) == (
        "route.routes[0].routes[1].routes[0]",
        "db-prod",
        10,
    )


def test_group_by_inherited_and_the_wildcard() -> None:
    tree = _tree(DATA / "25-timers-groupby.yml")
    [inner] = tree.match({"a": "1", "b": "1"})
    assert (inner.group_by_all, inner.group_wait_s, inner.group_interval_s) == (True, 60, 600)
    [root] = tree.match({"c": "1"})
    assert (root.group_by, root.group_by_all) == (("alertname",), False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{a="b",c=~"d"}', [("a", "=", "b"), ("c", "=~", "d")]),
        ('tag=~"a,b|c"', [("tag", "=~", "a,b|c")]),
        ("severity = critical", [("severity", "=", "critical")]),
        (r'msg="say \"hi\""', [("msg", "=", 'say "hi"')]),
        (r'x="a\qb"', [("x", "=", r"a\qb")]),  # a spurious escape keeps its backslash
        ('"service name"="api"', [("service name", "=", "api")]),  # 0.27+: the UTF-8 parser
    ],
)
def test_matchers_parse_as_alertmanager(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (r'msg="say \\"hi\\""', "unescaped double quote"),
        ("1a=b", "bad matcher format"),
        ('x=~"("', "not a regular expression"),
    ],
)
def test_bad_matchers_are_one_line_errors(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=rf"route\.matchers\[0\]: .*({reason})") as info:
        config_matchers({"matchers": [text]}, "route", mode="classic")
    assert "\n" not in str(info.value)


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"route.routes\[0\].group_wait: 'soon'"):
        route({"route": {"receiver": "r", "routes": [{"group_wait": "soon"}]}}, {})
    with pytest.raises(ConfigError, match=r"mute_time_intervals: time interval 'x' is not"):
        route({"route": {"receiver": "r", "mute_time_intervals": ["x"]}}, {})


# -- time intervals -------------------------------------------------------------------------

TIMED: dict[str, Any] = {
    "route": {
        "receiver": "root",
        "routes": [
            {"receiver": "night", "matchers": ['a="1"'], "mute_time_intervals": ["nights"]},
            {"receiver": "office", "matchers": ['a="2"'], "active_time_intervals": ["office"]},
            {"receiver": "eom", "matchers": ['a="3"'], "mute_time_intervals": ["last-day"]},
        ],
    },
    "time_intervals": [
        {
            "name": "office",
            "time_intervals": [
                {
                    "weekdays": ["monday:friday"],
                    "times": [{"start_time": "09:00", "end_time": "17:00"}],
                    "location": "Europe/Berlin",
                }
            ],
        }
    ],
    "mute_time_intervals": yaml.safe_load(  # the legacy key
        """
        - name: nights
          time_intervals: [{times: [{start_time: "22:00", end_time: "24:00"}]}]
        - name: last-day
          time_intervals: [{days_of_month: ["-1"], months: [february], years: ["2024"]}]
        """
    ),
}


@pytest.mark.parametrize(
    ("labels", "at", "muted", "why"),
    [
        ({"a": "1"}, "2024-05-06T23:30:00+00:00", True, "mute_time_intervals nights"),
        ({"a": "1"}, "2024-05-06T21:59:00+00:00", False, ""),
        # 16:30 UTC is 18:30 in Berlin (summer time): outside office hours
        ({"a": "2"}, "2024-05-06T16:30:00+00:00", True, "outside active_time_intervals office"),
        ({"a": "2"}, "2024-05-06T14:30:00+00:00", False, ""),
        ({"a": "2"}, "2024-05-05T10:00:00+00:00", True, "outside active_time_intervals office"),
        ({"a": "3"}, "2024-02-29T12:00:00+00:00", True, "mute_time_intervals last-day"),
        ({"a": "3"}, "2023-02-28T12:00:00+00:00", False, ""),
    ],
)
def test_time_intervals_mute_at_a_time(
    labels: dict[str, str], at: str, muted: bool, why: str
) -> None:
    [found] = route(TIMED, labels, datetime.fromisoformat(at))
    assert (found.muted, found.muted_by) == (muted, why)


def test_no_time_no_muting_answer() -> None:
    [found] = route(TIMED, {"a": "1"})
    assert found.muted is None and found.mute_time_intervals == ("nights",)
    at = datetime(2024, 5, 6, 12, tzinfo=UTC)
    with pytest.raises(ConfigError, match=r"times\[0\].end_time: '25:00'"):
        times = [{"start_time": "01:00", "end_time": "25:00"}]
        bad = {**TIMED, "time_intervals": [{"name": "x", "time_intervals": [{"times": times}]}]}
        route(bad, {}, at)


# -- inhibition -----------------------------------------------------------------------------

INHIBIT: dict[str, Any] = {
    "inhibit_rules": [
        {"source_matchers": ['alertname="Down"'], "target_matchers": ['alertname=~"Slow|Errors"']},
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"critical|warning"'],
            "equal": ["alertname", "zone"],
        },
    ]
}


def test_inhibited_by_the_first_rule_that_applies() -> None:
    rules = inhibit_rules(INHIBIT)
    down, slow = {"alertname": "Down"}, {"alertname": "Slow"}
    assert inhibited_by(rules, slow, [down, slow]) == 0
    assert inhibited_by(rules, slow, [slow]) is None
    assert inhibited_by(rules, down, [down]) is None


def test_equal_counts_a_label_missing_on_both_sides_as_equal() -> None:
    rules = inhibit_rules(INHIBIT)
    crit = {"alertname": "Disk", "severity": "critical"}
    warn = {"alertname": "Disk", "severity": "warning"}
    assert inhibited_by(rules, warn, [crit]) == 1  # zone missing on both: equal
    assert inhibited_by(rules, warn, [{**crit, "zone": "a"}]) is None
    assert inhibited_by(rules, {**warn, "zone": "a"}, [{**crit, "zone": "a"}]) == 1


def test_an_alert_does_not_inhibit_itself() -> None:
    rules = inhibit_rules(INHIBIT)
    crit = {"alertname": "Disk", "severity": "critical"}
    # matches both sides of rule 1; the only source alert is itself (or its twin)
    assert inhibited_by(rules, crit, [crit]) is None


def test_examples_receivers_and_integrations() -> None:
    config = yaml.safe_load(
        (EXAMPLES / "manager-app/monitoring/alertmanager/alertmanager.yml").read_text()
    )
    assert integrations(config)["pagerduty-slack-p1"] == ("pagerduty", "slack")
    assert RouteTree(config).receivers({"priority": "P1"}) == ["pagerduty-slack-p1"]
