"""Each integration's answer, as faithful as Alertmanager checks it (pure, no I/O).

Alertmanager reads some answers (a WeChat token, a Telegram message, a Jira search, Slack's
"ok", Rocket.Chat's ``success``): a sink that answered anything 2xx would let a broken
integration pass. Each responder validates what the real service would refuse and answers in
its shape; a refusal is a real 4xx, so Alertmanager's notification fails as it would in
production. Read from notify/<integration>/*.go at Alertmanager v0.28.1.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
PAGERDUTY_STATUS = {"trigger": "firing", "resolve": "resolved"}
VICTOROPS_STATUS = {"CRITICAL": "firing", "WARNING": "firing", "INFO": "firing",
                    "RECOVERY": "resolved", "ACKNOWLEDGEMENT": ""}  # fmt: skip
WECHAT_TOKEN = "synthmon-sinks-wechat-token"
OAUTH2_TOKEN = {"access_token": "synthmon-sinks-oauth2-token", "token_type": "Bearer",
                "expires_in": 3600}  # fmt: skip
SNS_OK = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>{id}</MessageId></PublishResult><ResponseMetadata><RequestId>{id}</RequestId>"
    "</ResponseMetadata></PublishResponse>"
)
SNS_ERROR = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    "<Code>InvalidParameter</Code><Message>{message}</Message></Error>"
    "<RequestId>{id}</RequestId></ErrorResponse>"
)
# Path parts that are credentials (Telegram's bot token, VictorOps' API key): never stored.
SECRET_PATHS: dict[str, re.Pattern[str]] = {
    "telegram": re.compile(r"^(/*bot)[^/]+"),
    "victorops": re.compile(r"^(/*)[^/]+(?=/)"),
}


@dataclass(frozen=True)
class Call:
    """One request to a destination: ``rest`` is the sub-path after the index, no leading /."""

    method: str
    rest: str
    payload: object
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """The answer, and what the request was: a notification (with a status the path or an
    event field gives) or another request (a token fetch, a search)."""

    code: int = 200
    body: dict[str, Any] | list[Any] | str | None = "ok"
    media_type: str = ""
    notification: bool = True
    status: str = ""
    channel: str = ""
    errors: tuple[str, ...] = ()


Responder = Callable[[Call, dict[str, Any]], Reply]


def respond(kind: str, call: Call, state: dict[str, Any]) -> Reply:
    """The answer of integration ``kind``; ``state`` is this destination's memory (Jira)."""
    if call.rest.rstrip("/").endswith("oauth2/token"):
        return Reply(body=OAUTH2_TOKEN, notification=False)
    responder = RESPONDERS.get(kind)
    return responder(call, state) if responder else _unknown(kind, call)


def shown_path(kind: str, path: str) -> str:
    """``path`` with the credentials some integrations put in it masked."""
    secret = SECRET_PATHS.get(kind)
    return secret.sub(r"\1***", path) if secret else path


def pagerduty_errors(body: object) -> list[str]:
    """Why PagerDuty's Events API v2 would answer 400 to ``body`` (empty: it would accept)."""
    if not isinstance(body, dict):
        return ["Event object is invalid: not a JSON object"]
    errors = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = body.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        for name in ("summary", "source"):
            if not str(payload.get(name) or "").strip():
                errors.append(f"'payload.{name}' is missing or blank")
        if payload.get("severity") not in PAGERDUTY_SEVERITIES:
            errors.append(
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
            )
    return errors


