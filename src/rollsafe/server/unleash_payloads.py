"""Checking the bodies Unleash SDKs send to ``/api/client/register`` and ``/api/client/metrics``.

Read by hand rather than by pydantic models: an SDK's body is checked against
limits (names, counts, toggles, samples) that keep the store bounded, and each
refusal is a 400 naming the field, e.g. ``bucket.toggles.checkout.yes: must be
an integer between 0 and 2**53``. Fields an SDK adds that rollsafe does not use
(``platformName``, ``yggdrasilVersion``, ``connectionId``...) are accepted and
ignored, as Unleash does.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, TypeGuard

from rollsafe.server.errors import ApiError
from rollsafe.store.usage import (
    ImpactMetric,
    ImpactSample,
    MetricsReport,
    Registration,
    ToggleCount,
)

MAX_NAME = 255
"""Characters in an app, instance, toggle, variant, metric or label name."""
MAX_TEXT = 1000
"""Characters in a free text (a metric's help, an SDK version, a label value)."""
MAX_TOGGLES = 1000
"""Toggles in one metrics bucket (an SDK reports those evaluated in its interval)."""
MAX_VARIANTS = 100
MAX_STRATEGIES = 100
MAX_IMPACT_METRICS = 100
MAX_SAMPLES = 1000
"""Samples (label sets) of one impact metric."""
MAX_LABELS = 20
MAX_BUCKETS = 100
MAX_COUNT = 2**53
"""Counts past this are no longer exact in JSON numbers (JavaScript SDKs)."""
KINDS = ("counter", "gauge", "histogram")


class _InvalidError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 otherwise."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _refused("body", "not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise _refused("body", "must be a JSON object")
    return value


def registration(body: dict[str, Any], *, environment: str, token_name: str) -> Registration:
    try:
        strategies = _optional(body, "strategies", list) or []
        if len(strategies) > MAX_STRATEGIES:
            raise _InvalidError("strategies", f"more than {MAX_STRATEGIES} strategies")
        interval = body.get("interval")
        if interval is not None and not _is_count(interval):
            raise _InvalidError("interval", "must be a non-negative integer (milliseconds)")
        started = body.get("started")
        if started is not None:
            _time(started, "started")
        return Registration(
            app_name=_name(body, "appName"),
            instance_id=_name(body, "instanceId", default="default"),
            environment=environment,
            sdk_version=_text(body, "sdkVersion"),
            strategies=tuple(
                _checked_name(s, f"strategies[{i}]") for i, s in enumerate(strategies)
            ),
            started=str(started) if started is not None else "",
            interval_ms=interval,
            platform=_platform(body),
            token_name=token_name,
        )
    except _InvalidError as invalid:
        raise _refused(invalid.field, invalid.message) from None


def metrics_report(
    body: dict[str, Any], *, environment: str, token_name: str, now: float
) -> MetricsReport:
    try:
        bucket = _optional(body, "bucket", dict)
        toggles: dict[str, ToggleCount] = {}
        stop = now
        if bucket is not None:
            if "stop" in bucket:
                stop = _time(bucket["stop"], "bucket.stop")
            if "start" in bucket:
                _time(bucket["start"], "bucket.start")
            raw = bucket.get("toggles", {})
            if not isinstance(raw, dict):
                raise _InvalidError("bucket.toggles", "must be an object of toggle name to counts")
            if len(raw) > MAX_TOGGLES:
                raise _InvalidError("bucket.toggles", f"more than {MAX_TOGGLES} toggles")
            for name, counts in raw.items():
                toggles[_checked_name(name, "bucket.toggles")] = _toggle(
                    counts, f"bucket.toggles.{name}"
                )
        impact = _optional(body, "impactMetrics", list) or []
        if len(impact) > MAX_IMPACT_METRICS:
            raise _InvalidError("impactMetrics", f"more than {MAX_IMPACT_METRICS} metrics")
        return MetricsReport(
            app_name=_name(body, "appName"),
            instance_id=_name(body, "instanceId", default="default"),
            environment=environment,
            stop=stop,
            toggles=toggles,
            impact=tuple(_impact(m, f"impactMetrics[{i}]") for i, m in enumerate(impact)),
            sdk_version=_text(body, "sdkVersion"),
            token_name=token_name,
        )
    except _InvalidError as invalid:
        raise _refused(invalid.field, invalid.message) from None


def _refused(field: str, message: str) -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        f"{field}: {message}",
        problems=[{"field": field, "message": message}],
    )


def _toggle(counts: Any, field: str) -> ToggleCount:
    if not isinstance(counts, dict):
        raise _InvalidError(field, "must be an object with yes, no and variants")
    yes, no = counts.get("yes", 0), counts.get("no", 0)
    for key, value in (("yes", yes), ("no", no)):
        if not _is_count(value):
            raise _InvalidError(f"{field}.{key}", f"must be an integer between 0 and {MAX_COUNT}")
    variants = counts.get("variants") or {}
    if not isinstance(variants, dict):
        raise _InvalidError(f"{field}.variants", "must be an object of variant name to count")
    if len(variants) > MAX_VARIANTS:
        raise _InvalidError(f"{field}.variants", f"more than {MAX_VARIANTS} variants")
    checked: dict[str, int] = {}
    for variant, n in variants.items():
        _checked_name(variant, f"{field}.variants")
        if not _is_count(n):
            raise _InvalidError(
                f"{field}.variants.{variant}", f"must be an integer between 0 and {MAX_COUNT}"
            )
        checked[variant] = n
    return ToggleCount(yes, no, checked)


