"""The container engine a test runs on, found once the same way everywhere: a skip without one,
unless SYNTHMON_REQUIRE_CONTAINERS=1 (``make test`` sets it: then a failure), and a failure when
an image the test needs is missing (images/build.sh makes them)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

from synthmon.stack import engine


def engine_with(images: Mapping[str, str], what: str) -> engine.Engine:
    """The engine that answers and holds ``images`` (name → image); ``what``: the skip's words."""
    found, tried = engine.find_engine()
    if found is None:
        if os.environ.get("SYNTHMON_REQUIRE_CONTAINERS") == "1":
            pytest.fail(f"SYNTHMON_REQUIRE_CONTAINERS=1 but {tried}", pytrace=False)
        pytest.skip(f"{what}: {tried}")
    missing = engine.missing_images(found, images)
    if missing:
        pytest.fail(f"{found.product}: images missing, run images/build.sh: {missing}")
    return found
