"""The SMTP sink: one port for every email destination, told apart by the EHLO name.

The redirected config gives each destination ``hello: r/{receiver}/email/{index}``; the
sink offers STARTTLS (a throwaway certificate from trustme) and accepts AUTH PLAIN/LOGIN
with any credentials, so a config that requires TLS and auth runs exactly as written.
"""

from __future__ import annotations

import email
import email.policy
import re
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from synthmon.sinks._parse import ParsedAlert, alerts_of, email_text
from synthmon.sinks._store import Store

HELLO = re.compile(r"^r/([^/]+)/email/(\d+)$")


def destination_of(hello: str | None) -> tuple[str, int]:
    """``(receiver, index)`` from an EHLO name; ``("", 0)`` when it does not follow the scheme."""
    found = HELLO.match(hello or "")
    return (unquote(found[1]), int(found[2])) if found else ("", 0)


def tls_context() -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1/localhost, made now, never stored."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def accept_any(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Any credentials pass: the sink proves the client authenticates, not with what."""
    return AuthResult(success=True, handled=False)


class SmtpHandler:
    """aiosmtpd handler: every accepted message becomes email notifications."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""  # the bytes as received, before decoding
        message = email.message_from_bytes(content, policy=email.policy.default)
        ok = isinstance(message, EmailMessage)  # always, with policy.default; mypy can't tell
        alerts = alerts_of("email", email_text(message)) if ok else [ParsedAlert()]
        receiver, index = destination_of(session.host_name)
        recipients = ",".join(str(r) for r in envelope.rcpt_tos)
        self.store.add_request(receiver, "email", index, "DATA", session.host_name or "",
                               status_code=250, notification=True, tls=session.ssl is not None,
                               authenticated=bool(session.authenticated))  # fmt: skip
        self.store.add("email", recipients, alerts, content.decode("utf-8", "replace"),
                       receiver=receiver, index=index, method="DATA",
                       path=session.host_name or "")  # fmt: skip
        return "250 Message accepted for delivery"


class _SMTP(SMTP):
    """aiosmtpd with the LOGIN challenges most servers send (Postfix, Exchange Online):
    aiosmtpd's own "User Name" is refused by Alertmanager's LOGIN client."""

    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"


def smtp_server(store: Store, context: ssl.SSLContext) -> SMTP:
    """One connection's SMTP protocol (a fresh one a connection)."""
    return _SMTP(
        SmtpHandler(store), hostname="synthmon-sinks", ident="synthmon sinks",
        tls_context=context, require_starttls=False, authenticator=accept_any,
        auth_require_tls=False,
    )  # fmt: skip
