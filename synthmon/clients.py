"""The clients of a stack's services, built in one place with the run's credentials and TLS.

:class:`ClientConfig` is how to talk to an external stack (one Authorization header, the TLS
trust and identity); :func:`prometheus` and :func:`alertmanager` build the API clients with it.
Credentials apply to an external stack only, so a token meant for a deployed environment is
never sent to local processes.
"""

from __future__ import annotations

import base64
import dataclasses
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import certifi
import httpx

from synthmon.errors import ConfigError
from synthmon.secrets import Secret

if TYPE_CHECKING:  # the API clients are imported where built: the plugin imports this early
    from synthmon.alerting import AlertmanagerClient
    from synthmon.prom import Prometheus
    from synthmon.settings import Settings


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
