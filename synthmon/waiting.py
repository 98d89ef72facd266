"""One wait with a deadline, and one watch window, for everything synthmon polls.

Why not stamina or tenacity: neither is a dependency, and both retry on exceptions with
backoff, while these waits poll a state at a fixed interval and must say, on timeout, what
they saw last. Twenty lines here do that; a library would need an adapter of the same size.

:func:`wait_until` polls until the probe shows its value, :func:`never_during` watches that
something does not happen; both fail with a synthmon error (:class:`~synthmon.errors.WaitTimeout`,
:class:`~synthmon.errors.UnexpectedEvent`) naming what, the deadline, and what was seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from synthmon.errors import UnexpectedEvent, WaitTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class NotYet:
    """A probe's "not yet", with what it saw (a timeout shows the last one)."""

    seen: str


def wait_until(
    probe: Callable[[], T | NotYet],
    *,
    timeout_s: float,
    interval_s: float = 0.5,
    what: str,
    retry_on: tuple[type[Exception], ...] = (),
    describe: Callable[[], str] | None = None,
) -> T:
    """The probe's first truthy value that is not :class:`NotYet`, polling every ``interval_s``.

    The probe runs at least once, and once more after the deadline has passed. An exception in
    ``retry_on`` counts as "not yet" (a service still starting). On timeout: WaitTimeout naming
    ``what`` and the deadline, with what was seen last: ``describe()`` if given (the state now),
    else the last NotYet or falsy value, and the last error if the last probe raised one.
    """
    end = time.monotonic() + timeout_s
    while True:
        error: Exception | None = None
        try:
            value = probe()
            if value and not isinstance(value, NotYet):
                return value
            seen = value.seen if isinstance(value, NotYet) else repr(value)
        except retry_on as exc:
            error, seen = exc, str(exc)
        if time.monotonic() >= end:
            if describe is not None:
                seen = describe()
                if error is not None:
                    seen = f"{seen}; last error: {error}" if seen else f"last error: {error}"
            shown = f"; last seen: {seen}" if seen else ""
            raise WaitTimeout(
                f"timed out after {timeout_s:g} s waiting for {what}{shown}",
                what=what,
                timeout_s=timeout_s,
                seen=seen,
            )
        time.sleep(interval_s)


def never_during(
    probe: Callable[[], str], *, window_s: float, interval_s: float = 0.5, what: str
) -> None:
    """Watch for ``window_s`` seconds that ``probe`` sees nothing (it returns "" while all is
    well, else what it saw); UnexpectedEvent as soon as it sees something."""
    start = time.monotonic()
    while True:
        seen = probe()
        elapsed = time.monotonic() - start
        if seen:
            raise UnexpectedEvent(
                f"expected {what} (watched {window_s:g} s), after {elapsed:.1f} s got {seen}",
                what=what,
                elapsed_s=elapsed,
                seen=seen,
            )
        if elapsed >= window_s:
            return
        time.sleep(interval_s)
