"""synthmon.amconfig.policy: what an alert must reach, what it reaches, and the one line per
unmet requirement; the project file's ``policy:`` key and its validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from synthmon.amconfig.policy import Policy, PolicyRule, reached
from synthmon.projectfile import ProjectFileError, load_project
from synthmon.validate import validate
from tests._programs import require

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANAGER_AM = EXAMPLES / "manager-app/monitoring/alertmanager/alertmanager.yml"

POLICY = Policy(
    (
        PolicyRule.parse(['priority="P1"'], ["pagerduty", "slack"]),
        PolicyRule.parse(['priority=~"P1|P2"'], ["slack", "receiver:audit"]),
        PolicyRule.parse(['priority="P2"'], ["email"]),
    ),
    always_firing=("Heartbeat",),
)


def test_required_is_the_union_of_the_matching_rules() -> None:
    assert POLICY.required({"priority": "P1"}) == {"pagerduty", "slack", "receiver:audit"}
    assert POLICY.required({"priority": "P2"}) == {"slack", "receiver:audit", "email"}
    assert POLICY.required({"priority": "P3"}) == frozenset()


def test_violations_name_what_was_required_and_what_was_reached() -> None:
    got = {("slack-email-p2", "slack"), ("slack-email-p2", "email")}
    assert POLICY.violations({"priority": "P1"}, got) == [
        "priority=P1 must reach pagerduty: reached slack-email-p2 (email, slack)",
        "priority=~P1|P2 must reach receiver:audit: reached slack-email-p2 (email, slack)",
    ]
    assert POLICY.violations({"priority": "P2"}, {*got, ("audit", "")}) == []
    assert POLICY.violations({"priority": "P2"}, set()) == [
        "priority=~P1|P2 must reach slack: reached nothing",
        "priority=~P1|P2 must reach receiver:audit: reached nothing",
        "priority=P2 must reach email: reached nothing",
    ]


def test_reached_follows_the_routing_and_the_receivers_integrations() -> None:
    config = yaml.safe_load(MANAGER_AM.read_text())
    assert reached(config, {"priority": "P1"}) == {
        ("pagerduty-slack-p1", "pagerduty"),
        ("pagerduty-slack-p1", "slack"),
    }
    assert reached(config, {"alertname": "Watchdog", "priority": "P1"}) == {
        ("heartbeat", "webhook")
    }


def test_the_examples_policies_hold_for_their_routing() -> None:
    project = load_project(EXAMPLES / "manager-app")
    assert project.policy is not None
    config = yaml.safe_load(MANAGER_AM.read_text())
    for labels in ({"priority": p} for p in ("P1", "P2", "P3", "P4")):
        assert project.policy.violations(labels, reached(config, labels)) == []
    assert project.policy.always_firing == ("Watchdog",)
    # the routing of a P1 alert sent to the P2 receiver breaks it
    config["route"]["routes"][1]["receiver"] = "slack-email-p2"
    assert project.policy.violations({"priority": "P1"}, reached(config, {"priority": "P1"})) == [
        "priority=P1 must reach pagerduty: reached slack-email-p2 (email, slack)"
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"match": ['priority=="P1'], "reach": ["email"]}, r"policy\.rules\.0\.match: .*unescaped"),
        ({"match": ['a="b"'], "reach": ["pager"]}, r"policy\.rules\.0\.reach: 'pager' is neither"),
        ({"match": [], "reach": ["email"]}, r"policy\.rules\.0\.match: List should have at least"),
        ({"match": ['a="b"'], "reach": ["email"], "to": 1}, r"policy\.rules\.0\.to: unknown key"),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_key(
    tmp_path: Path, rule: dict[str, object], message: str
) -> None:
    project = _copy(tmp_path, "linkcheck")
    doc = yaml.safe_load(project.read_text())
    doc["policy"] = {"rules": [rule]}
    project.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ProjectFileError, match=message) as info:
        load_project(project)
    assert len(info.value.problems) == 1 and "\n" not in info.value.problems[0]


def test_validate_rejects_a_receiver_alertmanager_yml_lacks(tmp_path: Path) -> None:
    require("promtool")
    require("amtool")
    project = _copy(tmp_path, "linkcheck")
    doc = yaml.safe_load(project.read_text())
    doc["policy"]["rules"].append({"match": ['severity="critical"'], "reach": ["receiver:nobody"]})
    doc["policy"]["always_firing"].append("NoSuchAlert")
    project.write_text(yaml.safe_dump(doc, sort_keys=False))
    problems = validate(project)
    assert any(
        "policy.rules: receiver:nobody: alertmanager.yml has no receiver 'nobody'" in p
        for p in problems
    ), problems
    assert any("policy.always_firing.NoSuchAlert: no rule" in p for p in problems), problems


def test_a_bad_matcher_in_code_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unescaped double quote"):
        PolicyRule.parse(['a="b'], ["email"])
    # the classic parser refuses a name starting with a digit; Alertmanager 0.27+ takes it
    assert [m.name for m in PolicyRule.parse(["1x=y"], ["email"]).matchers] == ["1x"]


def _copy(tmp_path: Path, example: str) -> Path:
    shutil.copytree(EXAMPLES / example, tmp_path / example)
    return tmp_path / example / "synthmon.yaml"
