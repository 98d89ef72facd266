"""The SLO spec loader: the shipped spec, a corpus of bad files, and properties of the parser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from synthmon.errors import ConfigError
from synthmon.slo.spec import Objective, SLOMetrics, SLOSpec, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
apiVersion: synthmon/v1
kind: SLOSpec
service: app
selector: {job: app}
objectives:
  - {name: p95, type: latency, percentile: 0.95, threshold: 0.2}
  - {name: errors, type: error_rate, threshold: 0.01}
  - {name: cpu, type: cpu, threshold: 0.7}
  - {name: memory, type: memory, threshold: 0.8}
"""


def test_shipped_baseline_has_the_runbook_baselines() -> None:
    spec = load_spec(ROOT / "examples/manager-app/slo/baseline.yaml")
    by_type = {(o.type, o.endpoint): o for o in spec.objectives}
    assert by_type[("latency", None)].threshold == 0.2
    assert by_type[("latency", None)].percentile == 0.95
    assert by_type[("error_rate", None)].threshold == 0.01
    assert by_type[("cpu", None)].threshold == 0.7
    assert by_type[("memory", None)].threshold == 0.8
    assert any(o.endpoint for o in spec.objectives), "a per-endpoint example"
    assert spec.selector == {"job": "app"}
    for example in (ROOT / "examples/manager-app/slo/examples").glob("*.yaml"):
        load_spec(example)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


