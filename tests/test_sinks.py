"""The notification sinks, alone and behind a real Alertmanager running the rendered config.

Processes are real and are stopped by PID in fixture teardown (others run alertmanagers too).
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from synthmon.alerting import AlertmanagerClient, alert_payload
from synthmon.amconfig.routing import RouteTree
from synthmon.errors import QueryError, UnexpectedEvent, WaitTimeout
from synthmon.sinks import Notification, SinkClient
from synthmon.sinks._parse import BEGIN, END, ParsedAlert, alerts_of
from synthmon.stack.alertmanager_config import render_alertmanager_config

Starter = Callable[[str, list[str], str], "subprocess.Popen[bytes]"]
ROOT = Path(__file__).resolve().parents[1]
AM_DIR = ROOT / "examples" / "manager-app" / "monitoring" / "alertmanager"
HOST = "127.0.0.1"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ROUTING_KEY = "a" * 32  # any 32-character key is valid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starter]:
    """Start a process and wait until ``ready_url`` answers 200; teardown stops it by PID."""
    started: list[subprocess.Popen[bytes]] = []

    def run(name: str, argv: list[str], ready_url: str) -> subprocess.Popen[bytes]:
        log = tmp_path_factory.mktemp(name) / f"{name}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            started.append(subprocess.Popen(argv, stdout=out, stderr=out, cwd=ROOT))
        end = time.monotonic() + 15
        while started[-1].poll() is None and time.monotonic() < end:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    return started[-1]
            time.sleep(0.1)
        pytest.fail(f"{name} not ready at {ready_url}: {log.read_text()[-2000:]}")

    try:
        yield run
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def sinks_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sinks-log") / "arrivals.jsonl"


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def sinks(start: Starter, sinks_log: Path, smtp_port: int) -> Iterator[SinkClient]:
    http_port = free_port()
    argv = [sys.executable, "-m", "synthmon.sinks", "--host", HOST, "--http-port", str(http_port),
            "--smtp-port", str(smtp_port), "--log", str(sinks_log)]  # fmt: skip
    start("sinks", argv, f"http://{HOST}:{http_port}/-/ready")
    with SinkClient(f"http://{HOST}:{http_port}") as client:
        yield client


@pytest.fixture(scope="module")
def alertmanager(
    start: Starter, sinks: SinkClient, smtp_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertmanagerClient]:
    """A real Alertmanager running the production config, rendered (x60) onto the sinks."""
    work = tmp_path_factory.mktemp("alertmanager")
    config = render_alertmanager_config(
        (AM_DIR / "alertmanager.yml").read_text(), factor=60,
        sinks_http_url=sinks.base_url, smtp_host=HOST, smtp_port=smtp_port,
        secrets_dir=work / "secrets", base_dir=AM_DIR,
        path_map={"/etc/alertmanager/templates": AM_DIR / "templates"},
    )  # fmt: skip
    (work / "alertmanager.yml").write_text(config)
    port = free_port()
    argv = [ALERTMANAGER, f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'data'}", f"--web.listen-address={HOST}:{port}",
            "--cluster.listen-address="]  # fmt: skip
    start("alertmanager", argv, f"http://{HOST}:{port}/-/ready")
    with AlertmanagerClient(f"http://{HOST}:{port}") as client:
        yield client


def firing(labels: dict[str, str], notes: dict[str, str] | None = None) -> dict[str, Any]:
    """An alert as Prometheus sends it: endsAt ahead, re-sent while it fires."""
    return alert_payload(labels, notes, ends_at=datetime.now(UTC) + timedelta(hours=1))


def resolved(labels: dict[str, str], notes: dict[str, str] | None = None) -> dict[str, Any]:
    """An alert that ended now; it began earlier (startsAt after endsAt is a 400)."""
    now = datetime.now(UTC)
    return alert_payload(labels, notes, starts_at=now - timedelta(minutes=1), ends_at=now)


def pd_event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "k1",
        "payload": {"summary": "s", "source": "test", "severity": "critical"},
    }  # fmt: skip
    event.update(changes)
    return event


# -- the sinks alone -----------------------------------------------------------------------


def test_pagerduty_answers_a_valid_event_like_the_real_api(sinks: SinkClient) -> None:
    response = httpx.post(f"{sinks.base_url}/r/pd/pagerduty/0", json=pd_event())
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "k1"}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"routing_key": "short"}, "routing_key"),
        ({"event_action": "fire"}, "event_action"),
        ({"payload": {"summary": "s", "source": "x", "severity": "fatal"}}, "payload.severity"),
        ({"payload": {"source": "x", "severity": "info"}}, "payload.summary"),
        ({"event_action": "resolve", "dedup_key": ""}, "dedup_key"),
    ],
)
def test_pagerduty_rejects_invalid_events(
    sinks: SinkClient, changes: dict[str, object], error: str
) -> None:
    since = time.time()
    response = httpx.post(f"{sinks.base_url}/r/pd/pagerduty/0", json=pd_event(**changes))
    assert response.status_code == 400 and response.json()["status"] == "invalid event"
    assert any(error in e for e in response.json()["errors"])
    assert sinks.notifications(since) == []
    [refused] = sinks.requests(since)  # recorded as a request, with why it was refused
    assert (refused.receiver, refused.kind, refused.status_code) == ("pd", "pagerduty", 400)
    assert any(error in e for e in refused.errors) and not refused.notification


def test_slack_and_webhook_are_attributed_by_path(sinks: SinkClient) -> None:
    since = time.time()
    slack = f"{sinks.base_url}/r/slack-p1/slack/0"
    ok = httpx.post(slack, json={"channel": "#ops", "text": "[FIRING:1] Foo P2"})
    assert (ok.status_code, ok.text) == (200, "ok")
    assert httpx.post(slack, json={}).text == "no_text"
    assert httpx.post(slack, content=b"{").status_code == 400
    body = {"receiver": "from-payload", "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "Watchdog"}}]}  # fmt: skip
    assert httpx.post(f"{sinks.base_url}/r/a%2Fb%20c/webhook/2", json=body).status_code == 200
    got = sinks.notifications(since)
    expected = [("slack-p1", "slack", 0, "ops", "Foo", "firing"),
                ("a/b c", "webhook", 2, "", "Watchdog", "firing")]  # fmt: skip
    assert [
        (n.receiver, n.kind, n.index, n.channel, n.alertname, n.status) for n in got
    ] == expected
    assert (got[1].method, got[1].path) == ("POST", "")


def test_a_path_outside_the_scheme_is_a_404_that_names_it(sinks: SinkClient) -> None:
    since = time.time()
    for path in ("/r/x/webhook", "/r/x/webhook/first", "/r/x/carrier-pigeon/0", "/r/x/email/0"):
        response = httpx.post(f"{sinks.base_url}{path}", json={"alerts": []})
        assert response.status_code == 404, path
    assert "expected /r/{receiver}/{integration}/{index}" in httpx.get(f"{sinks.base_url}/r/x").text
    assert sinks.notifications(since) == []
    assert [r.status_code for r in sinks.requests(since)] == [404] * 5


def send_mail(port: int, hello: str, *, tls: bool, login: bool) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "[RESOLVED] Foo", "a@x", "b@example.com"
    message.set_content(
        f'text\n{BEGIN}\n{{"receiver":"r","alerts":[{{"status":"resolved",'
        f'"labels":{{"alertname":"Foo","priority":"P3"}},"annotations":{{"summary":"s"}}}}]}}\n{END}\n'
    )
    with smtplib.SMTP(HOST, port, local_hostname=hello, timeout=5) as smtp:
        if tls:
            smtp.starttls(context=ssl._create_unverified_context())  # the sink's cert is throwaway
        if login:
            smtp.login("anyone", "any password")
        smtp.send_message(message)


@pytest.mark.parametrize(("tls", "login"), [(True, True), (False, True), (False, False)])
def test_smtp_message_is_attributed_by_its_ehlo_name(
    sinks: SinkClient, smtp_port: int, tls: bool, login: bool
) -> None:
    since = time.time()
    send_mail(smtp_port, "r/ops%20team/email/1", tls=tls, login=login)
    [got] = sinks.wait_for(lambda n: n.kind == "email", 5, "the email", since=since)
    assert (got.receiver, got.index, got.channel, got.status) == (
        "ops team",
        1,
        "b@example.com",
        "resolved",
    )
    assert got.labels == {"alertname": "Foo", "priority": "P3"}
    assert got.annotations == {"summary": "s"} and "Subject: [RESOLVED] Foo" in got.raw
    [request] = sinks.requests(since)
    assert (request.tls, request.authenticated) == (tls, login)


def test_smtp_from_an_unknown_client_is_kept_with_receiver_unknown(
    sinks: SinkClient, smtp_port: int
) -> None:
    since = time.time()
    send_mail(smtp_port, "mailer.example.com", tls=False, login=False)
    [got] = sinks.wait_for(lambda n: n.kind == "email", 5, "the email", since=since)
    assert (got.receiver, got.index, got.path, got.alertname) == (
        "",
        0,
        "mailer.example.com",
        "Foo",
    )


def test_read_api_and_json_log(sinks: SinkClient, sinks_log: Path) -> None:
    httpx.post(f"{sinks.base_url}/r/logged/webhook/0", json={"alerts": []})
    last = json.loads(sinks_log.read_text().splitlines()[-1])
    assert (last["event"], last["kind"], last["receiver"]) == ("notification", "webhook", "logged")
    assert sinks.notifications(time.time() + 60) == []
    sinks.clear()
    assert sinks.notifications() == [] and sinks.requests() == []
    for read in ("notifications", "requests"):
        bad = httpx.get(f"{sinks.base_url}/{read}", params={"since": "soon"})
        assert bad.status_code == 400 and "since" in bad.text


def test_wait_for_timeout_lists_what_arrived(sinks: SinkClient) -> None:
    since = time.time()
    httpx.post(f"{sinks.base_url}/r/chat/slack/0", json={"text": "[FIRING:1] Other"})
    with pytest.raises(WaitTimeout) as caught:
        sinks.wait_for(lambda n: n.alertname == "Never", 0.3, "for Never", since=since)
    message = str(caught.value)
    assert message.startswith("timed out after 0.3 s waiting for a notification for Never; ")
    assert "received 1:" in message and "slack firing Other to chat/slack[0]" in message
    assert (caught.value.what, caught.value.timeout_s) == ("a notification for Never", 0.3)
    assert "slack firing Other to chat/slack[0]" in caught.value.seen


def test_expect_none_fails_at_the_first_unwanted_notification(sinks: SinkClient) -> None:
    since = time.time()
    httpx.post(f"{sinks.base_url}/r/chat/slack/0", json={"text": "[FIRING:1] Other"})
    started = time.monotonic()
    with pytest.raises(UnexpectedEvent) as caught:
        sinks.expect_none(lambda n: n.alertname == "Other", 30, "of Other", since=since)
    assert time.monotonic() - started < 10  # at once, not after the window
    message = str(caught.value)
    assert message.startswith("expected no notification of Other (watched 30 s), after ")
    assert "got 1:" in message and "slack firing Other to chat/slack[0]" in message
    sinks.expect_none(lambda n: n.alertname == "Never", 0.2, "of Never", since=since)  # control


# -- every integration's answer, as Alertmanager checks it --------------------------------

TEXT_LIST = (
    "Alerts Firing:\nLabels:\n - alertname = Foo\n - job = app\nAnnotations:\n - summary = s\n"
)
WECHAT_TOKEN = "synthmon-sinks-wechat-token"
Notified = tuple[str, str] | None  # (status, alertname) of the one notification, None: none
ANSWERS: list[tuple[str, str, str, dict[str, Any], int, str, Notified]] = [
    ("opsgenie create", "POST", "genie/opsgenie/0/v2/alerts",
     {"json": {"message": "[FIRING:1] X", "details": {"alertname": "Foo"}}}, 202,
     "Request will be processed", ("firing", "Foo")),
    ("opsgenie empty message", "POST", "genie/opsgenie/0/v2/alerts", {"json": {"message": ""}},
     422, "Message can not be empty", None),
    ("opsgenie close", "POST", "genie/opsgenie/0/v2/alerts/k/close?identifierType=alias",
     {"json": {"source": "am"}}, 202, "requestId", ("resolved", "")),
    ("opsgenie update", "PUT", "genie/opsgenie/0/v2/alerts/k/message", {"json": {}}, 202, "", None),
    ("victorops recovery", "POST", "vo/victorops/0/KEY/team",
     {"json": {"message_type": "RECOVERY", "entity_id": "e",
               "entity_display_name": "[RESOLVED] Foo"}},
     200, '"result":"success"', ("resolved", "Foo")),
    ("victorops bad type", "POST", "vo/victorops/0/KEY/team",
     {"json": {"message_type": "LOUD", "entity_id": "e"}}, 400, "failure", None),
    ("wechat token", "GET", "we/wechat/0/gettoken?corpid=c&corpsecret=s", {}, 200,
     f'"access_token":"{WECHAT_TOKEN}"', None),
    ("wechat no corp", "GET", "we/wechat/0/gettoken", {}, 200, '"errcode":40013', None),
    ("wechat send", "POST", f"we/wechat/0/message/send?access_token={WECHAT_TOKEN}",
     {"json": {"msgtype": "text", "text": {"content": "[FIRING:1] Foo\nbroke"}}}, 200,
     '"errcode":0', ("firing", "Foo")),
    ("wechat stale token", "POST", "we/wechat/0/message/send?access_token=old",
     {"json": {"msgtype": "text"}}, 200, '"errcode":40014', None),
    ("telegram", "POST", "tg/telegram/0//bot123:SECRET/sendMessage",
     {"json": {"chat_id": "42", "text": TEXT_LIST}}, 200, '"chat":{"id":42', ("firing", "Foo")),
    ("telegram empty", "POST", "tg/telegram/0/bot123:SECRET/sendMessage",
     {"json": {"chat_id": "42", "text": " "}}, 400, '"ok":false', None),
    ("webex", "POST", "wx/webex/0/", {"json": {"roomId": "r", "markdown": "[FIRING:2] Foo"}}, 200,
     '"roomId":"r"', ("firing", "Foo")),
    ("webex no room", "POST", "wx/webex/0", {"json": {"markdown": "m"}}, 400, "roomId", None),
    ("discord", "POST", "dc/discord/0", {"json": {"embeds": [{"title": "[RESOLVED] Foo"}]}}, 204,
     "", ("resolved", "Foo")),
    ("discord empty", "POST", "dc/discord/0", {"json": {}}, 400, "50006", None),
    ("msteams", "POST", "mt/msteams/0", {"json": {"title": "[FIRING:1] Foo", "text": "t"}}, 200,
     "1", ("firing", "Foo")),
    ("msteamsv2", "POST", "mt/msteamsv2/0",
     {"json": {"attachments": [{"content": {"body": [{"text": "[FIRING:1] Foo"}]}}]}}, 202, "",
     ("firing", "Foo")),
    ("rocketchat", "POST", "rc/rocketchat/0/api/v1/chat.postMessage",
     {"json": {"channel": "#ops", "text": "[FIRING:1] Foo"}}, 200, '"success":true',
     ("firing", "Foo")),
    ("rocketchat empty", "POST", "rc/rocketchat/0/api/v1/chat.postMessage", {"json": {}}, 400,
     '"success":false', None),
    ("sns", "POST", "sns/sns/0/",
     {"data": {"Action": "Publish", "TopicArn": "arn:t", "Subject": "[FIRING:1] Foo",
               "Message": "m"}},
     200, "<PublishResponse", ("firing", "Foo")),
    ("sns no target", "POST", "sns/sns/0/", {"data": {"Action": "Publish", "Message": "m"}}, 400,
     "<Code>InvalidParameter</Code>", None),
    ("pushover", "POST", "po/pushover/0",
     {"params": {"token": "t", "user": "u", "title": "[RESOLVED] Foo", "message": "m"}}, 200,
     '"status":1', ("resolved", "Foo")),
    ("pushover no user", "POST", "po/pushover/0", {"params": {"token": "t", "message": "m"}},
     400, "user is invalid", None),
    ("oauth2 token", "POST", "hook/webhook/0/oauth2/token", {"data": {"grant_type": "x"}}, 200,
     '"access_token"', None),
    ("slack app", "POST", "chat/slack/0",
     {"json": {"channel": "#c", "text": "[FIRING:1] Foo"},
      "headers": {"Authorization": "Bearer x"}},
     200, '"ok":true', ("firing", "Foo")),
    ("slack app error", "POST", "chat/slack/0",
     {"json": {"channel": "#c"}, "headers": {"Authorization": "Bearer x"}}, 200,
     '"error":"no_text"', None),
    ("pagerduty v1", "POST", "pd/pagerduty/0",
     {"json": {"service_key": "k", "event_type": "resolve", "description": "[RESOLVED] Foo"}},
     200, "incident_key", ("resolved", "Foo")),
    ("unknown status", "POST", "hook/webhook/0", {"json": {"text": "it broke"}}, 200, "ok",
     ("", "")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code", "answer", "notified"),
    [case[1:] for case in ANSWERS],
    ids=[case[0] for case in ANSWERS],
)
def test_each_integration_answers_as_the_real_service(
    sinks: SinkClient, method: str, path: str, kwargs: dict[str, Any], code: int, answer: str,
    notified: Notified,
) -> None:  # fmt: skip
    since = time.time()
    response = httpx.request(method, f"{sinks.base_url}/r/{path}", **kwargs)
    assert response.status_code == code, response.text
    assert answer in response.text
    got = [(n.status, n.alertname) for n in sinks.notifications(since)]
    assert got == ([notified] if notified else [])
    [request] = sinks.requests(since)
    assert (request.notification, request.status_code) == (notified is not None, code)
    assert "SECRET" not in request.path and "KEY" not in request.path  # credentials in paths


def test_jira_finds_the_issue_it_created_so_a_resolved_group_updates_it(
    sinks: SinkClient,
) -> None:
    since, base = time.time(), f"{sinks.base_url}/r/tickets/jira/0"
    search = {"jql": 'statusCategory != Done and project="OPS" and labels="ALERT{g1}" order by'}
    assert httpx.post(f"{base}/search", json=search).json()["total"] == 0
    bad = httpx.post(f"{base}/issue", json={"fields": {"project": {"key": "OPS"}}})
    assert bad.status_code == 400 and "summary" in bad.text
    fields = {"summary": "[FIRING:1] Foo", "project": {"key": "OPS"}, "labels": ["ALERT{g1}"]}
    created = httpx.post(f"{base}/issue", json={"fields": fields})
    assert created.status_code == 201 and created.json()["key"] == "SYN-1"
    [found] = httpx.post(f"{base}/search", json=search).json()["issues"]
    assert found["key"] == "SYN-1"
    update = {"fields": {**fields, "summary": "[RESOLVED] Foo"}}
    assert httpx.put(f"{base}/issue/SYN-1", json=update).status_code == 204
    got = [(n.status, n.alertname, n.method, n.path) for n in sinks.notifications(since)]
    assert got == [("firing", "Foo", "POST", "issue"), ("resolved", "Foo", "PUT", "issue/SYN-1")]
    assert [r.notification for r in sinks.requests(since)] == [False, False, True, False, True]


def test_payload_parsing_tries_each_way_and_says_unknown_when_none_fits() -> None:
    block = f'{BEGIN}\n{{"alerts":[{{"status":"firing","labels":{{"a":"bell\\a"}}}}]}}\n{END}'
    [alert] = alerts_of("slack", {"attachments": [{"text": block}]})
    assert alert.labels == {"a": "bell\a"}  # Go's %q escapes that JSON lacks
    details = {"firing": TEXT_LIST.split("\n", 1)[1], "resolved": "Labels:\n - alertname = Bar\n"}
    listed = alerts_of("pagerduty", {"payload": {"custom_details": details}}, "firing")
    assert [(a.status, a.labels["alertname"]) for a in listed] == [
        ("firing", "Foo"), ("resolved", "Bar")
    ]  # fmt: skip
    assert listed[0].annotations == {"summary": "s"}
    assert alerts_of("webhook", {"text": "down"}) == [ParsedAlert()]  # unknown, never dropped
    assert alerts_of("slack", "[RESOLVED] Foo (P2)", "firing")[0].status == "resolved"


# -- a real Alertmanager posting to the sinks ----------------------------------------------


def of(kind: str, name: str, status: str = "firing") -> Callable[[Notification], bool]:
    return lambda n: n.kind == kind and n.alertname == name and n.status == status


def test_p1_pages_and_slacks_p3_only_emails_then_both_resolve(
    sinks: SinkClient, alertmanager: AlertmanagerClient
) -> None:
    since = time.time()
    p1 = {"alertname": "SynthP1", "priority": "P1", "severity": "critical", "job": "app"}
    p3 = {"alertname": "SynthP3", "priority": "P3", "severity": "warning", "job": "app"}
    notes = {"summary": "it broke", "description": "two\nlines", "runbook_url": "http://rb/x"}
    alertmanager.post_alerts([firing(p1, notes), firing(p3, notes)])
    loaded = alertmanager.status()["config"]["original"]
    tree = RouteTree(yaml.safe_load(loaded))
    t1, t3 = (tree.match(labels)[0] for labels in (p1, p3))
    deadline = t3.group_wait_s + 5
    [page] = sinks.wait_for(of("pagerduty", "SynthP1"), deadline, "P1 page", since=since)
    [chat] = sinks.wait_for(of("slack", "SynthP1"), deadline, "P1 slack", since=since)
    [mail] = sinks.wait_for(of("email", "SynthP3"), deadline, "P3 email", since=since)
    for got, labels in ((page, p1), (chat, p1), (mail, p3)):
        assert got.labels == labels and got.annotations == notes
    assert (chat.channel, mail.channel) == ("incidents", "infrastructure@example.com")
    assert (page.receiver, mail.receiver) == ("pagerduty-slack-p1", "email-p3")
    allowed = {"SynthP1": {"pagerduty", "slack"}, "SynthP3": {"email"}}
    sinks.expect_none(
        lambda n: n.kind not in allowed.get(n.alertname, {n.kind}),
        0.5, "of SynthP1/SynthP3 outside their receivers", since=since,
    )  # fmt: skip

    since = time.time()
    alertmanager.post_alerts([resolved(p1, notes), resolved(p3, notes)])
    expected = (("pagerduty", "SynthP1", t1), ("slack", "SynthP1", t1), ("email", "SynthP3", t3))
    for kind, name, timing in expected:  # resolved goes out on the next group_interval tick
        deadline = timing.group_interval_s + 5
        sinks.wait_for(of(kind, name, "resolved"), deadline, f"{name} resolved", since=since)


def test_a_silence_stops_delivery_until_it_expires(
    sinks: SinkClient, alertmanager: AlertmanagerClient
) -> None:
    labels = {"alertname": "SynthMaintenance", "priority": "P1", "severity": "critical"}
    silence = alertmanager.create_silence(
        {"alertname": "SynthMaintenance"}, 300, "synthmon-tests", "planned maintenance"
    )
    assert any(s["id"] == silence for s in alertmanager.silences())
    since = time.time()
    alertmanager.post_alerts([firing(labels)])
    [held] = alertmanager.alerts({"alertname": "SynthMaintenance"})
    assert held["status"]["state"] == "suppressed" and held["status"]["silencedBy"] == [silence]
    sinks.expect_none(
        lambda n: n.alertname == "SynthMaintenance", 2.0, "while silenced", since=since
    )
    # The same alert is delivered once the silence is gone: the quiet above was the silence.
    alertmanager.expire_silence(silence)
    sinks.wait_for(of("pagerduty", "SynthMaintenance"), 10, "after the silence", since=since)
    alertmanager.post_alerts([resolved(labels)])


def test_watchdog_reaches_the_heartbeat_webhook(
    sinks: SinkClient, alertmanager: AlertmanagerClient
) -> None:
    since = time.time()
    watchdog = {"alertname": "Watchdog", "severity": "none", "priority": "P1"}
    alertmanager.post_alerts([firing(watchdog)])
    [beat] = sinks.wait_for(of("webhook", "Watchdog"), 5, "a heartbeat", since=since)
    assert (beat.receiver, beat.index, beat.channel) == ("heartbeat", 0, "")
    sinks.expect_none(lambda n: n.alertname == "Watchdog" and n.kind != "webhook", 1,
                      "of Watchdog outside the heartbeat", since=since)  # fmt: skip
    alertmanager.post_alerts([resolved(watchdog)])


def test_client_errors_are_one_line_query_errors(alertmanager: AlertmanagerClient) -> None:
    with pytest.raises(QueryError) as caught:
        alertmanager.expire_silence("not-a-uuid")
    assert "DELETE" in str(caught.value) and "HTTP 422" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert alertmanager.status()["config"]["original"]
    nowhere = AlertmanagerClient(f"http://{HOST}:{free_port()}", timeout=1)
    with nowhere, pytest.raises(QueryError, match="GET /silences: unreachable: Connection refused"):
        nowhere.silences()
