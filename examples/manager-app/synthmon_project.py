"""The reference example as synthmon sees it: the runbook's "manager app", its dependencies
(PostgreSQL, Redis, a fake GitHub), its monitoring files and what its alert routing promises.

Selected with ``--project examples/manager-app`` (or ``SYNTHMON_PROJECT``; this checkout's
pytest.ini selects it by default).
"""

from __future__ import annotations

from pathlib import Path

import faults  # this example's faults.py (the loader puts this directory on sys.path)

from synthmon.health_contract import HealthContract, HealthEntry
from synthmon.project import Monitoring, Project, Routing, ServiceSpec

HERE = Path(__file__).resolve().parent
MONITORING = HERE / "monitoring"
DATABASE = "claude_manager"
# the budget a container limit would give the app: memory alerts and SLOs divide by it
APP_MEMORY_LIMIT_BYTES = 512 * 1024 * 1024

project = Project(
    name="manager-app",
    root=HERE,
    services=(
        ServiceSpec(
            "postgres",
            kind="postgres",
            database=DATABASE,
            image="postgres",
            url=f"postgresql://postgres@{{host}}:{{port}}/{DATABASE}",
        ),
        ServiceSpec("redis", kind="redis", image="redis", url="redis://{host}:{port}/0"),
        ServiceSpec(  # a SaaS stand-in (synthmon's fake upstream): a local process on both backends
            "github",
            argv=(
                "{python}",
                "-m",
                "synthmon.upstream",
                "--host",
                "{host}",
                "--port",
                "{port}",
                "--routes",
                "{project}/upstreams/github.yaml",
            ),
            health_path="/rate_limit",
        ),
        ServiceSpec(
            "app",
            argv=("{python}", "-m", "app", "--host", "{host}", "--port", "{port}"),
            image="app",
            image_argv=("--host", "{host}", "--port", "{port}"),
            env={
                "PYTHONPATH": "{project}",  # the image has app/ in its working directory
                "APP_DATABASE_URL": "{url:postgres}",
                "APP_REDIS_URL": "{url:redis}",
                "APP_GITHUB_API_URL": "{url:github}",
                "APP_CHAOS_TOKEN": "{secret:chaos_token}",
                "APP_MEMORY_LIMIT_BYTES": str(APP_MEMORY_LIMIT_BYTES),
            },
            secret_env=("APP_CHAOS_TOKEN",),
            health_path="/health",
        ),
    ),
    target="app",
    health_path="/health",
    health_checks=("database", "redis", "github_api"),
    # app/health.py: the database down -> unhealthy, anything else down -> degraded; both 503
    health=HealthContract(
        path="/health",
        entries={
            "postgres": HealthEntry("checks.database", down_status=frozenset({"unhealthy"})),
            "redis": HealthEntry("checks.redis", down_status=frozenset({"degraded"})),
            "github": HealthEntry("checks.github_api", down_status=frozenset({"degraded"})),
        },
        timestamp_field="timestamp",
        version_field="version",
    ),
    monitoring=Monitoring(
        prometheus_yml=MONITORING / "prometheus" / "prometheus.yml",
        rules_dir=MONITORING / "prometheus" / "rules",
        alertmanager_yml=MONITORING / "alertmanager" / "alertmanager.yml",
        templates_dir=MONITORING / "alertmanager" / "templates",
        dashboards=MONITORING / "grafana" / "dashboards",
    ),
    scrape_jobs=("app", "prometheus", "alertmanager", "pushgateway"),
    # the runbook's escalation: which integrations each priority reaches; the Watchdog only
    # reaches the heartbeat
    routing=Routing(
        label="priority",
        receivers={
            "P1": frozenset({"pagerduty", "slack"}),
            "P2": frozenset({"slack", "email"}),
            "P3": frozenset({"email"}),
            "P4": frozenset({"email"}),
        },
        always_firing={"Watchdog": frozenset({"webhook"})},
    ),
    locustfile=HERE / "load" / "locustfile.py",
    load_profiles=HERE / "load" / "profiles.yaml",
    slo_spec=HERE / "slo" / "baseline.yaml",
    secrets=("chaos_token",),
    secret_headers=(faults.CHAOS_HEADER,),
    faults={
        "chaos": faults.chaos,
        "github_quota": faults.github_quota,
        "failed_logins": faults.failed_logins,
    },
)
