"""A test copy of the project's prometheus.yml, as it is in its repository (pure functions).

Everything that is not a destination is kept (external labels, metrics paths, schemes,
relabelling, ``honor_labels``, ...); what would leave the test stack is rewritten:

- ``global``: ``scrape_interval``, ``evaluation_interval`` and ``scrape_timeout`` become the
  stack's; a job's own ``scrape_interval``/``scrape_timeout`` are dropped (the stack's apply);
- ``rule_files``: the directory of time-scaled rule copies only;
- ``alerting.alertmanagers``: the stack's Alertmanager only (``alert_relabel_configs`` kept);
- each ``scrape_configs`` job: its targets (``static_configs`` and every ``*_sd_configs``)
  become one target, the project service it scrapes (``scrape``: job name → service; by
  default a service named like the job, if it serves HTTP). The labels of its static groups are
  kept. A job with no such service is dropped and reported;
- jobs for the stack's own Prometheus, Alertmanager and Pushgateway (``honor_labels``) are
  added when absent; a job named like one of them with no project service of that name scrapes
  the stack's;
- ``remote_write``/``remote_read``: dropped (a test run never leaves the machine);
- the path map applies to every absolute path in the file.

Today's template form (a file with ``$NAME_address`` placeholders) is filled first, then
rendered the same way (its targets are the stack's already).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import yaml

from synthmon.errors import ConfigError

STACK_JOBS = ("prometheus", "alertmanager", "pushgateway")
# the template form: a placeholder of synthmon's own (production files may hold `$1` in
# relabel replacements, so only a file naming one of these is a template)
_TEMPLATE = re.compile(
    r"\$\{?(?:\w+_address|scrape_interval|evaluation_interval|scrape_timeout|rules_dir)\b"
)
_JOB_TIMING = ("scrape_interval", "scrape_timeout")


@dataclass(frozen=True)
class Timing:
    """The test stack's durations, as Prometheus writes them."""

    scrape_interval: str
    evaluation_interval: str
    scrape_timeout: str


@dataclass(frozen=True)
class RenderedPrometheus:
    """The test copy's text and the jobs it does not scrape: (job, why)."""

    text: str
    dropped: tuple[tuple[str, str], ...] = ()

    def notes(self) -> tuple[str, ...]:
        """The run summary's lines about the copy."""
        if not self.dropped:
            return ()
        jobs = ", ".join(f"{job} ({why})" for job, why in self.dropped)
        return (f"not scraped in the test stack: {jobs}",)


def is_template(text: str) -> bool:
    """True for today's template form (``$NAME_address``, ``$rules_dir``, ... placeholders)."""
    return _TEMPLATE.search(text) is not None


def fill_template(
    text: str, addresses: Mapping[str, str], timing: Timing, rules_dir: Path, source: str
) -> str:
    """The template form filled: ``$NAME_address`` (``addresses``: NAME → host:port)."""
    names = {f"{name}_address": address for name, address in addresses.items()}
    try:
        return Template(text).substitute(
            names,
            scrape_interval=timing.scrape_interval,
            evaluation_interval=timing.evaluation_interval,
            scrape_timeout=timing.scrape_timeout,
            rules_dir=str(rules_dir),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"{source}: placeholder {exc} is not one of $scrape_interval, $evaluation_interval, "
            f"$scrape_timeout, $rules_dir or {', '.join('$' + a for a in names)}"
        ) from None


