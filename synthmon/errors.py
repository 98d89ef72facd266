"""One small tree of exceptions; each message says what failed, where, and what was expected.

The errors of a call to a stack service also carry their data as fields (``url``, ``status``,
``seen``), so a caller can act on them without parsing the message. Every field has a default:
pickling (xdist, subprocesses) rebuilds an exception from its message, then restores them.
"""


class SynthmonError(Exception):
    """Base of every error synthmon raises on purpose (printed as one line, no traceback)."""


class ConfigError(SynthmonError):
    """Bad input: a settings value, SLO file, config file or URL that cannot be used."""


class StackError(SynthmonError):
    """A stack service failed to start, become ready or stop."""


class QueryError(SynthmonError):
    """A stack service's API (Prometheus, Alertmanager, sinks, Pushgateway) failed, returned no
    data, or did not show what a wait asked for in time."""


class HttpError(QueryError):
    """An HTTP call got an error status, a body it cannot use, or no answer at all.

    ``url`` has any password masked; ``status`` is None when nothing answered; ``seen`` is the
    body excerpt or the transport error (what was seen last).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        status: int | None = None,
        seen: str = "",
    ) -> None:
        super().__init__(message)
        self.method, self.url, self.status, self.seen = method, url, status, seen


class PushError(HttpError):
    """The Pushgateway did not take the results."""


class WaitTimeout(QueryError):
    """What a wait polled for did not happen by its deadline: ``what`` it waited for, the
    deadline ``timeout_s``, and what it ``seen`` last (a value or the last error)."""

    def __init__(
        self, message: str, *, what: str = "", timeout_s: float = 0.0, seen: str = ""
    ) -> None:
        super().__init__(message)
        self.what, self.timeout_s, self.seen = what, timeout_s, seen


class UnexpectedEvent(QueryError):
    """What must not happen during a watch window happened: ``what`` was expected, after
    ``elapsed_s`` seconds, and what was ``seen``."""

    def __init__(
        self, message: str, *, what: str = "", elapsed_s: float = 0.0, seen: str = ""
    ) -> None:
        super().__init__(message)
        self.what, self.elapsed_s, self.seen = what, elapsed_s, seen
