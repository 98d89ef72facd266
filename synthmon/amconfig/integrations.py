"""The changes synthmon may make to a user's alertmanager.yml, kept as data.

Read from Alertmanager 0.25-0.28 (config/config.go ``DefaultGlobalConfig`` and the
``*Config`` structs of config/notifiers.go): for each integration, the field that names where
a notification goes, its ``*_file`` twin, the global that fills it when unset, whether
Alertmanager appends a path to it, the ``send_resolved`` default and its secrets. The
redirection (:mod:`synthmon.amconfig.redirect`) and the allowed-changes test read only this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Integration:
    """One ``<name>_configs`` list of a receiver, as far as the redirection cares."""

    name: str
    destination: str | None  # the field naming where it delivers (None: fixed host)
    destination_file: str | None = None  # its *_file twin (the URL is read from a file)
    global_default: str | None = None  # the global key that fills an unset destination
    global_default_file: str | None = None
    saas_default: str | None = None  # what Alertmanager uses when neither is set
    trailing_slash: bool = False  # Alertmanager appends a path: the sink URL ends with /
    send_resolved: bool = True  # Default<Name>Config.send_resolved
    secrets: tuple[tuple[str, str | None], ...] = ()  # (value field, its *_file twin)
    unverifiable: str | None = None  # always: why no config can redirect it
    unverifiable_if_set: tuple[str, ...] = ()  # unverifiable when any of these is set ...
    unverifiable_if_unset: tuple[str, ...] = ()  # ... or when all of these are unset
    reason: str = ""  # why, for the two conditions above


_PD_V1 = (
    "PagerDuty Events API v1 (service_key): Alertmanager posts to a hard-coded "
    "events.pagerduty.com URL that no config can change; use routing_key (Events v2)"
)

INTEGRATIONS: dict[str, Integration] = {
    i.name: i
    for i in (
        Integration("webhook", "url", "url_file"),
        Integration(
            "slack", "api_url", "api_url_file", "slack_api_url", "slack_api_url_file",
            send_resolved=False,
        ),
        Integration(
            "pagerduty", "url", None, "pagerduty_url",
            saas_default="https://events.pagerduty.com/v2/enqueue",
            secrets=(("routing_key", "routing_key_file"), ("service_key", "service_key_file")),
            unverifiable_if_set=("service_key", "service_key_file"), reason=_PD_V1,
        ),
        Integration(
            "email", "smarthost", None, "smtp_smarthost", send_resolved=False,
            secrets=(("auth_password", "auth_password_file"), ("auth_secret", None)),
        ),
        Integration(
            "opsgenie", "api_url", None, "opsgenie_api_url",
            saas_default="https://api.opsgenie.com/", trailing_slash=True,
            secrets=(("api_key", "api_key_file"),),
        ),
        Integration(
            "victorops", "api_url", None, "victorops_api_url",
            saas_default="https://alert.victorops.com/integrations/generic/20131114/alert/",
            trailing_slash=True, secrets=(("api_key", "api_key_file"),),
        ),
        Integration(
            "wechat", "api_url", None, "wechat_api_url",
            saas_default="https://qyapi.weixin.qq.com/cgi-bin/", trailing_slash=True,
            send_resolved=False, secrets=(("api_secret", None),),
        ),
        # telebot joins URL + "/bot<token>/<method>": a trailing / would double the slash
        Integration(
            "telegram", "api_url", None, "telegram_api_url",
            saas_default="https://api.telegram.org", secrets=(("bot_token", "bot_token_file"),),
        ),
        Integration(
            "webex", "api_url", None, "webex_api_url",
            saas_default="https://webexapis.com/v1/messages",
        ),
        Integration("discord", "webhook_url", "webhook_url_file"),
        Integration("msteams", "webhook_url", "webhook_url_file"),
        Integration("msteamsv2", "webhook_url", "webhook_url_file"),
        Integration("jira", "api_url", None, "jira_api_url", trailing_slash=True),
        Integration(
            "rocketchat", "api_url", None, "rocketchat_api_url",
            saas_default="https://open.rocket.chat/", trailing_slash=True, send_resolved=False,
            secrets=(("token", "token_file"), ("token_id", "token_id_file")),
        ),
        Integration(
            "sns", "api_url", unverifiable_if_unset=("api_url",),
            reason="SNS without api_url: the AWS SDK picks the regional AWS endpoint",
        ),
        Integration(
            "pushover", None,
            secrets=(("user_key", "user_key_file"), ("token", "token_file")),
            unverifiable="Pushover: Alertmanager posts to the fixed api.pushover.net host",
        ),
    )
}  # fmt: skip

# URL fields of integration entries that only go into the notification's text
NON_DESTINATION_URLS = frozenset(
    {"icon_url", "image_url", "thumb_url", "client_url", "avatar_url", "title_link"}
)

# global: (value field, *_file twin) of every secret the global section may hold
GLOBAL_SECRETS: tuple[tuple[str, str | None], ...] = (
    ("smtp_auth_password", "smtp_auth_password_file"),
    ("smtp_auth_secret", None),
    ("opsgenie_api_key", "opsgenie_api_key_file"),
    ("wechat_api_secret", None),
    ("victorops_api_key", "victorops_api_key_file"),
    ("rocketchat_token", "rocketchat_token_file"),
    ("rocketchat_token_id", "rocketchat_token_id_file"),
)

# http_config (prometheus/common HTTPClientConfig): dropped, secret files, TLS files dropped
HTTP_DROPPED = ("proxy_url", "proxy_from_environment", "no_proxy", "proxy_connect_header")
HTTP_SECRET_FILES: tuple[tuple[str, ...], ...] = (
    ("bearer_token_file",),
    ("authorization", "credentials_file"),
    ("basic_auth", "password_file"),
    ("basic_auth", "username_file"),
    ("oauth2", "client_secret_file"),
)
# client certificates and CAs of production hosts: the sinks need none (insecure_skip_verify)
TLS_DROPPED = ("ca_file", "cert_file", "key_file")


def global_destinations() -> dict[str, str]:
    """Every global key that fills a destination (and its file twin) → its integration."""
    found: dict[str, str] = {}
    for integ in INTEGRATIONS.values():
        for key in (integ.global_default, integ.global_default_file):
            if key:
                found[key] = integ.name
    return found


def _entry_fields(integ: Integration) -> list[str]:
    fields = [integ.destination, integ.destination_file]
    fields += [file for _, file in integ.secrets]
    return [f for f in fields if f]


def allowed_changes() -> tuple[str, ...]:
    """Regular expressions of the key paths a rendered copy may differ from the original in:
    redirection (this module's fields) and time scaling (route timers, resolve_timeout)."""
    seg = r"\[\d+\]"
    route = rf"route(\.routes{seg})*\.(group_wait|group_interval|repeat_interval)"
    glob = [*global_destinations(), *(f for _, f in GLOBAL_SECRETS if f)]
    patterns = [
        route,
        r"global\.resolve_timeout",
        rf"global\.({'|'.join(sorted(glob))})",
        r"global\.(http_config|smtp_tls_config)(\..+)?",
        rf"templates{seg}",
    ]
    for integ in INTEGRATIONS.values():
        entry = rf"receivers{seg}\.{integ.name}_configs"
        if integ.unverifiable or integ.unverifiable_if_set or integ.unverifiable_if_unset:
            patterns.append(entry)  # the list itself: an unverifiable entry is removed
        fields = [*_entry_fields(integ), "http_config(\\..+)?"]
        if integ.name == "email":
            fields += ["hello", "tls_config(\\..+)?"]
        patterns.append(rf"{entry}{seg}\.({'|'.join(fields)})")
    return tuple(patterns)


def is_allowed_change(path: str) -> bool:
    """Whether the key path ``path`` is one synthmon may change (:func:`allowed_changes`)."""
    return any(re.fullmatch(p, path) for p in allowed_changes())
