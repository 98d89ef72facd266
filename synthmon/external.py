"""An external stack (``--stack external``): its settings, its clients, and what may run on it.

Why one module: a deployed environment is somebody else's, so everything that differs from the
embedded stack is decided here. Credentials come only from the environment or files and live
in :class:`Secret` (masked in every repr); the one place that reads a secret puts it into an
``Authorization`` header. Checks that inject faults are skipped unless allowed, and load is
capped to the smoke profile unless allowed.
"""

from __future__ import annotations

import base64
import dataclasses
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi
import httpx

from synthmon.durations import parse_duration
from synthmon.errors import ConfigError

if TYPE_CHECKING:
    from synthmon.alerting import AlertmanagerClient
    from synthmon.load import LoadProfile
    from synthmon.prom import Prometheus
    from synthmon.settings import Settings

DESTRUCTIVE_SKIP = (
    "destructive: not run against an external stack without --allow-destructive "
    "(SYNTHMON_ALLOW_DESTRUCTIVE=1)"
)
LOAD_CAP_PROFILE = "smoke"


class Secret:
    """A credential; ``value`` is read only where it goes into a header. repr/str show where
    it came from instead, so settings can be printed, logged and shown by ``pytest -l``.
    Not a dataclass on purpose: ``dataclasses.asdict(settings)`` must not unpack it."""

    __slots__ = ("source", "value")

    def __init__(self, value: str, source: str) -> None:
        self.value, self.source = value, source

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.value, self.source) == (
            other.value,
            other.source,
        )

    def __hash__(self) -> int:
        return hash((self.value, self.source))


