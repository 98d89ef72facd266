"""The oldest Alertmanager that can load each config key, and the check that a run's can.

Why: an Alertmanager older than a key it meets refuses the whole file at start-up with a
"field not found" deep in its log. Checked before anything starts, the run says instead which
key needs which release, which release this run has, and where to pin a newer one.

The table was read from the config structs' YAML tags of each release (``config/config.go``,
``config/notifiers.go``, ``git show vX.Y.0:...``), cross-checked with Alertmanager's CHANGELOG;
0.25.0 (Debian bookworm's) is the baseline: a key missing here loads on it. The
``time_intervals`` keys have not changed since 0.25 (``location`` came in 0.25).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from synthmon.errors import ConfigError


class Version(NamedTuple):
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str, where: str = "version") -> Version:
        """``0.28.1`` or ``v0.28.1``; ConfigError naming ``where`` otherwise."""
        parts = text.strip().removeprefix("v").split(".")
        if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"{where}: {text!r} is not a version like 0.28.1")
        return cls(*(int(p) for p in parts))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def short(self) -> str:
        """``0.26`` for ``0.26.0`` (features arrive in minor releases)."""
        return f"{self.major}.{self.minor}" if self.patch == 0 else str(self)


BASELINE = Version(0, 25, 0)
# Where a key sits: "" (top level), "global", "route" (every route, nested ones too),
# "inhibit_rules", "receivers" (a receiver's keys), or "<kind>_configs" (one notifier's keys).
# where → key → the first release that loads it.
SINCE: Mapping[str, Mapping[str, Version]] = {
    "": {"tracing": Version(0, 30), "event_recorder": Version(0, 33)},
    "global": {
        **dict.fromkeys(
            ("jira_api_url", "rocketchat_api_url", "rocketchat_token", "rocketchat_token_file",
             "rocketchat_token_id", "rocketchat_token_id_file", "smtp_tls_config"),
            Version(0, 28),
        ),
        **dict.fromkeys(
            ("slack_app_token", "slack_app_token_file", "slack_app_url"), Version(0, 30)
        ),
        **dict.fromkeys(
            ("smtp_auth_secret_file", "smtp_force_implicit_tls", "telegram_bot_token",
             "telegram_bot_token_file", "wechat_api_secret_file"),
            Version(0, 31),
        ),
        **dict.fromkeys(("mattermost_webhook_url", "mattermost_webhook_url_file"), Version(0, 32)),
    },
    "route": {"labels": Version(0, 34)},
    "inhibit_rules": {"name": Version(0, 30)},
    "receivers": {
        "msteams_configs": Version(0, 26),
        "msteamsv2_configs": Version(0, 28),
        "jira_configs": Version(0, 28),
        "rocketchat_configs": Version(0, 28),
        "incidentio_configs": Version(0, 29),
        "mattermost_configs": Version(0, 30),
        "labels": Version(0, 33),
    },
    "discord_configs": {
        "webhook_url_file": Version(0, 27),
        **dict.fromkeys(("content", "username", "avatar_url"), Version(0, 28)),
    },
    "msteams_configs": {"summary": Version(0, 27), "webhook_url_file": Version(0, 27)},
    "pushover_configs": {
        **dict.fromkeys(("device", "token_file", "user_key_file"), Version(0, 26)),
        "ttl": Version(0, 27),
        "monospace": Version(0, 29),
    },
    "telegram_configs": {
        "bot_token_file": Version(0, 26),
        "message_thread_id": Version(0, 28),
        "chat_id_file": Version(0, 31),
    },
    "webhook_configs": {
        "url_file": Version(0, 26),
        "timeout": Version(0, 28),
        "payload": Version(0, 32),
    },
    "jira_configs": {"api_type": Version(0, 29)},
    "email_configs": {
        "threading": Version(0, 30),
        **dict.fromkeys(("auth_secret_file", "force_implicit_tls"), Version(0, 31)),
    },
    "pagerduty_configs": {"timeout": Version(0, 30)},
    "slack_configs": {
        **dict.fromkeys(("app_token", "app_token_file", "app_url", "timeout"), Version(0, 30)),
        "message_text": Version(0, 31),
        "update_message": Version(0, 32),
    },
    "wechat_configs": {"api_secret_file": Version(0, 31)},
    "sns_configs": {"use_aws_http_client": Version(0, 33)},
}  # fmt: skip


def _mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    """The mappings of a list (or the mapping itself); anything else has no keys to check."""
    items = value if isinstance(value, list) else [value]
    yield from (item for item in items if isinstance(item, Mapping))


def _routes(route: Any) -> Iterator[Mapping[str, Any]]:
    for node in _mappings(route):
        yield node
        yield from _routes(node.get("routes"))


def _keys(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, key) for every key of ``config`` the table knows a place for."""
    yield from (("", key) for key in config)
    for where, nodes in (
        ("global", _mappings(config.get("global"))),
        ("route", _routes(config.get("route"))),
        ("inhibit_rules", _mappings(config.get("inhibit_rules"))),
    ):
        yield from ((where, key) for node in nodes for key in node)
    for receiver in _mappings(config.get("receivers")):
        for key, value in receiver.items():
            yield "receivers", key
            yield from ((key, field) for notifier in _mappings(value) for field in notifier)


def _name(where: str, key: str) -> str:
    if where in ("", "receivers"):
        return key
    return f"{where}.{key}"


def required_version(config: Mapping[str, Any]) -> tuple[Version, list[str]]:
    """The oldest Alertmanager that loads ``config``, and the features that need it (sorted);
    the baseline and no features when 0.25 loads it."""
    needs: dict[str, Version] = {}
    for where, key in _keys(config):
        since = SINCE.get(where, {}).get(key)
        if since is not None and since > BASELINE:
            needs[_name(where, key)] = since
    if not needs:
        return BASELINE, []
    top = max(needs.values())
    return top, sorted(name for name, since in needs.items() if since == top)


def newer_features(config: Mapping[str, Any], version: Version) -> dict[str, Version]:
    """Every feature of ``config`` that ``version`` cannot load, with the release it needs."""
    found: dict[str, Version] = {}
    for where, key in _keys(config):
        since = SINCE.get(where, {}).get(key)
        if since is not None and since > version:
            found[_name(where, key)] = since
    return found


def check_supported(
    config: Mapping[str, Any],
    version: Version | str,
    source: str,
    *,
    file: str = "alertmanager.yml",
    pinned: bool = False,
) -> None:
    """ConfigError, one line, when the Alertmanager of this run (``version``, from ``source``:
    "Debian", "its Go module", "image NAME") cannot load ``config``; ``pinned``: ``version`` is
    the project's pin (the advice is then to raise it)."""
    have = version if isinstance(version, Version) else Version.parse(version)
    missing = newer_features(config, have)
    if not missing:
        return
    top = max(missing.values())
    names = sorted(sorted(missing), key=missing.__getitem__, reverse=True)  # newest first
    if len(names) == 1:
        what = f"{names[0]} needs"
    else:
        what = ", ".join(f"{n} ({missing[n].short()})" for n in names) + " need"
    raise ConfigError(
        f"{file}: {what} Alertmanager ≥ {top.short()} (this run: {have} from {source}); "
        + (f"raise versions.alertmanager in synthmon.yaml to {top.short()} or later"
           if pinned else "pin versions.alertmanager in synthmon.yaml")
    )  # fmt: skip
