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
            "--stack: expected one of auto, processes, containers, compose, external, "
            "got 'kubernetes'",
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


# -- a project's own image settings (a service's `image: NAME` no --image-NAME declares) -------

LINKCHECK = str(Path(__file__).resolve().parents[1] / "examples/linkcheck/synthmon.yaml")


def test_a_projects_own_image_setting_defaults_env_and_option() -> None:
    assert build({"project": LINKCHECK}).images["linkcheck"] == "synthmon/linkcheck:latest"
    env = {"SYNTHMON_IMAGE_LINKCHECK": "registry/linkcheck:pr-1"}
    assert build({"project": LINKCHECK}, env).images["linkcheck"] == "registry/linkcheck:pr-1"
    given = {"project": LINKCHECK, "image": " linkcheck = linkcheck:pr-2 "}
    assert build(given, env).images["linkcheck"] == "linkcheck:pr-2"
    assert "linkcheck" not in build().images  # no project: the built-in settings only


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("lincheck=x:1", "--image: 'lincheck' is no image setting of the project's own "
                         "(have: linkcheck; the built-in ones are --image-NAME)"),
        ("linkcheck", "--image: expected NAME=IMAGE[,NAME=IMAGE...], got 'linkcheck'"),
        ("linkcheck=a b", "--image linkcheck=: expected an image name like redis:7, got 'a b'"),
        ("redis=x:1", "--image: 'redis' is no image setting of the project's own"),
    ],
)  # fmt: skip
def test_a_bad_project_image_fails_in_one_line(image: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build({"project": LINKCHECK, "image": image})
    assert message in str(caught.value) and "\n" not in str(caught.value)