def _pagerduty(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload if isinstance(call.payload, dict) else {}
    if "service_key" in body:  # Events API v1
        kind = body.get("event_type")
        if kind not in ("trigger", "acknowledge", "resolve") or not body.get("service_key"):
            errors = ["'event_type' or 'service_key' is invalid"]
            return _refused(400, _pd_invalid(errors), errors)
        key = str(body.get("incident_key") or uuid.uuid4().hex)
        answer = {"status": "success", "message": "Event processed", "incident_key": key}
        return Reply(200, answer, status=PAGERDUTY_STATUS.get(str(kind), ""))
    errors = pagerduty_errors(call.payload)
    if errors:
        return _refused(400, _pd_invalid(errors), errors)
    key = str(body.get("dedup_key") or uuid.uuid4().hex)
    answer = {"status": "success", "message": "Event processed", "dedup_key": key}
    return Reply(202, answer, status=PAGERDUTY_STATUS.get(str(body["event_action"]), ""))


def _pd_invalid(errors: list[str]) -> dict[str, Any]:
    return {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def _slack(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload
    app = call.headers.get("authorization", "").lower().startswith("bearer ")
    if not isinstance(body, dict):
        return _slack_error(app, "invalid_payload", 400)
    if not (body.get("text") or body.get("attachments") or body.get("blocks")):
        return _slack_error(app, "no_text", 400)
    channel = str(body.get("channel") or "").lstrip("#")
    if app:
        answer = {"ok": True, "channel": channel, "ts": f"{time.time():.6f}"}
        return Reply(200, answer, channel=channel)
    return Reply(200, "ok", channel=channel)


def _slack_error(app: bool, error: str, code: int) -> Reply:
    return _refused(200 if app else code, {"ok": False, "error": error} if app else error)


def _webhook(call: Call, state: dict[str, Any]) -> Reply:
    if not isinstance(call.payload, dict):
        return _refused(400, "body must be a JSON object")
    return Reply(200, "ok")


def _opsgenie(call: Call, state: dict[str, Any]) -> Reply:
    rest, body = call.rest.strip("/"), call.payload
    answer = {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())}
    if rest == "v2/alerts" and call.method == "POST":
        if not isinstance(body, dict) or not str(body.get("message") or "").strip():
            return _refused(422, {"message": "Message can not be empty.", "took": 0.0})
        return Reply(202, answer, status="firing")
    if rest.startswith("v2/alerts/") and rest.endswith("/close"):
        return Reply(202, answer, status="resolved")
    if rest.startswith("v2/alerts/"):  # update_alerts: message and description edits
        return Reply(202, answer, notification=False)
    return _unknown("opsgenie", call)


def _victorops(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload if isinstance(call.payload, dict) else {}
    kind = str(body.get("message_type", ""))
    if kind not in VICTOROPS_STATUS or not body.get("entity_id"):
        message = "message_type or entity_id missing or invalid"
        return _refused(400, {"result": "failure", "message": message})
    answer = {"result": "success", "entity_id": body["entity_id"]}
    return Reply(200, answer, status=VICTOROPS_STATUS[kind])


def _wechat(call: Call, state: dict[str, Any]) -> Reply:
    rest = call.rest.strip("/")
    if rest == "gettoken":
        if not (call.query.get("corpid") and call.query.get("corpsecret")):
            return Reply(200, {"errcode": 40013, "errmsg": "invalid corpid"}, notification=False)
        token = {"errcode": 0, "errmsg": "ok", "access_token": WECHAT_TOKEN, "expires_in": 7200}
        return Reply(200, token, notification=False)
    if rest == "message/send":
        if call.query.get("access_token") != WECHAT_TOKEN:
            return _refused(200, {"errcode": 40014, "errmsg": "invalid access_token"})
        body = call.payload if isinstance(call.payload, dict) else {}
        if not body.get("msgtype"):
            return _refused(200, {"errcode": 40008, "errmsg": "invalid message type"})
        return Reply(200, {"errcode": 0, "errmsg": "ok"})
    return _unknown("wechat", call)


def _telegram(call: Call, state: dict[str, Any]) -> Reply:
    method = call.rest.strip("/").rsplit("/", 1)[-1]
    if method != "sendMessage":
        bot = {"id": 1, "is_bot": True, "first_name": "synthmon", "username": "synthmon_bot"}
        return Reply(200, {"ok": True, "result": bot}, notification=False)
    body = call.payload if isinstance(call.payload, dict) else {}
    chat, text = str(body.get("chat_id") or ""), str(body.get("text") or "")
    if not chat or not text.strip():
        problem = "chat not found" if not chat else "message text is empty"
        return _refused(
            400, {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
        )
    state["messages"] = int(state.get("messages", 0)) + 1
    chat_id = int(chat) if chat.lstrip("-").isdigit() else 0
    message = {"message_id": state["messages"], "date": int(time.time()), "text": text,
               "chat": {"id": chat_id, "type": "private"}}  # fmt: skip
    return Reply(200, {"ok": True, "result": message})


def _webex(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload if isinstance(call.payload, dict) else {}
    if not body.get("roomId") or not (body.get("markdown") or body.get("text")):
        return _refused(400, {"message": "roomId and markdown or text are required"})
    answer = {"id": uuid.uuid4().hex, "roomId": body["roomId"], "created": _now()}
    return Reply(200, answer)


def _discord(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload if isinstance(call.payload, dict) else {}
    if not (body.get("content") or body.get("embeds")):
        return _refused(400, {"message": "Cannot send an empty message", "code": 50006})
    return Reply(204, None)


def _msteams(call: Call, state: dict[str, Any]) -> Reply:
    if not isinstance(call.payload, dict) or not (
        call.payload.get("text") or call.payload.get("title")
    ):
        return _refused(400, "Summary or Text is required.")
    return Reply(200, "1")


def _msteamsv2(call: Call, state: dict[str, Any]) -> Reply:
    if not isinstance(call.payload, dict) or not call.payload.get("attachments"):
        return _refused(400, {"error": {"code": "InvalidRequestContent", "message": "attachments"}})
    return Reply(202, None)


def _jira(call: Call, state: dict[str, Any]) -> Reply:
    """Search finds the issues this destination created (by their ALERT{...} label), so a
    resolved group updates its issue as against a real Jira."""
    rest, body = call.rest.strip("/"), call.payload if isinstance(call.payload, dict) else {}
    issues: dict[str, str] = state.setdefault("issues", {})
    if rest == "search":
        wanted = re.findall(r'labels="(ALERT\{[^"]*\})"', str(body.get("jql", "")))
        found = [{"key": issues[w], "fields": {}} for w in wanted if w in issues]
        answer = {"startAt": 0, "maxResults": 2, "total": len(found), "issues": found}
        return Reply(200, answer, notification=False)
    if rest.endswith("/transitions"):
        if call.method == "GET":
            return Reply(200, {"transitions": []}, notification=False)
        return Reply(204, None, notification=False)
    fields = body.get("fields")
    fields = fields if isinstance(fields, dict) else {}
    if rest == "issue" and call.method == "POST":
        if not str(fields.get("summary") or "").strip() or not fields.get("project"):
            errors = {"summary": "You must specify a summary of the issue."}
            return _refused(400, {"errorMessages": [], "errors": errors})
        number = state["created"] = int(state.get("created", 0)) + 1
        key = f"SYN-{number}"
        for label in fields.get("labels") or []:
            issues[str(label)] = key
        return Reply(201, {"id": str(10000 + number), "key": key, "self": f"issue/{key}"})
    if rest.startswith("issue/") and call.method == "PUT":
        return Reply(204, None)
    return _unknown("jira", call)


def _rocketchat(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload if isinstance(call.payload, dict) else {}
    if not call.rest.strip("/").endswith("chat.postMessage"):
        return _unknown("rocketchat", call)
    if not (body.get("text") or body.get("attachments")):
        return _refused(400, {"success": False, "error": "Text or attachments are required"})
    channel = str(body.get("channel") or "").lstrip("#")
    message = {"_id": uuid.uuid4().hex, "msg": body.get("text", ""), "ts": _now()}
    return Reply(200, {"success": True, "channel": channel, "message": message}, channel=channel)


def _sns(call: Call, state: dict[str, Any]) -> Reply:
    body = call.payload if isinstance(call.payload, dict) else {}
    request = str(uuid.uuid4())
    target = body.get("TopicArn") or body.get("TargetArn") or body.get("PhoneNumber")
    problem = ("Action must be Publish" if body.get("Action") != "Publish" else
               "a TopicArn, TargetArn or PhoneNumber is required" if not target else
               "Message is required" if not body.get("Message") else "")  # fmt: skip
    if problem:
        xml = SNS_ERROR.format(message=problem, id=request)
        return Reply(400, xml, "text/xml", notification=False, errors=(problem,))
    return Reply(200, SNS_OK.format(id=request), "text/xml")


def _pushover(call: Call, state: dict[str, Any]) -> Reply:
    fields = call.payload if isinstance(call.payload, dict) and call.payload else call.query
    missing = [name for name in ("token", "user", "message") if not fields.get(name)]
    if missing:
        errors = [f"{name} is invalid" for name in missing]
        return _refused(400, {"status": 0, "errors": errors, "request": str(uuid.uuid4())})
    return Reply(200, {"status": 1, "request": str(uuid.uuid4())})


def _refused(code: int, body: dict[str, Any] | str, errors: list[str] | None = None) -> Reply:
    """A refusal: recorded as a request with its errors, never as a notification."""
    shown = errors or [body if isinstance(body, str) else str(body)]
    return Reply(code, body, notification=False, errors=tuple(shown))


def _unknown(kind: str, call: Call) -> Reply:
    problem = f"synthmon sinks: {kind} has no endpoint {call.method} /{call.rest}"
    return _refused(404, {"error": problem}, [problem])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


RESPONDERS: dict[str, Responder] = {
    "webhook": _webhook, "slack": _slack, "pagerduty": _pagerduty, "opsgenie": _opsgenie,
    "victorops": _victorops, "wechat": _wechat, "telegram": _telegram, "webex": _webex,
    "sns": _sns, "discord": _discord, "msteams": _msteams, "msteamsv2": _msteamsv2,
    "jira": _jira, "rocketchat": _rocketchat, "pushover": _pushover,
}  # fmt: skip
