"""PromQL builders: no label value can change a query's meaning.

The property tests parse the built selector back with an independent reader of the PromQL
grammar (Go string-literal escapes) and check each label value round-trips; promtool checks
that a batch of built queries parses in Prometheus's own parser. test_slo_prometheus.py also
round-trips values through a real Prometheus.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from synthmon.errors import ConfigError
from synthmon.slo import promql
from synthmon.slo.spec import Objective, SLOMetrics, SLOSpec

EVIL = ['"} or vector(1) #', '\\"}', 'a"b', "x\\", "\n", '"', "\\n", "}", "{", "\x00\x7f", "é☃𝄞"]
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", '"': '"'}  # fmt: skip
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def read_string(text: str, pos: int) -> tuple[str, int]:
    """A PromQL double-quoted string at ``pos``: (value, position after the closing quote)."""
    assert text[pos] == '"', text[pos:]
    out: list[str] = []
    pos += 1
    while True:
        char = text[pos]
        if char == '"':
            return "".join(out), pos + 1
        assert char != "\n", "a raw newline ends a PromQL string with an error"
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        code = text[pos + 1]
        if code in _SIMPLE:
            out.append(_SIMPLE[code])
            pos += 2
        elif code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            out.append(chr(int(text[pos + 2 : pos + 2 + width], 16)))
            pos += 2 + width
        elif code in "01234567":
            out.append(chr(int(text[pos + 1 : pos + 4], 8)))
            pos += 4
        else:
            raise AssertionError(f"invalid escape \\{code}")


def parse_selector(text: str) -> tuple[str, list[tuple[str, str, str]]]:
    """``metric{l="v",...}`` -> (metric, [(label, op, value)]); asserts nothing else follows."""
    head = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", text)
    assert head, text
    pos, matchers = head.end(), []
    while text[pos] != "}":
        name = _LABEL.match(text, pos)
        assert name, text[pos:]
        op = re.compile(r"=~|!=|!~|=").match(text, name.end())
        assert op, text[name.end() :]
        value, pos = read_string(text, op.end())
        matchers.append((name.group(), op.group(), value))
        if text[pos] == ",":
            pos += 1
    assert pos == len(text) - 1, f"trailing text after the selector: {text[pos:]!r}"
    return head.group(1), matchers


@pytest.mark.parametrize("value", EVIL)
def test_hostile_values_stay_one_label_value(value: str) -> None:
    text = promql.selector("http_requests_total", {"job": "app", "endpoint": value})
    assert parse_selector(text) == (
        "http_requests_total",
        [("endpoint", "=", value), ("job", "=", "app")],
    )
    assert "\n" not in text


def test_known_escapes() -> None:
    assert promql.quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert promql.quote("\x00") == '"\\x00"'
    assert promql.quote("é") == '"é"'


@given(st.dictionaries(st.from_regex(_LABEL, fullmatch=True), st.text(), max_size=4))
def test_any_matchers_round_trip(matchers: dict[str, str]) -> None:
    metric, parsed = parse_selector(promql.selector("up", matchers))
    assert metric == "up"
    assert parsed == [(k, "=", v) for k, v in sorted(matchers.items())]


@given(st.text())
def test_quote_round_trips(value: str) -> None:
    text = promql.quote(value)
    assert read_string(text, 0) == (value, len(text))


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", 'job="x"', "é", "a}"])
def test_bad_label_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="label name"):
        promql.selector("up", {name: "x"})


@pytest.mark.parametrize("name", ["", "1up", "up{", "a b", "up or vector(1)"])
def test_bad_metric_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="metric name"):
        promql.selector(name, {})


def test_lone_surrogate_and_empty_window_are_rejected() -> None:
    with pytest.raises(ConfigError, match="surrogate"):
        promql.quote("\ud800")
    with pytest.raises(ConfigError, match="at least 1 s"):
        promql.window(0)


def test_builders() -> None:
    sel = promql.selector(promql.DURATION_BUCKET, {"job": "app"})
    assert promql.resets(sel, 60) == f"resets({sel}[60s])"
    assert promql.increase_quantile(0.95, sel, 600) == (
        f"histogram_quantile(0.95, sum by (le) (increase({sel}[600s])))"
    )
    assert promql.memory_ratio({"job": "app"}, 10) == (
        'max_over_time(process_resident_memory_bytes{job="app"}[10s]) / '
        'min_over_time(app_memory_limit_bytes{job="app"}[10s])'
    )


def test_prometheus_parser_accepts_every_built_query(tmp_path: Path) -> None:
    values = [*EVIL, "".join(chr(c) for c in range(1, 128))]
    exprs = []
    linkcheck = SLOSpec("s", {"job": "linkcheck"}, (), metrics=LINKCHECK_METRICS)
    for value in values:
        matchers = {"job": "app", "endpoint": value}
        sel = promql.selector(promql.DURATION_BUCKET, matchers)
        exprs += [
            promql.increase_quantile(0.95, sel, 300),
            promql.resets(sel, 300),
            promql.raw_range(sel, 300).join(["count_over_time(", ")"]),
            promql.memory_ratio(matchers, 300),
        ]
        obj = Objective("o", "latency", 0.2, 0.95, endpoint=value)
        custom = promql.selector(f"{LINKCHECK_METRICS.duration_histogram}_bucket",
                                 linkcheck.matchers(obj))  # fmt: skip
        exprs += [
            promql.increase_quantile(0.95, custom, 300),
            promql.memory_ratio(linkcheck.matchers(obj), 300, "my:rss", "my_limit"),
        ]
    rules = {"groups": [{"name": "g", "rules": [
        {"record": f"r{i}", "expr": e} for i, e in enumerate(exprs)]}]}  # fmt: skip
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(exprs)} rules found" in done.stdout


def test_the_reader_catches_naive_quoting() -> None:
    """The oracle has teeth: f-string quoting lets the value escape the matcher."""
    naive = 'up{endpoint="' + EVIL[0] + '"}'
    with pytest.raises(AssertionError, match="trailing text"):
        parse_selector(naive)


LINKCHECK_METRICS = SLOMetrics(
    request_counter="http_requests_total",
    duration_histogram="http_request_duration_seconds",
    status_label="status",
    error_status="5xx",
    endpoint_label="handler",
    memory_limit=None,
)


@given(
    label=st.from_regex(_LABEL, fullmatch=True),
    endpoint=st.text(),
    selector=st.dictionaries(st.from_regex(_LABEL, fullmatch=True), st.text(), max_size=3),
)
def test_spec_endpoint_label_and_value_round_trip(
    label: str, endpoint: str, selector: dict[str, str]
) -> None:
    """The endpoint goes on the spec's endpoint label, its value quoted like any other."""
    spec = SLOSpec("s", selector, (), metrics=SLOMetrics(endpoint_label=label))
    obj = Objective("o", "error_rate", 0.01, endpoint=endpoint)
    metric, parsed = parse_selector(promql.selector("my_requests_total", spec.matchers(obj)))
    assert metric == "my_requests_total"
    assert parsed == [(k, "=", v) for k, v in sorted({**selector, label: endpoint}.items())]