def _impact(metric: Any, field: str) -> ImpactMetric:
    if not isinstance(metric, dict):
        raise _InvalidError(field, "must be an object with name, help, type and samples")
    name = _name(metric, "name", prefix=field)
    kind = metric.get("type")
    if kind not in KINDS:
        raise _InvalidError(f"{field}.type", f"must be one of {', '.join(KINDS)}")
    help_text = _text(metric, "help", prefix=field)
    samples = metric.get("samples")
    if not isinstance(samples, list):
        raise _InvalidError(f"{field}.samples", "must be a list")
    if len(samples) > MAX_SAMPLES:
        raise _InvalidError(f"{field}.samples", f"more than {MAX_SAMPLES} samples")
    return ImpactMetric(
        name=name,
        kind=kind,
        help=help_text,
        samples=tuple(_sample(s, kind, f"{field}.samples[{i}]") for i, s in enumerate(samples)),
    )


def _sample(sample: Any, kind: str, field: str) -> ImpactSample:
    if not isinstance(sample, dict):
        raise _InvalidError(field, "must be an object")
    labels = _labels(sample.get("labels") or {}, f"{field}.labels")
    if kind == "histogram":
        count, total = sample.get("count"), sample.get("sum")
        if not _is_count(count):
            raise _InvalidError(f"{field}.count", f"must be an integer between 0 and {MAX_COUNT}")
        if not _is_number(total):
            raise _InvalidError(f"{field}.sum", "must be a finite number")
        return ImpactSample(labels, count=count, sum=float(total), buckets=_buckets(sample, field))
    value = sample.get("value")
    if kind == "counter" and not _is_count(value):
        raise _InvalidError(f"{field}.value", f"must be an integer between 0 and {MAX_COUNT}")
    if not _is_number(value):
        raise _InvalidError(f"{field}.value", "must be a finite number")
    return ImpactSample(labels, value=float(value))


def _buckets(sample: dict[str, Any], field: str) -> dict[str, int]:
    buckets = sample.get("buckets")
    if not isinstance(buckets, list):
        raise _InvalidError(f"{field}.buckets", "must be a list of {le, count}")
    if len(buckets) > MAX_BUCKETS:
        raise _InvalidError(f"{field}.buckets", f"more than {MAX_BUCKETS} buckets")
    checked: dict[str, int] = {}
    for i, bucket in enumerate(buckets):
        where = f"{field}.buckets[{i}]"
        if not isinstance(bucket, dict):
            raise _InvalidError(where, "must be an object {le, count}")
        le, count = bucket.get("le"), bucket.get("count")
        if le == "+Inf":
            key = "+Inf"
        elif _is_number(le):
            key = f"{float(le):g}"
        else:
            raise _InvalidError(f"{where}.le", "must be a finite number or '+Inf'")
        if not _is_count(count):
            raise _InvalidError(f"{where}.count", f"must be an integer between 0 and {MAX_COUNT}")
        checked[key] = count
    return checked


def _labels(labels: Any, field: str) -> dict[str, str]:
    if not isinstance(labels, dict):
        raise _InvalidError(field, "must be an object of label name to value")
    if len(labels) > MAX_LABELS:
        raise _InvalidError(field, f"more than {MAX_LABELS} labels")
    checked: dict[str, str] = {}
    for key, value in labels.items():
        _checked_name(key, field)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _InvalidError(f"{field}.{key}", "must be a string or a number")
        text = value if isinstance(value, str) else f"{value:g}"
        if len(text) > MAX_TEXT:
            raise _InvalidError(f"{field}.{key}", f"longer than {MAX_TEXT} characters")
        checked[key] = text
    return checked


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        what = "an object" if kind is dict else "a list"
        raise _InvalidError(key, f"must be {what}")
    return value


def _name(body: dict[str, Any], key: str, *, default: str | None = None, prefix: str = "") -> str:
    field = f"{prefix}.{key}" if prefix else key
    value = body.get(key)
    if value is None and default is not None:
        return default
    if value is None:
        raise _InvalidError(field, "is required")
    return _checked_name(value, field)


def _checked_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _InvalidError(field, f"must be a non-empty string, got {_shown(value)}")
    if len(value) > MAX_NAME:
        raise _InvalidError(field, f"longer than {MAX_NAME} characters")
    return value


def _text(body: dict[str, Any], key: str, *, prefix: str = "") -> str:
    field = f"{prefix}.{key}" if prefix else key
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _InvalidError(field, "must be a string")
    if len(value) > MAX_TEXT:
        raise _InvalidError(field, f"longer than {MAX_TEXT} characters")
    return value


def _platform(body: dict[str, Any]) -> str:
    name, version = body.get("platformName"), body.get("platformVersion")
    parts = [str(p)[:100] for p in (name, version) if isinstance(p, str) and p]
    return " ".join(parts)


def _time(value: Any, field: str) -> float:
    """Epoch seconds of an ISO 8601 time (what SDKs send for ``started`` and bucket bounds)."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.timestamp()
            raise _InvalidError(field, f"has no time zone: {value!r}")
    raise _InvalidError(field, f"must be an ISO 8601 time, got {_shown(value)}")


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_number(value: Any) -> TypeGuard[int | float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and abs(value) <= 1e300


def _shown(value: Any) -> str:
    return json.dumps(value)[:60] if not isinstance(value, float) else repr(value)
