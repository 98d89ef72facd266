"""Which span carries a slow endpoint's added latency (synthmon.traces.attribution), on traces
shaped like the reference app's: the PostgreSQL link slowed, the Redis link slowed, the GitHub
upstream slowed, and the time in the handler itself (no child explains it: the check fails)."""

from __future__ import annotations

import json

import pytest

from synthmon.traces.attribution import Investigation, attribute, endpoint_span, group_of
from synthmon.traces.expect import SpanExpectation
from synthmon.traces.model import Span, Trace
from tests._traces import LIST, REPO, TASK, Builder, repo, task, task_list

POSTGRES = SpanExpectation(attributes={"db.system": "postgresql"})
REDIS = SpanExpectation(attributes={"db.system": "redis"})
GITHUB = SpanExpectation(kind="client", attributes={"server.port": 8081})
SLOW = 300_000  # µs: what the scenarios add on a link

BEFORE_TASK = [task(db_us=800 + 50 * i) for i in range(10)]
BEFORE_LIST = [task_list(hit=i % 5 != 0) for i in range(10)]  # one miss in five


def test_postgres_latency_is_carried_by_the_postgres_span() -> None:
    slow = [task(db_us=SLOW + 900 + i * 100) for i in range(30)]
    found = attribute(Investigation(TASK, POSTGRES), slow, BEFORE_TASK)
    assert found.holds, found.verdict()
    assert (found.agree, len(found.carriers), found.searched) == (5, 5, 30)
    assert found.carrier == "manager-app client [postgresql]"
    assert found.verdict().startswith(
        "GET /api/tasks/{task_id}: a span {db.system=postgresql} carries the added latency: "
        "`manager-app client [postgresql]` in 5/5 of the slowest traces (+302."
    )
    assert "baseline: 10 traces before the fault" in found.verdict()
    # the N slowest are judged, slowest first
    durations = [c.duration_us for c in found.carriers]
    assert durations == sorted(durations, reverse=True)
    assert durations[0] == max(s.duration_us for t in slow if (s := endpoint_span(t, TASK)))


def test_expecting_redis_on_the_postgres_latency_fails_naming_the_carrier() -> None:
    slow = [task(db_us=SLOW) for _ in range(8)]
    found = attribute(Investigation(TASK, REDIS), slow, BEFORE_TASK)
    assert not found.holds
    assert found.verdict().startswith(
        "GET /api/tasks/{task_id}: expected a span {db.system=redis} to carry the added "
        "latency, but `manager-app client [postgresql]` does (5/5 of the slowest traces, +299."
    )
    assert found.verdict().endswith("no span of these traces is a span {db.system=redis}")
    # a span that is there but gained nothing says what it gained
    listed = [task_list(hit=False, db_us=SLOW) for _ in range(5)]
    found = attribute(Investigation(LIST, REDIS), listed, BEFORE_LIST)
    assert "but `manager-app client [postgresql]` does" in found.verdict()
    assert found.verdict().endswith("a span {db.system=redis} gained +0.2 ms")  # a SET more


def test_redis_latency_is_carried_by_the_redis_spans_hits_and_misses_alike() -> None:
    # on a miss the Redis GET and SET are both slow (one group: the link), the SELECT is not
    slow = [task_list(redis_us=SLOW, hit=i % 4 != 0) for i in range(20)]
    found = attribute(Investigation(LIST, REDIS), slow, BEFORE_LIST)
    assert found.holds, found.verdict()
    assert found.carrier == "manager-app client [redis]"
    assert all(c.share > 0.95 for c in found.carriers), found.to_json()
    wrong = attribute(Investigation(LIST, POSTGRES), slow, BEFORE_LIST)
    assert not wrong.holds and "but `manager-app client [redis]` does" in wrong.verdict()


def test_upstream_latency_is_carried_by_the_http_client_span() -> None:
    found = attribute(
        Investigation(REPO, GITHUB), [repo(SLOW) for _ in range(6)], [repo() for _ in range(6)]
    )
    assert found.holds, found.verdict()
    assert found.carrier == "manager-app client GET -> 127.0.0.1:8081"


