"""Capacity: how much traffic this release carries within its SLOs (``--load-profile NAME``
with a ``kind: capacity`` profile; any other profile skips this test).

The search (synthmon.load.capacity) steps the offered rate up, then bisects, judging each
step with the gate over its steady window. The test fails when the search could not name a
server capacity: the generator was the limit (add ``--load-workers``), a step could not be
decided, or even the first step failed.

Evidence: the search plot (offered and achieved rate, share within the latency threshold and
error rate per step, knee shaded), capacity.json; the knee in slo-report.json (``capacity``),
in this case's JUnit properties and in the Pushgateway results.
"""

from __future__ import annotations

import contextlib

import pytest

from synthmon import evidence
from synthmon.load import load_profiles
from synthmon.load.capacity import search_capacity
from synthmon.plots import Thresholds, capacity_png
from synthmon.project import Project
from synthmon.prom import Prometheus
from synthmon.settings import Settings
from synthmon.slo import load_spec
from synthmon.slo.report import write_capacity
from synthmon.stack import Stack

pytestmark = pytest.mark.load


def test_capacity_knee(
    stack: Stack,
    prom: Prometheus,
    project: Project,
    synthmon_settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    settings = synthmon_settings
    profile = load_profiles(settings.load_profiles)[settings.load_profile]
    if profile.capacity is None:
        pytest.skip(f"load profile {profile.name} is not kind: capacity")
    if stack.runner is None:
        pytest.skip("a capacity search overloads its target on purpose: not on an external stack")
    if project.locustfile is None:
        pytest.skip("not configured: no `load:` locustfile")
    # the gate writes slo-report.json first; the capacity key then goes beside its rows
    with contextlib.suppress(pytest.skip.Exception):
        request.getfixturevalue("slo_report")
    spec = load_spec(settings.slo_spec)
    out = stack.run_dir / "capacity" / profile.name
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
        write_capacity(stack.run_dir / "slo-report.json", result.to_dict())
        png = capacity_png(result, Thresholds.from_spec(spec))
        (out / "capacity.png").write_bytes(png)
        evidence.attach_png(f"capacity search {profile.name}", png)
        evidence.attach_file(out / "capacity.json", "capacity.json", "json")
    knee = result.knee
    request.node.user_properties.extend(
        [
            ("capacity_knee_low", "" if knee.low is None else f"{knee.low:.2f}"),
            ("capacity_knee_high", "" if knee.high is None else f"{knee.high:.2f}"),
            ("capacity_at_least", str(knee.at_least).lower()),
            ("capacity_failed_objective", knee.failed_objective or ""),
            ("capacity_generator_bound", str(result.generator_bound).lower()),
            ("capacity_steps", str(len(result.steps))),
        ]
    )
    assert not result.generator_bound, (
        f"capacity {knee.text()}: the load generator was CPU-bound, so this is its limit, "
        "not the server's (more --load-workers, or a bigger generator host)"
    )
    assert knee.low is not None, f"capacity {knee.text()}"
    assert not knee.at_least or "max_rps" in knee.reason, f"capacity {knee.text()}"
