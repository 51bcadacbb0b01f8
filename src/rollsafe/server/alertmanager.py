"""Alertmanager's webhook payload (version 4), read strictly: each problem names its field.

Alertmanager POSTs one JSON document per notification of a group::

    {"version": "4", "groupKey": "...", "status": "firing", "receiver": "rollsafe",
     "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
     "alerts": [{"status": "firing", "labels": {"alertname": "...", "service": "shop"},
                 "annotations": {...}, "startsAt": "2026-12-05T01:02:03.456Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "...",
                 "fingerprint": "c4a7..."}]}

Only what rollsafe acts on is required: the group's ``status`` and ``alerts``, and
each alert's ``status``, ``labels`` and ``startsAt``. Anything else present must
have its documented type. A payload that is wrong is refused as a whole (400,
nothing acted on), so a half-understood notification never rolls back half a group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rollsafe.server.errors import ApiError

STATUSES = ("firing", "resolved")
MAX_ALERTS = 1000
"""Alerts one notification may carry (Alertmanager's ``max_alerts`` caps what it sends)."""


class PayloadError(ApiError):
    """The payload is not an Alertmanager webhook; ``field`` says where (``alerts.0.labels``).

    Answered 400 ``invalid_alert``: Alertmanager does not retry a 4xx.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            400,
            "invalid_alert",
            f"{field}: {message}",
            problems=[{"field": field, "message": message}],
        )
        self.field = field


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    starts_at: float
    """``startsAt`` as seconds since the epoch."""
    annotations: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "unnamed alert")

    def to_dict(self) -> dict[str, Any]:
        """What the journal keeps of the alert: enough to find it in Alertmanager again."""
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "labels": self.labels,
            "starts_at": self.starts_at,
        }
        if self.annotations:
            data["annotations"] = self.annotations
        if self.fingerprint:
            data["fingerprint"] = self.fingerprint
        if self.generator_url:
            data["generator_url"] = self.generator_url
        return data


@dataclass(frozen=True)
class Notification:
    status: str
    alerts: list[Alert]
    receiver: str = ""
    group_key: str = ""
    external_url: str = ""


def parse_body(body: bytes) -> Notification:
    """A webhook body as Alertmanager sends it; `PayloadError` naming the field if not."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise PayloadError("body", f"not UTF-8 JSON ({error})") from None
    return parse(document)


def parse(document: Any) -> Notification:
    if not isinstance(document, dict):
        raise PayloadError("body", "must be a JSON object")
    version = document.get("version")
    if version is not None and version != "4":
        raise PayloadError(
            "version", f"must be '4' (Alertmanager's webhook format), got {version!r}"
        )
    status = _status(document, "status", "status")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        _labels(document.get(name, {}), name)
    receiver = _text(document, "receiver", "receiver")
    group_key = _text(document, "groupKey", "groupKey")
    external_url = _text(document, "externalURL", "externalURL")
    if "alerts" not in document:
        raise PayloadError("alerts", "is required")
    alerts = document["alerts"]
    if not isinstance(alerts, list):
        raise PayloadError("alerts", "must be a list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError("alerts", f"at most {MAX_ALERTS} alerts, got {len(alerts)}")
    parsed = [_alert(alert, f"alerts.{index}") for index, alert in enumerate(alerts)]
    return Notification(status, parsed, receiver, group_key, external_url)


def _alert(value: Any, where: str) -> Alert:
    if not isinstance(value, dict):
        raise PayloadError(where, "must be an object")
    if "labels" not in value:
        raise PayloadError(f"{where}.labels", "is required")
    labels = _labels(value["labels"], f"{where}.labels")
    if "startsAt" not in value:
        raise PayloadError(f"{where}.startsAt", "is required")
    return Alert(
        status=_status(value, "status", f"{where}.status"),
        labels=labels,
        starts_at=_timestamp(value["startsAt"], f"{where}.startsAt"),
        annotations=_labels(value.get("annotations", {}), f"{where}.annotations"),
        fingerprint=_text(value, "fingerprint", f"{where}.fingerprint"),
        generator_url=_text(value, "generatorURL", f"{where}.generatorURL"),
    )


def _status(document: dict[str, Any], key: str, where: str) -> str:
    if key not in document:
        raise PayloadError(where, "is required")
    status = document[key]
    if status not in STATUSES:
        raise PayloadError(where, f"must be 'firing' or 'resolved', got {status!r}")
    return str(status)


def _text(document: dict[str, Any], key: str, where: str) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        raise PayloadError(where, f"must be a string, got {type(value).__name__}")
    return value


def _labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(where, "must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key}", f"must be a string, got {type(item).__name__}")
    return dict(value)


def _timestamp(value: Any, where: str) -> float:
    """RFC 3339 as Go writes it: nanoseconds and ``Z`` included."""
    if not isinstance(value, str):
        raise PayloadError(where, "must be an RFC 3339 timestamp string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    date, dot, rest = text.partition(".")
    if dot:  # Python reads at most microseconds: drop the digits beyond
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{date}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(where, f"not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise PayloadError(where, f"needs a time zone: {value!r}")
    return parsed.timestamp()
