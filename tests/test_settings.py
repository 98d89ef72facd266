"""Settings: options beat SYNTHMON_* env, which beats defaults; bad values fail in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmon.errors import ConfigError
from synthmon.settings import Option, Settings


def build(options: dict[str, str] | None = None, env: dict[str, str] | None = None) -> Settings:
    given = options or {}
    return Settings.from_values(lambda opt: given.get(opt.name), env or {})


def test_defaults() -> None:
    settings = build()
    assert settings.stack == "auto"
    assert settings.time_scale == 60.0
    assert settings.run_dir == Path(".synthmon/runs")
    assert settings.grafana_url is None


def test_env_fallback_and_option_precedence() -> None:
    env = {"SYNTHMON_TIME_SCALE": "30", "SYNTHMON_HTTP_TIMEOUT": "2"}
    assert build(env=env).time_scale == 30.0
    assert build({"time_scale": "10"}, env).time_scale == 10.0
    assert build(env=env).http_timeout == 2.0


def test_option_names() -> None:
    option = Option("time_scale", "help")
    assert (option.flag, option.env) == ("--time-scale", "SYNTHMON_TIME_SCALE")


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        (
            {"stack": "kubernetes"},
            {},
            "--stack: expected one of auto, processes, containers, external, got 'kubernetes'",
        ),
        (
            {},
            {"SYNTHMON_TIME_SCALE": "fast"},
            "SYNTHMON_TIME_SCALE: expected a number > 0, got 'fast'",
        ),
        ({"time_scale": "0"}, {}, "--time-scale: expected a number > 0, got '0'"),
        ({"grafana_url": "localhost:3000"}, {}, "--grafana-url: expected an http(s) URL"),
        ({"stack": "external"}, {}, "--stack external needs --target-url and --prometheus-url"),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_source(
    options: dict[str, str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(options, env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_urls_lose_trailing_slash() -> None:
    settings = build(
        {"stack": "external", "target_url": "http://a:1/", "prometheus_url": "https://p/"}
    )
    assert (settings.target_url, settings.prometheus_url) == ("http://a:1", "https://p")
