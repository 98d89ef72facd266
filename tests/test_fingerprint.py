"""The fingerprint reads the machine's cores, CPU model and confinement from /proc and /sys (a
planted tree here), hashes a definition without its name, and travels in slo-report.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from synthmon import cli
from synthmon.errors import ConfigError
from synthmon.fingerprint import (
    Fingerprint,
    cgroup_cpu_quota,
    definition_hash,
    differences,
    machine_fingerprint,
)
from synthmon.load.profiles import LoadProfile
from synthmon.slo.gate import fingerprinted
from synthmon.slo.regression import parse_report
from synthmon.slo.report import SLOReport
from synthmon.slo.spec import Objective, SLOSpec

CPUINFO = "".join(f"processor\t: {i}\nmodel name\t: AMD  EPYC 7B13\n\n" for i in range(4))


def plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def no_container_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("container", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_cgroup_v2_quota_of_a_parent_confines(tmp_path: Path, no_container_env: None) -> None:
    root = plant(tmp_path, {
        "proc/cpuinfo": CPUINFO,
        "proc/self/cgroup": "0::/bench.slice/app\n",
        "sys/fs/cgroup/cpu.max": "max 100000\n",
        "sys/fs/cgroup/bench.slice/cpu.max": "50000 100000\n",
        "sys/fs/cgroup/bench.slice/app/cpu.max": "max 100000\n",
        "run/.containerenv": "",
    })  # fmt: skip
    got = machine_fingerprint(root=root, affinity=[0, 1, 2, 3, 6])
    assert (got.cores, got.cpu_model, got.cpuset) == (4, "AMD EPYC 7B13", "0-3,6")
    assert (got.cpu_quota_cores, got.container) == (0.5, "podman")


def test_cgroup_v1_namespaced_path_falls_back_to_the_mount(tmp_path: Path) -> None:
    root = plant(tmp_path, {
        "proc/self/cgroup": "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "150000\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    })  # fmt: skip
    assert cgroup_cpu_quota(root) == 1.5
    (root / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(root) is None, "-1 is no quota"
    assert cgroup_cpu_quota(tmp_path / "nothing") is None


def test_this_machine_has_a_fingerprint() -> None:
    got = machine_fingerprint()
    assert got.cores >= 1 and got.cpu_model and got.cpuset
    assert Fingerprint.from_dict(got.to_dict(), "x") == got


def test_definition_hash_ignores_names_and_number_spelling() -> None:
    profile = LoadProfile("baseline", 10, 5.0, 2.0, 60.0, 40.0, constant_throughput=True)
    renamed = LoadProfile("renamed", 10, 5, 2, 60, 40, constant_throughput=True)
    faster = LoadProfile("baseline", 10, 5.0, 2.0, 60.0, 41.0, constant_throughput=True)
    assert definition_hash(profile) == definition_hash(renamed) != definition_hash(faster)
    assert str(definition_hash({"b": [1.0], "a": 2})).startswith("sha256:")
    assert definition_hash({"b": [1.0], "a": 2}) == definition_hash({"a": 2.0, "b": [1]})
    assert definition_hash(None) is None


def test_differences_name_each_field() -> None:
    base = Fingerprint(2, "Xeon", "0-1", None, "none", "sha256:a", None)
    now = Fingerprint(4, "Xeon", "0-3", 0.5, "none", "sha256:a", "sha256:s", "2.0")
    differ, unknown = differences(base, now)
    assert differ == ["cores 2 -> 4", "CPU set 0-1 -> 0-3", "cgroup CPU quota (cores) none -> 0.5"]
    assert unknown == ["the baseline does not record its SLO spec"]


def test_fingerprint_travels_in_the_report(tmp_path: Path) -> None:
    spec = SLOSpec("app", {"job": "app"}, (Objective("error-rate", "error_rate", 0.01),))
    profile = LoadProfile("baseline", 10, 5.0, 2.0, 60.0)
    report = fingerprinted(SLOReport("app", "s.yaml", "http://p", 1.0, 2.0, ()), spec, profile)
    doc = json.loads(report.to_json(tmp_path / "slo-report.json"))
    assert doc["fingerprint"]["profile_hash"] == definition_hash(profile)
    assert doc["fingerprint"]["spec_hash"] == definition_hash(spec)
    assert parse_report(doc, "r").fingerprint == report.fingerprint
    assert SLOReport("app", "s", "u", 1.0, 2.0, ()).to_dict()["fingerprint"] is None


def test_the_cli_takes_the_load_steps_fingerprint(tmp_path: Path) -> None:
    spec = SLOSpec("app", {"job": "app"}, ())
    planted = Fingerprint(8, "Other", "0-7", None, "none", "sha256:p").to_dict()
    (tmp_path / "w.json").write_text(json.dumps({"start": 1, "end": 2, "fingerprint": planted}))
    args = argparse.Namespace(window_file=str(tmp_path / "w.json"))
    got = cli._load_fingerprint(args, spec)
    assert got is not None and (got.cores, got.spec_hash) == (8, definition_hash(spec))
    (tmp_path / "w.json").write_text(json.dumps({"start": 1, "end": 2}))
    assert cli._load_fingerprint(args, spec) is None, "where the load ran is not known here"
    (tmp_path / "w.json").write_text(json.dumps({"start": 1, "end": 2, "fingerprint": {}}))
    with pytest.raises(ConfigError, match=r"w\.json: fingerprint\.cores: expected an integer"):
        cli._load_fingerprint(args, spec)
