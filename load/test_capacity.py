"""Capacity: how much traffic this release carries within its SLOs (``--load-profile NAME``
with a ``kind: capacity`` profile; any other profile skips these tests).

The search (synthmon.load.capacity) steps the offered rate up, then bisects, judging each
step with the gate over its steady window. The test fails when the search could not name a
server capacity: the generator was the limit (add ``--load-workers``), a step could not be
decided, or even the first step failed.

With ``SYNTHMON_CAPACITY_ACCEPTANCE=1`` (bench/capacity.py sets it; ``make run`` does not)
the knee is checked against the plain gate: a fixed-rate run at 0.8 x its lower end must pass
the whole gate, one at 1.25 x its upper end must fail it.

Evidence: the search plot (offered and achieved rate, share within the latency threshold and
error rate per step, knee shaded), capacity.json; the knee in slo-report.json (``capacity``),
in the JUnit properties and in the Pushgateway results.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from synthmon import evidence
from synthmon.fingerprint import machine_fingerprint
from synthmon.load import LoadProfile, load_profiles, run_load
from synthmon.load.capacity import CapacityResult, search_capacity
from synthmon.plots import Thresholds, capacity_png
from synthmon.project import Project
from synthmon.prom import Prometheus
from synthmon.settings import Settings
from synthmon.slo import SLOReport, load_spec
from synthmon.slo.gate import gate_after_load
from synthmon.slo.report import write_capacity
from synthmon.stack import Stack

pytestmark = pytest.mark.load
ACCEPTANCE = "SYNTHMON_CAPACITY_ACCEPTANCE"


@pytest.fixture(scope="module")
def capacity_profile(synthmon_settings: Settings, stack: Stack, project: Project) -> LoadProfile:
    profile = load_profiles(synthmon_settings.load_profiles)[synthmon_settings.load_profile]
    if profile.capacity is None:
        pytest.skip(f"load profile {profile.name} is not kind: capacity")
    if stack.runner is None:
        pytest.skip("a capacity search overloads its target on purpose: not on an external stack")
    if project.locustfile is None:
        pytest.skip("not configured: no `load:` locustfile")
    return profile


@pytest.fixture(scope="module")
def capacity(
    capacity_profile: LoadProfile,
    stack: Stack,
    prom: Prometheus,
    project: Project,
    synthmon_settings: Settings,
    request: pytest.FixtureRequest,
) -> CapacityResult:
    """The search, once per module, its evidence attached and slo-report.json extended."""
    settings, profile = synthmon_settings, capacity_profile
    # the gate writes slo-report.json first; the capacity key then goes beside its rows
    with contextlib.suppress(pytest.skip.Exception):
        request.getfixturevalue("slo_report")
    spec = load_spec(settings.slo_spec)
    out = stack.run_dir / "capacity" / profile.name
    assert project.locustfile is not None
    with evidence.step(f"Search the capacity of {stack.app_url} ({profile.name})"):
        result = search_capacity(
            stack.app_url,
            profile,
            spec,
            prom,
            out,
            locustfile=project.locustfile,
            workers=settings.load_workers,
            scrape_settle_s=stack.scrape_interval_s + stack.evaluation_interval_s,
        )
        fingerprint = machine_fingerprint(profile, spec)
        write_capacity(stack.run_dir / "slo-report.json", result.to_dict(), fingerprint)
        png = capacity_png(result, Thresholds.from_spec(spec))
        (out / "capacity.png").write_bytes(png)
        evidence.attach_png(f"capacity search {profile.name}", png)
        evidence.attach_file(out / "capacity.json", "capacity.json", "json")
    return result


def test_capacity_knee(capacity: CapacityResult, request: pytest.FixtureRequest) -> None:
    knee = capacity.knee
    request.node.user_properties.extend(
        [
            ("capacity_knee_low", "" if knee.low is None else f"{knee.low:.2f}"),
            ("capacity_knee_high", "" if knee.high is None else f"{knee.high:.2f}"),
            ("capacity_at_least", str(knee.at_least).lower()),
            ("capacity_failed_objective", knee.failed_objective or ""),
            ("capacity_generator_bound", str(capacity.generator_bound).lower()),
            ("capacity_steps", str(len(capacity.steps))),
        ]
    )
    assert not capacity.generator_bound, (
        f"capacity {knee.text()}: the load generator was CPU-bound, so this is its limit, "
        "not the server's (more --load-workers, or a bigger generator host)"
    )
    assert knee.low is not None, f"capacity {knee.text()}"
    assert not knee.at_least or "max_rps" in knee.reason, f"capacity {knee.text()}"


def _gate_at(
    rate: float,
    name: str,
    profile: LoadProfile,
    stack: Stack,
    prom: Prometheus,
    locustfile: Path,
    settings: Settings,
) -> SLOReport:
    """The whole gate over a fixed-rate run at ``rate`` (steady window after settle_s)."""
    assert profile.capacity is not None
    fixed = profile.at_rate(rate, name)
    out = stack.run_dir / "capacity" / profile.name / name
    result = run_load(
        stack.app_url, fixed, out, locustfile=locustfile, workers=settings.load_workers
    )
    measured = replace(result, window_start=result.window_start + profile.capacity.settle_s)
    settle = stack.scrape_interval_s + stack.evaluation_interval_s
    report = gate_after_load(load_spec(settings.slo_spec), prom, measured, settle)
    report.to_json(out / "slo-report.json")
    return report


def test_knee_agrees_with_the_fixed_rate_gate(
    capacity: CapacityResult,
    capacity_profile: LoadProfile,
    stack: Stack,
    prom: Prometheus,
    project: Project,
    synthmon_settings: Settings,
) -> None:
    if os.environ.get(ACCEPTANCE) != "1":
        pytest.skip(f"acceptance runs only with {ACCEPTANCE}=1 (bench/capacity.py)")
    knee = capacity.knee
    if knee.low is None or knee.high is None or knee.at_least:
        pytest.skip(f"no bracketed knee to check: {knee.text()}")
    assert project.locustfile is not None
    args = (capacity_profile, stack, prom, project.locustfile, synthmon_settings)
    below = _gate_at(0.8 * knee.low, "accept-below", *args)
    above = _gate_at(1.25 * knee.high, "accept-above", *args)
    doc = {
        "knee": [knee.low, knee.high],
        "below": {"rate": 0.8 * knee.low, "verdict": below.verdict},
        "above": {"rate": 1.25 * knee.high, "verdict": above.verdict},
    }
    out = stack.run_dir / "capacity" / capacity_profile.name / "acceptance.json"
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    with evidence.step("Fixed-rate gate below and above the knee"):
        evidence.attach_text("gate at 0.8 x knee low", below.render_table())
        evidence.attach_text("gate at 1.25 x knee high", above.render_table())
    assert below.verdict == "pass", f"0.8 x {knee.low:.1f} req/s:\n{below.render_table()}"
    assert above.verdict == "fail", f"1.25 x {knee.high:.1f} req/s:\n{above.render_table()}"