# (file text, the exact message after "<file>")
CORPUS = [
    (_replace("threshold: 0.8", "threshold: abc"),
     ": objectives[3].threshold: expected a number in (0, 1], got 'abc'"),
    (_replace("threshold: 0.7", "threshold: '0.7'"),
     ": objectives[2].threshold: expected a number > 0, got '0.7'"),
    (_replace("threshold: 0.7", "threshold: -1"),
     ": objectives[2].threshold: expected a number > 0, got -1"),
    (_replace("threshold: 0.7", "threshold: .nan"),
     ": objectives[2].threshold: expected a number > 0, got nan"),
    (_replace("threshold: 0.7", "threshold: true"),
     ": objectives[2].threshold: expected a number > 0, got True"),
    (_replace("threshold: 0.01", "threshold: 1.5"),
     ": objectives[1].threshold: expected a number in (0, 1], got 1.5"),
    (_replace("percentile: 0.95", "percentile: 95"),
     ": objectives[0].percentile: expected a number in (0, 1], got 95"),
    (_replace("percentile: 0.95", "percentile: 1"),
     ": objectives[0].percentile: expected a number in (0, 1) such as 0.95, got 1"),
    (_replace("percentile: 0.95, ", ""), ": objectives[0].percentile: required key missing"),
    (_replace("type: cpu, threshold", "type: cpu, percentile: 0.9, threshold"),
     ": objectives[2].percentile: only allowed for type latency, not cpu"),
    (_replace("type: cpu,", "type: cpu, endpoint: /x,"),
     ": objectives[2].endpoint: only allowed for types latency, error_rate, not cpu"),
    (_replace("type: cpu", "type: disk"),
     ": objectives[2].type: expected one of latency, error_rate, cpu, memory, got 'disk'"),
    (_replace("threshold: 0.01", "treshold: 0.01"),
     ": objectives[1].treshold: unknown key (expected one of: name, type, threshold, "
     "percentile, endpoint, description, min_requests)"),
    (_replace("name: cpu, ", ""), ": objectives[2].name: required key missing"),
    (_replace("name: memory", "name: cpu"),
     ": objectives[3].name: expected a unique name (objectives[2] has it), got 'cpu'"),
    (_replace("name: memory", "name: ''"),
     ": objectives[3].name: expected a non-empty string, got ''"),
    (_replace("type: error_rate,", "type: error_rate, min_requests: 0,"),
     ": objectives[1].min_requests: expected an integer >= 1, got 0"),
    (_replace("type: error_rate,", "type: error_rate, endpoint: 7,"),
     ": objectives[1].endpoint: expected a non-empty string, got 7"),
    (_replace("synthmon/v1", "synthmon/v2"),
     ": apiVersion: expected 'synthmon/v1', got 'synthmon/v2'"),
    (_replace("kind: SLOSpec", "kind: Slo"), ": kind: expected 'SLOSpec', got 'Slo'"),
    (_replace("service: app\n", "service: app\nservices: x\n"),
     ": services: unknown key (expected one of: apiVersion, kind, service, description, "
     "selector, metrics, objectives)"),
    (_replace("{job: app}", "{job: 3}"), ": selector.job: expected a string label value "
     "(quote it), got 3"),
    (_replace("{job: app}", "{'bad-name': app}"),
     ": selector.bad-name: expected a label name matching [a-zA-Z_][a-zA-Z0-9_]*, got 'bad-name'"),
    (_replace("{job: app}", "[job]"),
     ": selector: expected a mapping of label name to value, e.g. {job: app}, got ['job']"),
    (GOOD.split("objectives:")[0] + "objectives: []\n",
     ": objectives: expected a non-empty list of objectives, got []"),
    (GOOD.replace("  - {name: cpu, type: cpu, threshold: 0.7}\n", "  - cpu\n"),
     ": objectives[2]: expected a mapping, got 'cpu'"),
    ("", ": top level: expected a mapping, got None"),
    ("- a\n- b\n", ": top level: expected a mapping, got ['a', 'b']"),
    (_replace("service: app", "service: app\nservice: other"), ":4: duplicate key 'service'"),
    (_replace("{job: app}", "{job: app"), ": line 5: not valid YAML: expected ',' or '}', but got "
     "':' (column 11)"),
    ("a: [1, 2\nb: 3\n", ": line 2: not valid YAML: expected ',' or ']', but got ':' (column 2)"),
    ("key: 'unterminated\n", ": line 2: not valid YAML: found unexpected end of stream (column 1)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), CORPUS, ids=range(len(CORPUS)))
def test_bad_spec_is_one_line_naming_file_field_expectation_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    assert str(caught.value) == f"{path}{message}"
    assert "\n" not in str(caught.value)


def test_unreadable_spec(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read SLO spec: No such file"):
        load_spec(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"bin\.yaml: not UTF-8 text"):
        load_spec(binary)


def test_good_spec_loads_into_frozen_dataclasses(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    assert isinstance(spec, SLOSpec) and len(spec.objectives) == 4
    with pytest.raises(AttributeError):
        spec.objectives[0].threshold = 1.0  # type: ignore[misc]
    assert spec.objectives[0].matchers(spec.selector) == {"job": "app"}
    with_endpoint = Objective("x", "latency", 0.2, 0.95, endpoint="/api/tasks")
    assert with_endpoint.matchers({"job": "app"}) == {"job": "app", "endpoint": "/api/tasks"}


_label = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True)
_objective = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("latency"), "threshold": st.floats(0.001, 100),
         "percentile": st.floats(0.01, 0.999)},
        optional={"endpoint": st.text(min_size=1).filter(str.strip),
                  "min_requests": st.integers(1, 10**6), "description": st.text()},
    ),
    st.fixed_dictionaries(
        {"type": st.just("error_rate"), "threshold": st.floats(0.0001, 1)},
        optional={"endpoint": st.text(min_size=1).filter(str.strip)},
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["cpu", "memory"]),
                           "threshold": st.floats(0.01, 1)}),
)  # fmt: skip


@given(
    selector=st.dictionaries(_label, st.text(), max_size=3),
    objectives=st.lists(_objective, min_size=1, max_size=5),
)
def test_any_valid_spec_round_trips_through_yaml(
    selector: dict[str, str], objectives: list[dict[str, Any]]
) -> None:
    named = [{"name": f"o{i}", **o} for i, o in enumerate(objectives)]
    doc = {"apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": "s",
           "selector": selector, "objectives": named}  # fmt: skip
    spec = parse_spec(yaml.safe_load(yaml.safe_dump(doc)), "f.yaml")
    assert spec.selector == selector
    for parsed, raw in zip(spec.objectives, named, strict=True):
        assert (parsed.name, parsed.type, parsed.threshold) == (
            raw["name"],
            raw["type"],
            raw["threshold"],
        )
        assert parsed.endpoint == raw.get("endpoint")
        assert parsed.percentile == raw.get("percentile")


