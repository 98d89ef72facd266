"""One small tree of exceptions; each message says what failed, where, and what was expected."""


class SynthmonError(Exception):
    """Base of every error synthmon raises on purpose (printed as one line, no traceback)."""


class ConfigError(SynthmonError):
    """Bad input: a settings value, SLO file, config file or URL that cannot be used."""


class StackError(SynthmonError):
    """A stack service failed to start, become ready or stop."""


class QueryError(SynthmonError):
    """A Prometheus or Alertmanager query failed or returned no data."""
