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
from synthmon.slo.spec import Objective, SLOSpec, load_spec, parse_spec

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
     "selector, objectives)"),
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