_yaml_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    doc=st.dictionaries(
        st.sampled_from(["apiVersion", "kind", "service", "selector", "objectives", "x"]),
        _yaml_value,
    )
    | _yaml_value
)
def test_junk_is_a_one_line_config_error_never_a_crash(doc: object) -> None:
    try:
        parse_spec(doc, "junk.yaml")
    except ConfigError as exc:
        assert re.fullmatch(r"junk\.yaml: [^\n]+", str(exc)), str(exc)


# ---- the metrics: block -------------------------------------------------------------------

LINKCHECK = ROOT / "examples/linkcheck/slo/slo.yaml"


def _with_metrics(block: str, objectives: str = "") -> str:
    text = GOOD.replace("objectives:\n", f"metrics:\n{block}objectives:\n")
    return text + objectives


def test_metrics_defaults_are_the_runbook_names(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    assert spec.metrics == SLOMetrics()
    m = spec.metrics
    assert (m.request_counter, m.duration_bucket, m.duration_count) == (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
    )
    assert (m.status_label, m.error_status, m.endpoint_label) == ("status", "5..", "endpoint")
    assert (m.cpu_counter, m.memory_rss, m.memory_limit) == (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "app_memory_limit_bytes",
    )
    # `.` is any character: the default also counts a grouped "5xx" (today's 5\d\d did not)
    assert [m.is_error(s) for s in ("500", "503", "200", "5xx", "5000", "x500", "2xx")] == [
        True, True, False, True, False, False, False]  # fmt: skip
    # an empty block is every default; a partial one changes only what it names
    assert load_spec(_write(tmp_path, _with_metrics("  {}\n"))).metrics == SLOMetrics()
    partial = load_spec(_write(tmp_path, _with_metrics("  status_label: code\n"))).metrics
    assert partial == SLOMetrics(status_label="code")


def test_linkcheck_spec_loads_with_the_instrumentators_names() -> None:
    spec = load_spec(LINKCHECK)
    m = spec.metrics
    assert (m.status_label, m.error_status, m.endpoint_label) == ("status", "5xx", "handler")
    assert m.is_error("5xx") and not m.is_error("500") and not m.is_error("2xx")
    assert m.memory_limit is None
    assert not any(o.type == "memory" for o in spec.objectives)
    per_endpoint = next(o for o in spec.objectives if o.endpoint)
    assert spec.matchers(per_endpoint) == {"job": "linkcheck", "handler": "/v1/links/{link_id}"}


def test_endpoint_goes_on_the_spec_endpoint_label(tmp_path: Path) -> None:
    text = _with_metrics(
        "  endpoint_label: route\n",
        "  - {name: e, type: error_rate, threshold: 0.01, endpoint: /x}\n",
    )
    spec = load_spec(_write(tmp_path, text))
    assert spec.matchers(spec.objectives[-1]) == {"job": "app", "route": "/x"}
    assert spec.matchers(spec.objectives[0]) == {"job": "app"}


METRICS_CORPUS = [
    (_with_metrics("  request_countr: x\n"),
     ": metrics.request_countr: unknown key (expected one of: request_counter, "
     "duration_histogram, status_label, error_status, endpoint_label, cpu_counter, memory_rss, "
     "memory_limit)"),
    (_with_metrics("  request_counter: 'a b'\n"),
     ": metrics.request_counter: expected a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]* or "
     "null, got 'a b'"),
    (_with_metrics("  status_label: 'st-atus'\n"),
     ": metrics.status_label: expected a label name matching [a-zA-Z_][a-zA-Z0-9_]* or null, "
     "got 'st-atus'"),
    (_with_metrics("  endpoint_label: 7\n"),
     ": metrics.endpoint_label: expected a label name matching [a-zA-Z_][a-zA-Z0-9_]* or null, "
     "got 7"),
    (_with_metrics("  endpoint_label: le\n"),
     ": metrics.endpoint_label: expected a label name matching [a-zA-Z_][a-zA-Z0-9_]* or null, "
     "got 'le'"),
    (_with_metrics("  error_status: '5(xx'\n"),
     ": metrics.error_status: not a valid regular expression '5(xx': missing ), unterminated "
     "subpattern at position 1"),
    (_with_metrics("  error_status: '5?.*'\n"),
     ": metrics.error_status: expected a regular expression that does not match '', got '5?.*'"),
    (_with_metrics("  error_status: 500\n"),
     ": metrics.error_status: expected a non-empty regular expression string such as '5..', "
     "got 500"),
    (_with_metrics("  error_status: null\n"),
     ": metrics.error_status: expected a non-empty regular expression string such as '5..', "
     "got None"),
    (_with_metrics("  duration_histogram: http_request_duration_seconds_bucket\n"),
     ": metrics.duration_histogram: expected the histogram's base name (without _bucket, _count "
     "or _sum), got 'http_request_duration_seconds_bucket'"),
    (GOOD.replace("objectives:\n", "metrics: [a]\nobjectives:\n"),
     ": metrics: expected a mapping, got ['a']"),
    (_with_metrics("  memory_limit: null\n"),
     ": objectives[3]: type memory needs metrics.memory_limit, which this spec sets to null "
     "(not exported)"),
    (_with_metrics("  memory_rss: null\n"),
     ": objectives[3]: type memory needs metrics.memory_rss, which this spec sets to null "
     "(not exported)"),
    (_with_metrics("  duration_histogram: null\n"),
     ": objectives[0]: type latency needs metrics.duration_histogram, which this spec sets to "
     "null (not exported)"),
    (_with_metrics("  status_label: null\n"),
     ": objectives[1]: type error_rate needs metrics.status_label, which this spec sets to null "
     "(not exported)"),
    (_with_metrics("  request_counter: null\n"),
     ": objectives[1]: type error_rate needs metrics.request_counter, which this spec sets to "
     "null (not exported)"),
    (_with_metrics("  cpu_counter: null\n"),
     ": objectives[2]: type cpu needs metrics.cpu_counter, which this spec sets to null "
     "(not exported)"),
    (_with_metrics("  endpoint_label: null\n",
                   "  - {name: e, type: latency, percentile: 0.9, threshold: 1, endpoint: /x}\n"),
     ": objectives[4]: type latency with an endpoint needs metrics.endpoint_label, which this "
     "spec sets to null (not exported)"),
    (_with_metrics("  request_counter: a\n  request_counter: b\n"),
     ":7: duplicate key 'request_counter'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), METRICS_CORPUS, ids=range(len(METRICS_CORPUS)))
def test_bad_metrics_block_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    assert str(caught.value) == f"{path}{message}"
    assert "\n" not in str(caught.value)


def test_null_metric_is_fine_when_no_objective_needs_it(tmp_path: Path) -> None:
    text = GOOD.replace("  - {name: memory, type: memory, threshold: 0.8}\n", "")
    spec = load_spec(
        _write(
            tmp_path,
            text.replace(
                "objectives:\n", "metrics:\n  memory_limit: null\n  memory_rss: null\nobjectives:\n"
            ),
        )
    )
    assert spec.metrics.memory_limit is None and spec.metrics.memory_rss is None


_metric_name = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True).filter(
    lambda n: not n.endswith(("_bucket", "_count", "_sum"))
)


@given(
    names=st.fixed_dictionaries(
        {},
        optional={
            "request_counter": _metric_name,
            "duration_histogram": _metric_name,
            "cpu_counter": _metric_name,
            "memory_rss": _metric_name,
            "memory_limit": _metric_name,
            "status_label": _label.filter(lambda n: n != "le"),
            "endpoint_label": _label.filter(lambda n: n != "le"),
            "error_status": st.sampled_from(["5..", "5xx", "5[0-9]{2}|429", "(500|503)"]),
        },
    )
)
def test_any_valid_metrics_block_round_trips(names: dict[str, str]) -> None:
    cpu = [{"name": "c", "type": "cpu", "threshold": 0.5}]
    doc = {"apiVersion": "synthmon/v1", "kind": "SLOSpec", "service": "s", "selector": {},
           "metrics": names, "objectives": cpu}  # fmt: skip
    spec = parse_spec(yaml.safe_load(yaml.safe_dump(doc)), "f.yaml")
    for key, value in names.items():
        assert getattr(spec.metrics, key) == value
    for key in set(SLOMetrics.__dataclass_fields__) - set(names):
        assert getattr(spec.metrics, key) == getattr(SLOMetrics(), key)
