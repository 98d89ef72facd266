"""``synthmon`` command line. ``synthmon gate``: evaluate an SLO spec over a window, exit 0/1/2;
``synthmon validate [FILE]``: check a project file, exit 0 or 4 (one line per problem);
``synthmon schema``: print the project file's JSON Schema; ``synthmon up``: start the project's
stack and keep it up until Ctrl-C; ``synthmon down RUN_DIR``: stop a stack left running;
``synthmon routes diff --base REF``: who is notified of each alert before and after a change,
exit 1 when the policy is violated, 4 on bad input; ``synthmon init --from FILE``: a starter
synthmon.yaml from docker-compose files, exit 0 or 4; ``synthmon worker --master HOST:PORT
LOCUSTFILE``: one Locust worker on this host for a master elsewhere.

Exit codes: 0 every objective holds, 1 an objective is violated, 2 the gate could not be
evaluated (bad input, Prometheus unreachable, no data, too few requests). With ``--baseline``
an objective that got worse than the baseline report by more than its margin is also exit 1,
and one that cannot be compared exit 2 (the worse of the two verdicts wins). ``--current FILE``
compares an existing report (a capacity search's) with the baseline, without Prometheus: exit
1 when the knee dropped by more than ``capacity=N%``, 2 when that cannot be vouched for.
Every failure we expect is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from synthmon import external
from synthmon.durations import parse_duration
from synthmon.errors import ConfigError, SynthmonError
from synthmon.fingerprint import Fingerprint, definition_hash
from synthmon.jsonfile import read_json
from synthmon.redact import Redactor
from synthmon.settings import OPTIONS, Settings
from synthmon.slo import evaluate, load_client_stats, load_spec
from synthmon.slo.regression import compare, parse_margins, parse_report, read_report

DEFAULT_TIMEOUT = 30.0  # a 24 h window over many series is a heavy query
#: The settings (of the plugin's OPTIONS table) the gate reads: where Prometheus is, the spec,
#: and its credentials and TLS. Other SYNTHMON_* variables are not the gate's business.
GATE_SETTINGS = ("prometheus_url", "slo_spec", "bearer_token", "bearer_token_file",
                 "basic_auth_user", "basic_auth_password", "basic_auth_password_file",
                 "ca_file", "client_cert", "client_key")  # fmt: skip
_OWN_FLAGS = {"slo_spec": "--spec"}  # the gate's name since before the table


def parse_time(text: object, what: str) -> float:
    """Unix seconds from a number or an ISO 8601 string (no offset means UTC)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str):
        try:
            value = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                raise ConfigError(
                    f"{what}: expected unix seconds or ISO 8601 "
                    f"(2024-05-01T12:00:00Z), got {text!r}"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            value = moment.timestamp()
    else:
        raise ConfigError(f"{what}: expected unix seconds or ISO 8601, got {text!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what}: expected a time after 1970, got {text!r}")
    return value


def read_window_file(path: str) -> tuple[float, float]:
    """``{"start": T, "end": T}`` (unix seconds or ISO 8601), as the load step writes it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read window file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or "start" not in doc or "end" not in doc:
        raise ConfigError(f"{path}: expected a JSON object with start and end, got {doc!r}")
    return parse_time(doc["start"], f"{path}: start"), parse_time(doc["end"], f"{path}: end")


def _window(args: argparse.Namespace) -> tuple[float, float]:
    given = [
        name
        for name, value in (
            ("--start/--end", args.start or args.end),
            ("--last", args.last),
            ("--window-file", args.window_file),
        )
        if value
    ]
    if len(given) != 1:
        raise ConfigError(
            "window: give exactly one of --start T --end T, --last DURATION, --window-file FILE"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if args.window_file:
        return read_window_file(args.window_file)
    if args.last:
        seconds = parse_duration(args.last)
        now = time.time()
        return now - seconds, now
    if not (args.start and args.end):
        raise ConfigError("window: --start and --end go together")
    return parse_time(args.start, "--start"), parse_time(args.end, "--end")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--timeout: expected seconds > 0, got {text!r}") from None
    if not value > 0:
        raise ConfigError(f"--timeout: expected seconds > 0, got {text!r}")
    return value


def _table_settings(
    args: argparse.Namespace,
    names: Iterable[str],
    environ: Mapping[str, str] | None,
    given: Mapping[str, str] | None = None,
    ini: Mapping[str, tuple[str, str]] | None = None,
) -> Settings:
    """Settings from the plugin's OPTIONS table for a subcommand that takes only ``names``:
    its flags, then their ``SYNTHMON_*`` env (no other variable), then ``ini``, then defaults."""
    names = set(names)
    env = os.environ if environ is None else environ
    own_env = {o.env for o in OPTIONS if o.name in names}
    values = {name: getattr(args, name, None) for name in names} | dict(given or {})
    return Settings.from_values(
        lambda option: values.get(option.name),
        {k: v for k, v in env.items() if k in own_env},
        ini=ini,
    )


def _add_table_options(
    parser: argparse.ArgumentParser,
    names: Iterable[str],
    metavar: Callable[[str], str],
    flags: Mapping[str, str] | None = None,
) -> None:
    """The OPTIONS table's flags for ``names`` (same names, env variables and help)."""
    for option in OPTIONS:
        if option.name in names and option.cli:
            default = f"; default {option.default}" if option.default else ""
            parser.add_argument(
                (flags or {}).get(option.name, option.flag),
                dest=option.name,
                metavar=metavar(option.name),
                help=f"{option.help} (env {option.env}{default})",
            )


def gate_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """The gate's settings, built like the plugin's (``Settings.from_values``): options, then
    ``SYNTHMON_*`` env, then defaults; the timeout is the gate's own ``--timeout``."""
    given = {"http_timeout": str(_timeout(args.timeout))}
    settings = _table_settings(args, GATE_SETTINGS, environ, given)
    if settings.prometheus_url is None:
        raise ConfigError("--prometheus-url (or SYNTHMON_PROMETHEUS_URL) is required")
    return settings


def cmd_gate(args: argparse.Namespace) -> int:
    if args.current:
        return _compare_current(args)
    settings = gate_settings(args)
    redactor = Redactor.from_environ()  # a proxy's error page may echo the credentials
    for secret in external.secrets_of(settings):
        redactor.add(secret)
    try:
        return _gate(args, settings, redactor)
    except SynthmonError as exc:
        raise type(exc)(redactor.redact(str(exc))) from None


def _gate(args: argparse.Namespace, settings: Settings, redactor: Redactor) -> int:
    url = str(settings.prometheus_url)  # gate_settings made sure there is one
    if args.max_regression and not args.baseline:  # a usage error before any file is read
        raise ConfigError("--max-regression needs --baseline FILE (the report to compare with)")
    spec = load_spec(settings.slo_spec)
    window = _window(args)
    client = load_client_stats(args.locust_stats) if args.locust_stats else None
    margins = parse_margins(args.max_regression)
    baseline = read_report(args.baseline) if args.baseline else None  # bad input fails first
    with external.prometheus(settings, url, remote=True) as prom:
        report = evaluate(spec, prom, window, client)
    report = dataclasses.replace(report, fingerprint=_load_fingerprint(args, spec))
    doc = report.to_dict()
    regression = None
    if baseline is not None:
        regression = compare(baseline, parse_report(doc, "this run"), margins)
        doc["regression"] = regression.to_dict()
    _write_report(args.report, doc)
    sys.stdout.write(redactor.redact(report.render_table(show_promql=args.show_promql)))
    if regression is None:
        return report.exit_code
    sys.stdout.write("\n" + redactor.redact(regression.render()))
    return max(report.exit_code, regression.exit_code)  # 2 beats 1 beats 0, as in the report


def _write_report(path: str | None, doc: Mapping[str, object]) -> None:
    if path:
        try:
            text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write report: {exc.strerror}") from None


def _load_fingerprint(args: argparse.Namespace, spec: object) -> Fingerprint | None:
    """The fingerprint the load step wrote into ``--window-file`` (where the load ran, which
    this host need not be), with this spec's hash; None when it wrote none."""
    if not args.window_file:
        return None
    doc = read_json(args.window_file, "window file")
    raw = doc.get("fingerprint") if isinstance(doc, dict) else None
    if raw is None:
        return None
    found = Fingerprint.from_dict(raw, f"{args.window_file}: fingerprint")
    return dataclasses.replace(found, spec_hash=definition_hash(spec))


def _compare_current(args: argparse.Namespace) -> int:
    """``--current FILE --baseline FILE``: compare two reports, evaluate nothing."""
    window = [flag for flag, given in (("--start", args.start), ("--end", args.end),
              ("--last", args.last), ("--window-file", args.window_file),
              ("--locust-stats", args.locust_stats)) if given]  # fmt: skip
    if window:
        raise ConfigError(
            f"--current compares an existing report; {', '.join(window)} is for evaluating a "
            "window (give one or the other)"
        )
    if not args.baseline:
        raise ConfigError("--current needs --baseline FILE (the report to compare it with)")
    margins = parse_margins(args.max_regression)
    baseline = read_report(args.baseline)
    doc = read_json(args.current, "SLO report")
    regression = compare(baseline, parse_report(doc, args.current), margins)
    _write_report(args.report, {**doc, "regression": regression.to_dict()})
    redactor = Redactor.from_environ()
    own = doc.get("verdict", "?")
    sys.stdout.write(redactor.redact(f"current report: {args.current} (its own verdict: {own})\n"))
    sys.stdout.write(redactor.redact(regression.render()))
    return regression.exit_code


def cmd_validate(args: argparse.Namespace) -> int:
    from synthmon.projectfile import PROJECT_FILE
    from synthmon.validate import VALIDATE_EXIT, validate

    target = args.file or os.environ.get("SYNTHMON_PROJECT") or PROJECT_FILE
    problems = validate(target)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"synthmon validate: {len(problems)} problem(s)", file=sys.stderr)
        return VALIDATE_EXIT
    print(f"synthmon validate: {target}: ok")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from synthmon.projectfile import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0


