"""The redaction pytest plugin (``-p synthmon.redact``): secrets out of everything a run prints
or writes: terminal, logs, JUnit XML, Allure results.

It holds the run's :class:`~synthmon.masking.Redactor` (the masking itself lives in
synthmon.masking, usable without pytest) and scrubs each report before any reporter reads it,
each log record at creation, each Allure result before it is written (attachments right after).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from synthmon.masking import MASK, RedactingFilter, Redactor, hide_password, install_log_redaction

if TYPE_CHECKING:
    import pytest

__all__ = [  # the masking names stay importable from here for existing importers
    "MASK",
    "RedactingFilter",
    "Redactor",
    "hide_password",
    "install_log_redaction",
    "redactor_of",
    "scrub_report",
]


def scrub_report(redactor: Redactor, report: pytest.TestReport | pytest.CollectReport) -> None:
    """Redact a report's traceback, sections and properties before any reporter reads them."""
    import pytest  # late, like the hook markers: importing this module needs no pytest

    report.longrepr = redactor.scrub(report.longrepr)
    report.sections = [(title, redactor.redact(text)) for title, text in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [redactor.scrub(p) for p in report.user_properties]
    text = report.longreprtext if report.longrepr is not None else ""
    if redactor.redact(text) != text:  # a repr the walk could not reach into
        report.longrepr = redactor.redact(text)


# -- the pytest plugin ---------------------------------------------------------------------------

_hookimpl = pluggy.HookimplMarker("pytest")  # pytest.hookimpl, without importing pytest here
_allure_hookimpl = pluggy.HookimplMarker("allure")
_redactors: weakref.WeakKeyDictionary[pytest.Config, Redactor] = weakref.WeakKeyDictionary()
_undo: weakref.WeakKeyDictionary[Any, list[Callable[[], None]]] = weakref.WeakKeyDictionary()
_active: weakref.WeakSet[pytest.Config] = weakref.WeakSet()


def redactor_of(config: pytest.Config) -> Redactor:
    """The run's Redactor; register what the run creates: ``redactor_of(config).add(token)``."""
    if config not in _redactors:
        _redactors[config] = Redactor.from_environ()
    return _redactors[config]


class _AllureRedaction:
    """Allure writer hooks: results are scrubbed before they are written, attachments after."""

    def __init__(self, redactor: Redactor, report_dir: Path) -> None:
        self.redactor, self.report_dir = redactor, report_dir

    @_allure_hookimpl(wrapper=True)
    def report_result(self, result: Any) -> Generator[None, None, None]:
        self.redactor.scrub(result)
        return (yield)

    @_allure_hookimpl(wrapper=True)
    def report_container(self, container: Any) -> Generator[None, None, None]:
        self.redactor.scrub(container)
        return (yield)

    @_allure_hookimpl(wrapper=True)
    def report_attached_data(self, body: Any, file_name: str) -> Generator[None, None, None]:
        yield
        self._scrub_file(self.report_dir / file_name)

    @_allure_hookimpl(wrapper=True)
    def report_attached_file(self, source: Any, file_name: str) -> Generator[None, None, None]:
        yield
        self._scrub_file(self.report_dir / file_name)

    def _scrub_file(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if (clean := self.redactor.redact_bytes(data)) != data:
                path.with_name(path.name + ".tmp").write_bytes(clean)
                os.replace(path.with_name(path.name + ".tmp"), path)


def activate(config: pytest.Config) -> None:
    """Redact this session's log records, reports and Allure results from now on. The synthmon
    plugin calls it once the session uses synthmon: other projects in the venv keep pytest's
    logging and their own output."""
    from synthmon.settings import OPTIONS

    if config in _active:
        return
    _active.add(config)
    redactor = redactor_of(config)
    for option in OPTIONS:  # --some-url http://user:pw@host, --bearer-token-file PATH, ...
        value = config.getoption(f"synthmon_{option.name}", None)
        if isinstance(value, str):
            redactor.add_setting(option.env, value)
    undo = _undo.setdefault(config, [])
    undo.append(install_log_redaction(redactor))
    report_dir = getattr(config.option, "allure_report_dir", None)
    if report_dir:
        import allure_commons

        hooks = _AllureRedaction(redactor, Path(report_dir).absolute())
        allure_commons.plugin_manager.register(hooks)
        undo.append(lambda: allure_commons.plugin_manager.unregister(hooks))


@_hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """On its own (``-p synthmon.redact`` without the synthmon plugin) it is always on."""
    if not any(config.pluginmanager.has_plugin(n) for n in ("synthmon", "synthmon.plugin")):
        activate(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _active.discard(config)
    for undo in reversed(_undo.pop(config, [])):
        undo()


@_hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Innermost wrapper: the report is clean before skipping, Allure or JUnit read it."""
    report = yield
    if item.config in _active:
        scrub_report(redactor_of(item.config), report)
    return report


@_hookimpl(wrapper=True, trylast=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if collector.config in _active:
        scrub_report(redactor_of(collector.config), report)
    return report