@pytest.mark.parametrize("value", EVIL)
def test_hostile_endpoint_on_a_custom_label_stays_one_value(value: str) -> None:
    spec = SLOSpec("s", {"job": "linkcheck"}, (), metrics=LINKCHECK_METRICS)
    obj = Objective("o", "latency", 0.2, 0.95, endpoint=value)
    text = promql.selector("http_request_duration_seconds_bucket", spec.matchers(obj))
    assert parse_selector(text) == (
        "http_request_duration_seconds_bucket",
        [("handler", "=", value), ("job", "=", "linkcheck")],
    )


@pytest.mark.parametrize("name", ["", "1abc", "a-b", 'job="x"', "a}"])
def test_bad_endpoint_label_is_rejected_before_a_query(name: str) -> None:
    obj = Objective("o", "latency", 0.2, 0.95, endpoint="/x")
    with pytest.raises(ConfigError, match="label name"):
        obj.matchers({"job": "x"}, name)
    with pytest.raises(ConfigError, match="no endpoint_label"):
        obj.matchers({"job": "x"}, None)


def test_memory_ratio_with_the_specs_metric_names() -> None:
    assert promql.memory_ratio({"job": "a"}, 10, "rss_bytes", "limit_bytes") == (
        'max_over_time(rss_bytes{job="a"}[10s]) / min_over_time(limit_bytes{job="a"}[10s])'
    )
    with pytest.raises(ConfigError, match="metric name"):
        promql.memory_ratio({"job": "a"}, 10, "rss bytes", "limit_bytes")
