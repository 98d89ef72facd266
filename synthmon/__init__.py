"""synthmon: a pytest suite and library that proves a service and its monitoring work."""

__version__ = "0.1.0"
