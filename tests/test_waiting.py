"""The one wait with a deadline and the one watch window: values, messages, error fields."""

from __future__ import annotations

import time

import pytest

from synthmon.errors import QueryError, UnexpectedEvent, WaitTimeout
from synthmon.waiting import NotYet, never_during, wait_until


def test_returns_the_probes_first_ready_value() -> None:
    answers = iter([None, NotYet("1 of 3"), [], "ready"])
    assert wait_until(lambda: next(answers), timeout_s=5, interval_s=0.001, what="x") == "ready"


def test_timeout_names_what_the_deadline_and_what_was_seen_last() -> None:
    seen = iter(range(1000))
    with pytest.raises(WaitTimeout) as caught:
        wait_until(
            lambda: NotYet(f"{next(seen)} up"), timeout_s=0.05, interval_s=0.01, what="3 targets up"
        )
    error = caught.value
    assert isinstance(error, QueryError)  # callers that catch QueryError keep working
    assert str(error).startswith("timed out after 0.05 s waiting for 3 targets up; last seen: ")
    assert str(error).endswith(f"{error.seen}") and error.seen.endswith(" up")
    assert (error.what, error.timeout_s) == ("3 targets up", 0.05)


def test_a_zero_deadline_still_probes_once() -> None:
    calls: list[int] = []
    with pytest.raises(WaitTimeout, match=r"after 0 s waiting for it; last seen: False$"):
        wait_until(lambda: calls.append(1) or False, timeout_s=0, what="it")
    assert calls == [1]


def test_errors_to_retry_count_as_not_yet_and_are_shown() -> None:
    def broken() -> bool:
        raise QueryError("Prometheus x: unreachable")

    with pytest.raises(
        WaitTimeout, match=r"for up; last seen: state 7; last error: Prometheus x: unreachable$"
    ):
        wait_until(
            broken,
            timeout_s=0.03,
            interval_s=0.01,
            what="up",
            retry_on=(QueryError,),
            describe=lambda: "state 7",
        )
    with pytest.raises(QueryError, match=r"^Prometheus x: unreachable$"):  # not retried: raised
        wait_until(broken, timeout_s=5, what="up")


def test_never_during_fails_at_the_first_sighting() -> None:
    started = time.monotonic()
    answers = iter(["", "", "1 page"])
    with pytest.raises(UnexpectedEvent) as caught:
        never_during(lambda: next(answers), window_s=30, interval_s=0.01, what="no page")
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith("expected no page (watched 30 s), after ")
    assert str(caught.value).endswith(" got 1 page") and caught.value.seen == "1 page"
    never_during(lambda: "", window_s=0.03, interval_s=0.01, what="no page")  # the control