def map_paths(value: Any, path_map: Mapping[str, Path]) -> Any:
    """``value`` with every absolute path under a path map entry replaced by its file here
    (the longest entry wins; a prefix matches at a path boundary only)."""
    if isinstance(value, dict):
        return {k: map_paths(v, path_map) for k, v in value.items()}
    if isinstance(value, list):
        return [map_paths(v, path_map) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        for prod in sorted(path_map, key=len, reverse=True):
            base = prod.rstrip("/")
            if value == base or value.startswith(base + "/"):
                return str(path_map[prod]) + value[len(base) :]
    return value


def _job_target(
    job: str,
    scrape: Mapping[str, str | None],
    services: Mapping[str, str],
    not_http: Mapping[str, str],
    stack: Mapping[str, str],
) -> tuple[str | None, str]:
    """(host:port, "") for the job's service, or (None, why it is not scraped)."""
    if job in scrape:
        service = scrape[job]
        if service is None:
            return None, "monitoring.scrape: none"
        if service in services:
            return services[service], ""
        if service in stack:
            return stack[service], ""
        if service in not_http:
            raise ConfigError(
                f"monitoring.scrape.{job}: service {service!r} is a {not_http[service]} server, "
                "not a metrics endpoint (scrape its exporter's service)"
            )
        raise ConfigError(
            f"monitoring.scrape.{job}: no service {service!r} "
            f"(have: {', '.join([*services, *not_http, *stack])})"
        )
    if job in services:
        return services[job], ""
    if job in not_http:
        return None, f"service {job} is a {not_http[job]} server, no exporter service"
    if job in stack:
        return stack[job], ""
    return None, "no service"


def render_prometheus_config(
    text: str,
    *,
    source: str,
    timing: Timing,
    rules_dir: Path,
    services: Mapping[str, str],
    stack: Mapping[str, str],
    not_http: Mapping[str, str] | None = None,
    scrape: Mapping[str, str | None] | None = None,
    path_map: Mapping[str, Path] | None = None,
    template_addresses: Mapping[str, str] | None = None,
) -> RenderedPrometheus:
    """The test copy of prometheus.yml ``text`` (see the module's docstring).

    ``services``: project services that serve HTTP → host:port; ``stack``: ``prometheus``,
    ``alertmanager``, ``pushgateway`` → host:port; ``not_http``: services that speak their own
    protocol → their kind (never scraped by default); ``scrape``: job → service (``None``: not
    scraped); ``path_map``: production absolute path → file here; ``template_addresses``:
    what the template form's ``$NAME_address`` may name (default: ``services`` and ``stack``).
    """
    not_http, scrape, path_map = not_http or {}, scrape or {}, path_map or {}
    missing = sorted(set(STACK_JOBS) - set(stack) - {"pushgateway"})  # a stack may have none
    if missing:
        raise ConfigError(f"render_prometheus_config: no address for {', '.join(missing)}")
    template = is_template(text)
    if template:
        names = template_addresses if template_addresses is not None else {**services, **stack}
        text = fill_template(text, names, timing, rules_dir, source)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not YAML: {' '.join(str(exc).split())}") from None
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(doc).__name__}")
    doc = map_paths(doc, path_map)
    doc.pop("remote_write", None)
    doc.pop("remote_read", None)

    glob = doc.get("global") or {}
    if not isinstance(glob, dict):
        raise ConfigError(f"{source}: global: expected a mapping")
    glob.update(
        scrape_interval=timing.scrape_interval,
        evaluation_interval=timing.evaluation_interval,
        scrape_timeout=timing.scrape_timeout,
    )
    doc["global"] = glob
    doc["rule_files"] = [str(rules_dir / "*.yml")]

    alerting = doc.get("alerting") or {}
    if not isinstance(alerting, dict):
        raise ConfigError(f"{source}: alerting: expected a mapping")
    alerting["alertmanagers"] = [{"static_configs": [{"targets": [stack["alertmanager"]]}]}]
    doc["alerting"] = alerting

    jobs = doc.get("scrape_configs") or []
    if not isinstance(jobs, list):
        raise ConfigError(f"{source}: scrape_configs: expected a list")
    kept: list[dict[str, Any]] = []
    dropped: list[tuple[str, str]] = []
    for n, job in enumerate(jobs):
        if not isinstance(job, dict) or not isinstance(job.get("job_name"), str):
            raise ConfigError(f"{source}: scrape_configs.{n}: expected a job with a job_name")
        name = job["job_name"]
        if template and name not in scrape and job.get("static_configs"):
            # the template form names its targets itself ($NAME_address): they are the stack's
            kept.append({k: v for k, v in job.items() if k not in _JOB_TIMING})
            continue
        target, why = _job_target(name, scrape, services, not_http, stack)
        if target is None:
            dropped.append((name, why))
            continue
        labels: dict[str, Any] = {}
        for group in job.get("static_configs") or ():
            for key, value in ((group or {}).get("labels") or {}).items():
                labels.setdefault(key, value)
        rendered = {
            k: v
            for k, v in job.items()
            if not k.endswith("_sd_configs") and k != "static_configs" and k not in _JOB_TIMING
        }
        rendered["static_configs"] = [
            {"targets": [target], **({"labels": labels} if labels else {})}
        ]
        kept.append(rendered)
    scraped = {job["job_name"] for job in kept} | {job for job, _ in dropped}
    for own in STACK_JOBS:
        if own not in scraped and own in stack:
            added: dict[str, Any] = {"job_name": own}
            if own == "pushgateway":  # pushed job/instance labels are kept
                added["honor_labels"] = True
            added["static_configs"] = [{"targets": [stack[own]]}]
            kept.append(added)
    doc["scrape_configs"] = kept
    header = f"# Test copy of {source}, rendered by synthmon (the original is never edited).\n"
    return RenderedPrometheus(
        header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), tuple(dropped)
    )
