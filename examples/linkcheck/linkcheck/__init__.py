"""linkcheck: checks links against the status API and keeps the last result in Redis."""

__version__ = "1.4.0"
