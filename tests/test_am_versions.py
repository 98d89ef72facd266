"""The minimum Alertmanager of each config key: the check as pure code, and the table against the
real amtools (Debian's 0.25 and a 0.28.1 built from its Go module)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthmon.amconfig.versions import (
    BASELINE,
    SINCE,
    Version,
    check_supported,
    newer_features,
    required_version,
)
from synthmon.errors import ConfigError
from synthmon.gobuild import alertmanager_binaries
from synthmon.stack import embedded
from tests._programs import require

ROUTE: dict[str, Any] = {"route": {"receiver": "r"}}


def receiver(**keys: Any) -> dict[str, Any]:
    return {**ROUTE, "receivers": [{"name": "r", **keys}]}


TEAMS = receiver(msteams_configs=[{"webhook_url": "http://127.0.0.1:9/teams"}])


def test_a_config_debian_loads_needs_nothing_newer() -> None:
    config = receiver(webhook_configs=[{"url": "http://127.0.0.1:9/hook"}])
    config["time_intervals"] = [{"name": "night", "time_intervals": [{"location": "UTC"}]}]
    assert required_version(config) == (BASELINE, [])
    check_supported(config, "0.25.0", "Debian")  # no error


def test_each_place_of_a_key_is_read() -> None:
    config = {
        "global": {"smtp_tls_config": {}},
        "route": {"receiver": "r", "routes": [{"routes": [{"labels": {"team": "a"}}]}]},
        "inhibit_rules": [{"name": "quiet"}],
        "receivers": [{"name": "r", "webhook_configs": [{"url": "u", "timeout": "5s"}]}],
    }
    assert newer_features(config, BASELINE) == {
        "global.smtp_tls_config": Version(0, 28),
        "route.labels": Version(0, 34),
        "inhibit_rules.name": Version(0, 30),
        "webhook_configs.timeout": Version(0, 28),
    }
    assert required_version(config) == (Version(0, 34), ["route.labels"])


def test_the_newest_features_are_named() -> None:
    config = receiver(msteams_configs=[{}], jira_configs=[{}], rocketchat_configs=[{}])
    assert required_version(config) == (Version(0, 28), ["jira_configs", "rocketchat_configs"])


def test_msteams_on_debian_is_one_line_naming_key_release_and_pin() -> None:
    with pytest.raises(ConfigError) as caught:
        check_supported(TEAMS, "0.25.0", "Debian")
    assert str(caught.value) == (
        "alertmanager.yml: msteams_configs needs Alertmanager ≥ 0.26 (this run: 0.25.0 from "
        "Debian); pin versions.alertmanager in synthmon.yaml"
    )
    check_supported(TEAMS, Version(0, 28, 1), "its Go module")  # a pin that has it: no error


def test_several_missing_features_are_listed_newest_first() -> None:
    config = receiver(msteams_configs=[{}], jira_configs=[{}])
    with pytest.raises(ConfigError, match=r"jira_configs \(0\.28\), msteams_configs \(0\.26\) "
                       r"need Alertmanager ≥ 0\.28 \(this run: 0\.25\.0"):  # fmt: skip
        check_supported(config, "0.25.0", "Debian")
    with pytest.raises(ConfigError, match=r"^alertmanager.yml: jira_configs needs .* 0\.27\.0"):
        check_supported(config, "0.27.0", "its Go module")


@pytest.mark.parametrize("text", ["0.28", "v0.28.1", "0.28.1"])
def test_versions_parse(text: str) -> None:
    assert Version.parse(text) >= Version(0, 28)


@pytest.mark.parametrize("text", ["latest", "0.28.1-rc.0", "", "1"])
def test_a_bad_version_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^versions.alertmanager: .* is not a version like"):
        Version.parse(text, "versions.alertmanager")


# -- the table against the real programs ---------------------------------------------------------


def sample(key: str) -> Any:
    """A value of the right shape for ``key`` (amtool checks the shape before anything else)."""
    if key.endswith("_configs"):
        return []
    if key.endswith(("_config", "labels")) or key in ("tracing", "event_recorder"):
        return {}
    return "http://127.0.0.1:9/" if key.endswith("_url") else "x"


def keyed(where: str, key: str) -> dict[str, Any]:
    if where == "":
        return {**receiver(), key: sample(key)}
    if where == "global":
        return {"global": {key: sample(key)}, **receiver()}
    return receiver(**{key: sample(key)})


TABLE = [(where, key) for where in ("", "global", "receivers") for key in SINCE[where]]


def amtool_accepts(amtool: str, config: dict[str, Any], tmp_path: Path) -> tuple[bool, str]:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


@pytest.mark.parametrize(("where", "key"), TABLE, ids=[f"{w or 'top'}.{k}" for w, k in TABLE])
def test_the_table_says_what_the_real_amtools_load(where: str, key: str, tmp_path: Path) -> None:
    """Each top-level, global and receiver key: Debian's 0.25 amtool refuses it, naming it, and
    the 0.28.1 build loads it exactly when the table says 0.28 has it."""
    config, since = keyed(where, key), SINCE[where][key]
    ok, said = amtool_accepts(require("amtool"), config, tmp_path)
    assert not ok and f"field {key} not found" in said, f"Debian's amtool on {key}: {said}"
    built = alertmanager_binaries("0.28.1")
    ok, said = amtool_accepts(built.amtool, config, tmp_path)
    assert ok == (since <= Version(0, 28, 1)), f"amtool 0.28.1 on {key} (since {since}): {said}"


def test_a_pin_too_old_is_told_to_rise() -> None:
    config = receiver(jira_configs=[{}])
    with pytest.raises(ConfigError) as caught:
        check_supported(config, "0.27.0", "its Go module", pinned=True)
    assert str(caught.value) == (
        "alertmanager.yml: jira_configs needs Alertmanager ≥ 0.28 (this run: 0.27.0 from its Go "
        "module); raise versions.alertmanager in synthmon.yaml to 0.28 or later"
    )


@pytest.mark.parametrize(
    ("image", "refused"),
    [("prom/alertmanager:v0.25.0", True), ("prom/alertmanager:v0.28.1", False),
     ("localhost/am:latest", False)],  # no release in the tag: nothing to check against
)  # fmt: skip
def test_a_container_image_tagged_with_a_release_is_checked(image: str, refused: bool) -> None:
    teams = yaml.safe_dump(TEAMS)
    if not refused:
        embedded.alertmanager_container({"alertmanager": 9093}, teams, image, ())
        return
    with pytest.raises(ConfigError, match=rf"msteams_configs needs .* from image {image}\)"):
        embedded.alertmanager_container({"alertmanager": 9093}, teams, image, ())
