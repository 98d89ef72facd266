"""Masking secrets in text: URL passwords, and the values a run knows to be secret.

A :class:`Redactor` knows the run's secrets (env vars named like tokens, passwords or keys,
``SYNTHMON_*_FILE`` contents, URL passwords, values the stack registers) and masks them in every
spelling an output uses (raw, URL/JSON/XML-escaped, repr, Basic-auth base64): a token has no
shape, but the run knows its tokens. :func:`hide_password` is the one URL-password masker for
messages. Apart from the pytest plugin (synthmon.redact) so that clients and settings can mask
without importing pytest hooks; only the standard library here.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask half the output and hide little
SENSITIVE_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|KEY", re.IGNORECASE)
SECRET_FILE_NAME = re.compile(r"SYNTHMON_\w+_FILE")
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_NOT_SECRETS = frozenset({"true", "false", "yes", "no", "none", "null"})
# user:PASSWORD@ after ``scheme://`` (or a bare ``://``: a value whose scheme is the problem);
# the password runs to the last @ of the authority, as urlsplit reads it (a raw @ in it).
_USERINFO = re.compile(r"((?:\b[a-zA-Z][a-zA-Z0-9+.-]*)?://[^/\s:@'\"]*:)[^/\s'\"]+(?=@)")


def hide_password(text: str) -> str:
    """``text`` with every URL password (``scheme://user:PW@host``) masked: the one masker
    for messages, URLs and logs alike."""
    return _USERINFO.sub(rf"\g<1>{MASK}", text)


def _spellings(secret: str) -> set[str]:
    """Raw, URL/JSON/XML/repr-escaped, and escapes of escapes (a repr of JSON in a traceback)."""
    forms = {secret}
    for _ in range(2):
        forms |= {escaped for form in forms for escaped in (
            quote(form, safe=""), json.dumps(form)[1:-1], escape(form, {'"': "&quot;"}),
            form.replace("\\", "\\\\").replace("'", "\\'"),  # inside a '...' repr
        )}  # fmt: skip
    return forms


class Redactor:
    """Replaces registered secrets (and any URL password) with ``***`` in text and objects."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._forms: set[str] = set()
        self._headers = set(SENSITIVE_HEADERS)
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        """A Redactor knowing the secrets of ``environ`` (default: this process's env)."""
        redactor = cls()
        for name, value in (os.environ if environ is None else environ).items():
            redactor.add_setting(name, value)
        return redactor

    def add(self, secret: str | None) -> None:
        """Register one secret; blank, short or boolean-like values are ignored."""
        value = (secret or "").strip()
        if len(value) < MIN_LENGTH or value.lower() in _NOT_SECRETS:
            return
        for line in {value, *(s.strip() for s in value.splitlines())}:
            if len(line) >= MIN_LENGTH:  # each line too: a key file's lines are printed apart
                self._forms |= {form for form in _spellings(line) if len(form) >= MIN_LENGTH}
        self._pattern = None

    def add_header(self, name: str) -> None:
        """Mask header ``name`` (a project's credential header) whatever its value."""
        self._headers.add(name.lower())

    def add_url(self, url: str | None) -> None:
        """Register the password of ``url`` (also as its Basic-auth header value)."""
        try:
            user, password = urlsplit(url or "").username, urlsplit(url or "").password
        except ValueError:
            return
        if password:
            plain = unquote(password)
            pair = f"{unquote(user or '')}:{plain}".encode()
            for secret in (password, plain, base64.b64encode(pair).decode()):
                self.add(secret)

    def add_setting(self, name: str, value: str) -> None:
        """An env var (or option, by its env name): a sensitive name's value, the contents of
        a ``SYNTHMON_*_FILE`` or of a file a sensitive ``SYNTHMON_*`` names, a URL password."""
        ours = SECRET_FILE_NAME.fullmatch(name) or (
            name.startswith("SYNTHMON_") and SENSITIVE_NAME.search(name)
        )
        if ours and os.path.isfile(value):
            with contextlib.suppress(OSError), open(value, "rb") as handle:
                self.add(handle.read(1 << 16).decode("utf-8", "replace"))
        elif SENSITIVE_NAME.search(name):
            self.add(value)
        if "://" in value:
            self.add_url(value)

    def redact(self, text: str) -> str:
        """``text`` with every secret and URL password replaced by ``***``."""
        if self._pattern is None and self._forms:
            ordered = sorted(self._forms, key=len, reverse=True)  # longest spelling wins
            self._pattern = re.compile("|".join(map(re.escape, ordered)))
        text = hide_password(text)
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def redact_bytes(self, data: bytes) -> bytes:
        """Bytes variant of :meth:`redact` (UTF-8; other bytes pass through), for files."""
        return self.redact(data.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers for a log or report: credential headers always ``***``, others redacted."""
        return dict(self.scrub(dict(headers.items())))

    def scrub(self, obj: Any, _depth: int = 0) -> Any:
        """``obj`` with every string in it redacted; dataclass/attrs objects change in place."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, bytes):
            return self.redact_bytes(obj)
        if _depth > 40:
            return obj
        if isinstance(obj, list):
            obj[:] = [self.scrub(item, _depth + 1) for item in obj]
            return obj
        if isinstance(obj, tuple):
            items = [self.scrub(item, _depth + 1) for item in obj]
            return obj._make(items) if hasattr(obj, "_make") else tuple(items)
        if isinstance(obj, dict):
            return {  # a credential header's value is masked whatever it is
                self.scrub(k, _depth + 1): MASK if str(k).lower() in self._headers
                else self.scrub(v, _depth + 1) for k, v in obj.items()
            }  # fmt: skip
        names: Iterable[str] = ()
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            names = [f.name for f in dataclasses.fields(obj)]
        elif hasattr(type(obj), "__attrs_attrs__"):
            names = [a.name for a in type(obj).__attrs_attrs__]
        for name in names:
            value = getattr(obj, name, None)
            if value is not None:
                object.__setattr__(obj, name, self.scrub(value, _depth + 1))
        return obj


class RedactingFilter(logging.Filter):
    """Redacts a record's message and exception text in place; never drops a record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: the handler reports it
            return True
        clean = self.redactor.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        return True


def install_log_redaction(redactor: Redactor) -> Callable[[], None]:
    """Redact every log record at creation, whatever handler gets it; returns the undo."""
    previous, redact_record = logging.getLogRecordFactory(), RedactingFilter(redactor).filter

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(previous)