# -- settings -----------------------------------------------------------------------------------

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _switch(name: str, value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text not in _TRUE + _FALSE:
        raise ConfigError(f"{name}: expected 1/0, true/false, yes/no or on/off, got {value!r}")
    return text in _TRUE


def _file(name: str, value: str | None) -> Path | None:
    """A readable file, tried once here so that a typo fails before anything starts."""
    if not value:
        return None
    try:
        with open(value, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {value}: {exc.strerror or exc}") from None
    return Path(value)


def _secret(raw: Mapping[str, str | None], sources: Mapping[str, str], name: str) -> Secret | None:
    """``name`` (env only) or the contents of ``name_file``, not both; messages name the
    variable or the file, never the value."""
    direct, path = raw[name], raw[f"{name}_file"]
    if direct and path:
        raise ConfigError(f"give {sources[name]} or {sources[name + '_file']}, not both")
    if direct:
        return Secret(direct, sources[name])
    if not path:
        return None
    where = sources[f"{name}_file"]
    try:
        text = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read {path}: {reason or exc}") from None
    if not text.strip():
        raise ConfigError(f"{where}: {path} is empty (expected the secret on its first line)")
    return Secret(text, f"{where} {path}")


def _duration(name: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{name}: expected a duration > 0, got {text!r}")
    return seconds


def synthetic_settings(raw: Mapping[str, str | None], sources: Mapping[str, str]) -> dict[str, Any]:
    """The Settings fields of the nightly synthetic mode, from raw option values."""
    _duration(sources["dashboard_rate_interval"], str(raw["dashboard_rate_interval"]))
    return {
        "allow_destructive": _switch(sources["allow_destructive"], raw["allow_destructive"]),
        "allow_load": _switch(sources["allow_load"], raw["allow_load"]),
        "slo_lookback": _duration(sources["slo_lookback"], str(raw["slo_lookback"])),
        "push_instance": raw["push_instance"] or None,
        "bearer_token": _secret(raw, sources, "bearer_token"),
        "basic_auth_user": raw["basic_auth_user"] or None,
        "basic_auth_password": _secret(raw, sources, "basic_auth_password"),
        "ca_file": _file(sources["ca_file"], raw["ca_file"]),
        "client_cert": _file(sources["client_cert"], raw["client_cert"]),
        "client_key": _file(sources["client_key"], raw["client_key"]),
        "dashboards": Path(str(raw["dashboards"])),
        "dashboard_rate_interval": str(raw["dashboard_rate_interval"]),
    }


def check_auth(settings: Settings) -> None:
    """One way to authenticate, and TLS files that belong together."""
    where = settings.where
    if settings.bearer_token and (settings.basic_auth_user or settings.basic_auth_password):
        raise ConfigError(
            f"give bearer auth ({where('bearer_token')}) or basic auth "
            f"({where('basic_auth_user')}), not both"
        )
    if bool(settings.basic_auth_user) != bool(settings.basic_auth_password):
        given, missing = ("basic_auth_user", "basic_auth_password")
        if not settings.basic_auth_user:
            given, missing = missing, given
        raise ConfigError(f"{where(given)} needs {where(missing)} too")
    if settings.client_key and not settings.client_cert:
        raise ConfigError(f"{where('client_key')} needs {where('client_cert')} too")


# -- clients ------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ClientConfig:
    """How to talk to the external stack: one Authorization header and the TLS trust/identity.

    Empty for the embedded stack: its clients are built exactly as before.
    """

    authorization: Secret | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        auth = "none" if self.authorization is None else self.authorization.value.split(" ")[0]
        return f"ClientConfig(auth={auth}, ca_file={self.ca_file}, client_cert={self.client_cert})"

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.authorization is None else {"Authorization": self.authorization.value}

    @property
    def has_tls(self) -> bool:
        return self.ca_file is not None or self.client_cert is not None

    def without_auth(self) -> ClientConfig:
        """The same TLS trust, no credentials (for a service that must not see them)."""
        return dataclasses.replace(self, authorization=None)

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies against ``ca_file`` (else certifi's bundle, as httpx does) and presents the
        client certificate when given; bad PEM is a one-line ConfigError naming the option."""
        ca = self.ca_file or Path(certifi.where())
        try:
            context = ssl.create_default_context(cafile=str(ca))
        except (ssl.SSLError, OSError) as exc:
            name = self.sources.get("ca_file", "ca_file")
            raise ConfigError(f"{name}: {ca} is not a PEM CA bundle ({exc})") from None
        if self.client_cert is not None:
            key = None if self.client_key is None else str(self.client_key)
            try:
                context.load_cert_chain(str(self.client_cert), key)
            except (ssl.SSLError, OSError) as exc:
                name = self.sources.get("client_cert", "client_cert")
                raise ConfigError(
                    f"{name}: {self.client_cert} (key {self.client_key or 'in the same file'}) "
                    f"is not a PEM certificate and matching key ({exc})"
                ) from None
        return context

    def httpx_client(self, timeout: float, base_url: str = "") -> httpx.Client:
        """An httpx client with the credentials and TLS of this config."""
        verify: ssl.SSLContext | bool = self.ssl_context() if self.has_tls else True
        return httpx.Client(base_url=base_url, timeout=timeout, headers=self.headers, verify=verify)


def client_config(settings: Settings, *, remote: bool = False) -> ClientConfig:
    """The ClientConfig of ``settings``: credentials and TLS apply to an external stack only,
    so a token meant for a deployed environment is never sent to local processes. ``remote``:
    the caller talks only to a URL the user named (``synthmon gate``), whatever the stack."""
    if settings.stack != "external" and not remote:
        return ClientConfig()
    authorization = None
    if settings.bearer_token is not None:
        authorization = Secret(
            f"Bearer {settings.bearer_token.value}", settings.bearer_token.source
        )
    elif settings.basic_auth_user and settings.basic_auth_password is not None:
        pair = f"{settings.basic_auth_user}:{settings.basic_auth_password.value}"
        authorization = Secret(
            f"Basic {base64.b64encode(pair.encode()).decode()}",
            settings.basic_auth_password.source,
        )
    return ClientConfig(
        authorization,
        settings.ca_file,
        settings.client_cert,
        settings.client_key,
        {name: settings.where(name) for name in ("ca_file", "client_cert")},
    )


def secrets_of(settings: Settings) -> list[str]:
    """What outputs must mask: each credential, raw and as its Authorization header value."""
    found = [s.value for s in (settings.bearer_token, settings.basic_auth_password) if s]
    headers = client_config(settings, remote=True).headers
    return found + [value.partition(" ")[2] for value in headers.values()]  # base64 user:pw


def prometheus(settings: Settings, url: str, *, remote: bool = False) -> Prometheus:
    """A Prometheus client with the stack's credentials and TLS (see :func:`client_config`)."""
    from synthmon.prom import Prometheus

    config = client_config(settings, remote=remote)
    client = Prometheus(url, timeout=settings.http_timeout, headers=config.headers)
    if config.has_tls:
        # Prometheus takes verify as a bool only; its requests session takes a CA path and a
        # client certificate, and prometheus-api-client sends both with every call.
        config.ssl_context()  # bad PEM fails here, in one line, not at the first query
        session = client._session
        session.verify = str(config.ca_file) if config.ca_file else True
        if config.client_cert is not None:
            session.cert = (
                str(config.client_cert)
                if config.client_key is None
                else (str(config.client_cert), str(config.client_key))
            )
    return client


def alertmanager(settings: Settings, url: str) -> AlertmanagerClient:
    """An Alertmanager API v2 client with the stack's credentials and TLS."""
    from synthmon.alerting import AlertmanagerClient

    config = client_config(settings)
    client = AlertmanagerClient(url, timeout=settings.http_timeout, headers=config.headers)
    if config.has_tls:  # AlertmanagerClient builds a plain httpx client: swap in ours
        client.close()
        client._http = config.httpx_client(settings.http_timeout, f"{client.base_url}/api/v2")
    return client


# -- what may run ---------------------------------------------------------------------------------


def max_rate(profile: LoadProfile) -> float:
    """The most requests per second ``profile`` can offer (closed loop: users / shortest wait)."""
    if profile.constant_throughput and profile.target_rps is not None:
        return profile.target_rps
    if profile.wait_min_s <= 0:
        return float("inf")
    return profile.users / profile.wait_min_s


def cap_load(profile: LoadProfile, cap: LoadProfile) -> LoadProfile:
    """``profile`` if it is no bigger than ``cap`` (users, offered rate, duration), else ``cap``
    itself: on somebody else's environment a synthetic run may probe, not stress."""
    fits = (
        profile.users <= cap.users
        and profile.steady_s <= cap.steady_s
        and max_rate(profile) <= max_rate(cap)
    )
    return profile if fits else cap


def describe_load(profile: LoadProfile) -> str:
    rate = max_rate(profile)
    shown = "unbounded" if rate == float("inf") else f"up to {rate:g} req/s"
    return f"{profile.name}: {profile.users} users, {shown}, {profile.steady_s:g} s steady"