#: The settings ``synthmon up`` takes (of the plugin's OPTIONS table): what the stack needs.
UP_SETTINGS = ("project", "stack", "run_dir", "time_scale", "startup_timeout", "image",
               *(o.name for o in OPTIONS if o.name.startswith("image_")))  # fmt: skip
UP_STACKS = ("auto", "processes", "containers", "compose")


def up_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """``synthmon up``'s settings, built like the plugin's: options, then ``SYNTHMON_*`` env,
    then ./synthmon.yaml, then the defaults. A bad project file is a ConfigError."""
    from synthmon.projectfile import PROJECT_FILE

    ini = {"project": (PROJECT_FILE, f"./{PROJECT_FILE}")} if Path(PROJECT_FILE).is_file() else {}
    settings = _table_settings(args, UP_SETTINGS, environ, ini=ini)
    if settings.stack not in UP_STACKS:
        raise ConfigError(
            f"{settings.where('stack')} {settings.stack}: synthmon up starts a stack "
            f"({', '.join(UP_STACKS)}); an external one is already up"
        )
    if settings.project is None:
        raise ConfigError(
            f"no project: give {settings.where('project')} FILE (or SYNTHMON_PROJECT), or run "
            f"where {PROJECT_FILE} is"
        )
    return settings


def cmd_up(args: argparse.Namespace) -> int:
    from synthmon.up import up
    from synthmon.validate import VALIDATE_EXIT

    try:
        settings = up_settings(args)
    except ConfigError as exc:  # the project file or an option: one line, nothing started
        print(f"synthmon up: error: {exc}", file=sys.stderr)
        return VALIDATE_EXIT
    return up(settings)