def test_time_in_the_endpoints_own_span_fails_saying_no_child_explains_it() -> None:
    slow = [task(work_us=SLOW) for _ in range(6)]
    found = attribute(Investigation(TASK, POSTGRES), slow, BEFORE_TASK)
    assert not found.holds
    assert found.verdict().startswith(
        "GET /api/tasks/{task_id}: the added latency is in the endpoint's own span "
        "`manager-app server GET /api/tasks/{task_id}` (5/5 of the slowest traces, +300.0 ms"
    )
    assert "no child span explains it, the traces do not show where the time went" in (
        found.verdict()
    )
    # the server span is never "the expected span", even when the expectation matches it
    anything_of_the_app = SpanExpectation(service="manager-app")
    assert not attribute(Investigation(TASK, anything_of_the_app), slow, BEFORE_TASK).holds


def test_a_fault_that_never_reached_the_traces_does_not_pass_on_the_usual_largest_span() -> None:
    """Why a baseline: in a healthy request the query *is* the largest self time; without a
    comparison the check would name it and pass although nothing was added."""
    healthy = [task(db_us=850) for _ in range(6)]
    no_baseline = attribute(Investigation(TASK, POSTGRES), healthy)
    assert no_baseline.holds  # the largest self time alone is fooled...
    assert "no baseline traces before the fault: gain = absolute self time" in (
        no_baseline.verdict()
    )
    compared = attribute(Investigation(TASK, POSTGRES), healthy, BEFORE_TASK)
    assert not compared.holds, compared.verdict()  # ...the comparison is not


def test_a_minority_of_slow_traces_is_not_an_answer() -> None:
    # the three slowest are slow in the handler, the two next in the database
    slow = [task(work_us=SLOW + 1000 * i) for i in range(3)] + [task(db_us=SLOW) for _ in range(2)]
    found = attribute(Investigation(TASK, POSTGRES), slow, BEFORE_TASK)
    assert (found.holds, found.agree) == (False, 2)
    assert "endpoint's own span" in found.verdict()


def test_time_spread_over_many_spans_names_no_carrier() -> None:
    """A carrier must hold half a trace's gain: spread latency does not show where it went."""

    def spread() -> Trace:
        built = Builder(TASK).postgres(120_000).child("render", 100_000, kind="internal")
        return built.child("serialize", 100_000, kind="internal").trace()

    found = attribute(Investigation(TASK, POSTGRES), [spread() for _ in range(5)], BEFORE_TASK)
    assert not found.holds
    assert "(`manager-app client [postgresql]`) gained the most but holds only 37%" in (
        found.verdict()
    )
    assert "the time is spread, the traces do not show where it went" in found.verdict()


def test_no_traces_of_the_endpoint_says_so() -> None:
    found = attribute(Investigation(TASK, POSTGRES), [repo(SLOW)], BEFORE_TASK)
    assert not found.holds and found.searched == 0
    assert found.verdict() == (
        "GET /api/tasks/{task_id}: no traces of the endpoint while the fault held "
        "(baseline: 10 traces before the fault)"
    )


def test_the_evidence_json_lists_each_slow_trace() -> None:
    found = attribute(Investigation(TASK, POSTGRES, traces=3), [task(SLOW)] * 4, BEFORE_TASK)
    data = json.loads(json.dumps(found.to_json()))
    assert data["holds"] and data["agree"] == 3 and len(data["slowest"]) == 3
    first = data["slowest"][0]
    assert first["carrier"] == "manager-app client [postgresql]" and first["agrees"]
    assert data["baseline"]["traces"] == 10
    assert data["baseline"]["self_ms"]["manager-app client [postgresql]"] == pytest.approx(1.025)


def test_the_expected_span_and_the_groups_read_as_the_report_says_them() -> None:
    assert Investigation(TASK, REDIS).expected() == "a span {db.system=redis}"
    flagged = Span("a", None, "x", "svc", 0, 1, "client", {"cached": True, "port": 8081})
    assert group_of(flagged) == "svc client x"
    query = next(s for s in task().spans if s.name == "SELECT")
    assert group_of(query) == "manager-app client [postgresql]"
