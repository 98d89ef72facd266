"""A compose stack that has its own Toxiproxy (the real one: ghcr.io/shopify/toxiproxy, built
from its Go module by images/build.sh) has its link faults driven through that Toxiproxy's API,
and synthmon puts no proxy of its own on the link. linkcheck, laid over with a Toxiproxy between
it and Redis: LinkcheckRedisDown fires from that proxy disabled, and resolves when it is back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthmon.settings import Settings
from tests._engine import engine_with

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "linkcheck"
OVERLAY = Path(__file__).resolve().parent / "data" / "compose-toxiproxy"
TOXIPROXY = "ghcr.io/shopify/toxiproxy:2.5.0"
SCENARIO = "checks/test_alerts.py::test_alert_fires_reaches_its_receivers_and_resolves"

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("containers")]


def with_their_toxiproxy(tmp_path: Path, proxy: str) -> Path:
    """linkcheck copied, its Toxiproxy overlay added, LinkcheckRedisDown caused by ``proxy``
    of that Toxiproxy disabled (the copy's synthmon.yaml; examples/ is never written)."""
    root = tmp_path / "linkcheck"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    for name in ("toxiproxy.yml", "toxiproxy.json"):
        shutil.copy(OVERLAY / name, root / name)
    (root / "toxiproxy.json").chmod(0o644)
    file = root / "synthmon.yaml"
    text = file.read_text()
    files = "files: [docker-compose.yml, toxiproxy.yml]\n  toxiproxy: toxiproxy"
    link = f"faults: [{{link: {{to: redis, toxic: down, proxy: {proxy}}}}}]"
    for old, new in (("files: [docker-compose.yml]", files), ("faults: [{stop: redis}]", link)):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    file.write_text(text)
    return file


def run_scenario(project: Path, tmp_path: Path, url: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHMON_")}
    env |= {"DOCKER_HOST": url, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_alerts.py", "-k", "LinkcheckRedisDown]",
         "--project", str(project), "--stack", "compose", "--run-dir", str(tmp_path / "runs"),
         "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_their_toxiproxy_is_driven_and_ours_stays_out(tmp_path: Path) -> None:
    images = Settings.from_values(
        lambda o: str(EXAMPLE / "synthmon.yaml") if o.name == "project" else None
    ).images
    used = {k: images[k] for k in ("redis", "linkcheck", "prometheus", "alertmanager", "tools")}
    found = engine_with({**used, "toxiproxy": TOXIPROXY}, "compose backend")
    code, out = run_scenario(with_their_toxiproxy(tmp_path, "redis"), tmp_path, found.url)
    assert code == 0, out[-4000:]
    assert f"PASSED {SCENARIO}[LinkcheckRedisDown]" in out, out[-4000:]
    override = next((tmp_path / "runs").glob("run-*/synthmon.override.yml")).read_text()
    assert "synthmon-faultproxy" not in override and "synthmon-real-" not in override
