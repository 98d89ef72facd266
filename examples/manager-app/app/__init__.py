"""The reference service under test: the runbook's "Claude Code Manager" task API.

A small but honest service: real PostgreSQL, Redis and GitHub-upstream dependencies, real
Prometheus metrics and JSON logs, plus chaos controls so the suite can prove its alerts fire.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
