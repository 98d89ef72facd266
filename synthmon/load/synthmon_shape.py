"""The locustfile synthmon adds to the user's (``locust -f user.py,synthmon_shape.py``).

Only an import: the shape and the per-request recorder live in :mod:`synthmon.load.shape`,
imported under its package name so that they are registered once even when the user's
locustfile imports that module too (Locust loads ``-f`` files by path, as new modules).
"""

from synthmon.load.shape import ProfileShape

__all__ = ["ProfileShape"]