def cmd_down(args: argparse.Namespace) -> int:
    from synthmon.up import down

    for line in down(Path(args.run_dir)):
        print(f"synthmon down: {line}", flush=True)
    return 0


def cmd_routes_diff(args: argparse.Namespace) -> int:
    from synthmon.amconfig.routes_diff import routes_diff
    from synthmon.projectfile import PROJECT_FILE
    from synthmon.validate import VALIDATE_EXIT

    target = args.project or os.environ.get("SYNTHMON_PROJECT") or PROJECT_FILE
    try:
        report = routes_diff(target, args.base)
    except ConfigError as exc:
        print(f"synthmon routes diff: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return VALIDATE_EXIT
    for line in report.changes:
        print(line)
    for line in report.violations:
        print(f"policy violated: {line}")
    print(
        f"synthmon routes diff: {len(report.changes)} change(s) against {args.base}, "
        f"{len(report.violations)} policy violation(s)"
    )
    return report.exit_code


def cmd_init(args: argparse.Namespace) -> int:
    from synthmon.init_from import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="synthmon", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gate = sub.add_parser(
        "gate",
        help="evaluate an SLO spec over a window (exit 0 pass, 1 violated, 2 not evaluated)",
        description="Evaluate an SLO spec against Prometheus over exactly one window.",
    )
    _add_table_options(
        gate,
        GATE_SETTINGS,
        lambda name: {"url": "URL", "user": "USER"}.get(name.rpartition("_")[2], "FILE"),
        _OWN_FLAGS,
    )
    gate.add_argument("--start", help="window start: unix seconds or ISO 8601")
    gate.add_argument("--end", help="window end: unix seconds or ISO 8601")
    gate.add_argument("--last", metavar="DURATION", help="window = the last DURATION (24h, 90m)")
    gate.add_argument(
        "--window-file", metavar="FILE", help='JSON {"start": T, "end": T} (load-window.json)'
    )
    gate.add_argument(
        "--locust-stats",
        metavar="FILE",
        default=env("SYNTHMON_LOCUST_STATS"),
        help="Locust totals to cross-check (env SYNTHMON_LOCUST_STATS)",
    )
    gate.add_argument(
        "--report",
        metavar="FILE",
        default=env("SYNTHMON_SLO_REPORT"),
        help="write the JSON report here, e.g. slo-report.json (env SYNTHMON_SLO_REPORT)",
    )
    gate.add_argument(
        "--timeout",
        default=env("SYNTHMON_PROMETHEUS_TIMEOUT", str(DEFAULT_TIMEOUT)),
        help=f"seconds per Prometheus request (env SYNTHMON_PROMETHEUS_TIMEOUT; "
        f"default {DEFAULT_TIMEOUT:g})",
    )
    gate.add_argument("--show-promql", action="store_true", help="print the PromQL of each row")
    gate.add_argument(
        "--baseline",
        metavar="FILE",
        default=env("SYNTHMON_SLO_BASELINE"),
        help="a previous slo-report.json: also fail (exit 1) when an objective got worse than "
        "it by more than its margin (env SYNTHMON_SLO_BASELINE)",
    )
    gate.add_argument(
        "--max-regression",
        metavar="MARGINS",
        default=env("SYNTHMON_MAX_REGRESSION"),
        help="allowed worsening per objective name, pNN or type, e.g. "
        "p95=10%%,error_rate=0.5pp,p95-latency=20ms, and the allowed drop of the capacity "
        "knee, capacity=10%% (default: +10%%, error_rate +0.5pp, capacity -10%%; "
        "env SYNTHMON_MAX_REGRESSION)",
    )
    gate.add_argument(
        "--current",
        metavar="FILE",
        help="compare this existing slo-report.json (e.g. a capacity search's) with --baseline "
        "instead of evaluating a window; needs no Prometheus",
    )
    gate.set_defaults(handler=cmd_gate)
    validate = sub.add_parser(
        "validate",
        help="check a project file: schema, services, files, rules; exit 0 ok, 4 problems",
        description="Check a project file (synthmon.yaml) without starting anything: one line "
        "per problem on stderr, exit 4 when there is any.",
    )
    validate.add_argument(
        "file",
        nargs="?",
        help="synthmon.yaml or its directory (default: SYNTHMON_PROJECT, else ./synthmon.yaml)",
    )
    validate.set_defaults(handler=cmd_validate)
    schema = sub.add_parser("schema", help="print the JSON Schema of synthmon.yaml")
    schema.set_defaults(handler=cmd_schema)
    up = sub.add_parser(
        "up",
        help="start the project's stack, print its URLs, keep it up until Ctrl-C",
        description="Start the project's stack (as a test session would) and keep it up, "
        "printing every URL, until Ctrl-C or SIGTERM tears all of it down. A bad project file "
        "is one line and exit 4.",
    )
    _add_table_options(
        up,
        UP_SETTINGS,
        lambda name: {"project": "FILE", "run_dir": "DIR", "stack": "KIND"}.get(
            name, "IMAGE" if name.startswith("image_") else "N"
        ),
    )
    up.set_defaults(handler=cmd_up)
    down = sub.add_parser(
        "down",
        help="stop a stack left running (synthmon up, or pytest --keep-stack)",
        description="Stop every service <RUN_DIR>/pids.json records (its owner, when alive, "
        "is asked to do its own teardown).",
    )
    down.add_argument("run_dir", metavar="RUN_DIR", help="the run directory the stack printed")
    down.set_defaults(handler=cmd_down)
    routes = sub.add_parser("routes", help="the alert routing of alertmanager.yml, without a stack")
    routes_sub = routes.add_subparsers(dest="routes_command", required=True, metavar="COMMAND")
    routes_diff = routes_sub.add_parser(
        "diff",
        help="who is notified of each alert, before (--base REF) and now; exit 1 on a policy "
        "violation, 4 on bad input",
        description="Route every alert rule's labels through alertmanager.yml at a git ref and in "
        "the working tree: one line per changed alert, then one per policy violation.",
    )
    routes_diff.add_argument("--base", required=True, metavar="REF", help="git ref to compare with")
    routes_diff.add_argument(
        "--project",
        metavar="FILE",
        help="synthmon.yaml or its directory (default: SYNTHMON_PROJECT, else ./synthmon.yaml)",
    )
    routes_diff.set_defaults(handler=cmd_routes_diff)
    from synthmon.init_from import ARGUMENTS, HELP

    init = sub.add_parser("init", help=HELP, description=HELP)
    for flag, kwargs in ARGUMENTS:
        init.add_argument(flag, **kwargs)
    init.set_defaults(handler=cmd_init)
    from synthmon.load import remote

    worker = sub.add_parser("worker", help=remote.HELP, description=remote.HELP)
    for flag, kwargs in remote.ARGUMENTS:
        worker.add_argument(flag, **kwargs)
    worker.set_defaults(handler=remote.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``synthmon`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        code: int = args.handler(args)
    except SynthmonError as exc:
        print(f"synthmon {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"synthmon {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
