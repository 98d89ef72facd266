"""The one HTTP error format and the one JSON reader: one line, password masked, fields set."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import httpx
import pytest

from synthmon.errors import ConfigError, HttpError, PushError, QueryError
from synthmon.http_errors import body_excerpt, json_of, send, transport_problem
from synthmon.jsonfile import read_json

BASE = "http://user:pw-9d1c77@svc.example:9093/api/v2"


def client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(base_url=BASE, transport=handler, timeout=2)


def answering(status: int, body: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, text=body))


def test_an_error_status_names_service_url_action_status_and_body() -> None:
    body = "bad matcher\n" + "x" * 1000
    with client(answering(422, body)) as http, pytest.raises(HttpError) as caught:
        send(http, "Alertmanager", "DELETE", "/silence/abc")
    error, text = caught.value, str(caught.value)
    assert text.startswith(
        "Alertmanager http://user:***@svc.example:9093/api/v2: DELETE /silence/abc: "
        "HTTP 422: bad matcher xxx"
    )
    assert "\n" not in text and "pw-9d1c77" not in text and len(text) < 400
    assert (error.method, error.status) == ("DELETE", 422)
    assert error.url == "http://user:***@svc.example:9093/api/v2/silence/abc"
    assert error.seen.startswith("bad matcher") and isinstance(error, QueryError)
    again = pickle.loads(pickle.dumps(error))  # xdist and subprocesses keep the fields
    assert (str(again), again.url, again.status) == (text, error.url, 422)


def test_no_answer_is_the_same_format_with_the_transport_problem() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with client(httpx.MockTransport(refuse)) as http, pytest.raises(PushError) as caught:
        send(http, "Pushgateway", "PUT", "/metrics/job/x", error=PushError)
    assert str(caught.value) == (
        "Pushgateway http://user:***@svc.example:9093/api/v2: PUT /metrics/job/x: "
        "unreachable: Connection refused"
    )
    assert caught.value.status is None


def test_transport_problems() -> None:
    assert transport_problem(httpx.ReadTimeout("timed out"), 5) == "no answer within 5 s"
    assert transport_problem(httpx.RemoteProtocolError("Server disconnected")) == (
        "RemoteProtocolError: Server disconnected"
    )


def test_body_excerpt_takes_the_error_field_of_a_json_error() -> None:
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"})
    assert body_excerpt(body.encode()) == "bad_data: parse error"
    assert body_excerpt(b"") == "(empty body)"


def test_a_body_that_is_not_json_is_an_http_error_not_a_decode_traceback() -> None:
    with client(answering(200, "<html>login</html>")) as http, pytest.raises(HttpError) as e:
        json_of("Alertmanager", BASE, send(http, "Alertmanager", "GET", "/status"))
    assert str(e.value).startswith(
        "Alertmanager http://user:***@svc.example:9093/api/v2: GET /status: "
        "not a JSON answer: Expecting value"
    )
    assert "(body: <html>login</html>)" in str(e.value) and e.value.status == 200
    with client(answering(200, '{"ok": 1}')) as http:
        assert json_of("Alertmanager", BASE, send(http, "Alertmanager", "GET", "/s")) == {"ok": 1}


def test_json_files_fail_in_one_line_naming_file_and_what(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"none\.json: cannot read SLO report: No such file"):
        read_json(tmp_path / "none.json", "SLO report")
    (tmp_path / "bad.json").write_text('{"a": }')
    with pytest.raises(ConfigError, match=r"bad\.json: not a JSON SLO report: Expecting value"):
        read_json(tmp_path / "bad.json", "SLO report")
    (tmp_path / "deep.json").write_text("[" * 100_000)
    with pytest.raises(ConfigError, match=r"deep\.json: not a JSON SLO report: nested too deep"):
        read_json(tmp_path / "deep.json", "SLO report")
    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "ok.json", "SLO report") == {"a": 1}
