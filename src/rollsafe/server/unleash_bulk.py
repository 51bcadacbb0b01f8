"""``POST /api/client/metrics/bulk``: many applications' registrations and toggle counts at once.

Unleash serves this for Unleash Edge, which forwards what the SDKs behind it send:
``applications`` (registrations) and ``metrics``, one entry per toggle, app,
environment and time (``featureName``, ``appName``, ``environment``,
``timestamp``, ``yes``, ``no``, ``variants``). It is part of Unleash's client
API (its OpenAPI lists it), so an Edge or proxy pointed at rollsafe may call it.

Each application becomes a registration and each (app, environment) group of
metric entries one metrics bucket, through the same parsers as ``register`` and
``metrics`` (`unleash_payloads`), so the same bounds and field errors apply, with
the entry's index in front of the field (``metrics[3].yes``). Everything is
checked before anything is stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rollsafe.server import unleash_payloads as payloads
from rollsafe.server.errors import ApiError
from rollsafe.store.usage import MetricsReport, Registration

MAX_APPLICATIONS = 1000
MAX_ENTRIES = 10_000
"""Metric entries in one request (one per toggle, app, environment and time)."""


@dataclass(frozen=True)
class Bulk:
    registrations: list[Registration]
    reports: list[MetricsReport]


def parse(
    body: dict[str, Any],
    *,
    environment_of: Callable[[dict[str, Any]], str],
    token_name: str,
    now: float,
) -> Bulk:
    """The registrations and metrics reports of a bulk body; 400 naming the field if bad.

    ``environment_of`` gives the environment an item is recorded under (the token's,
    or the item's own for a token of every environment), raising `ApiError` if none.
    """
    applications = _list(body, "applications", MAX_APPLICATIONS)
    entries = _list(body, "metrics", MAX_ENTRIES)
    registrations = []
    for index, application in enumerate(applications):
        field = f"applications[{index}]"
        with _prefixed(field):
            item = _object(application, field)
            registrations.append(
                payloads.registration(item, environment=environment_of(item), token_name=token_name)
            )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        field = f"metrics[{index}]"
        with _prefixed(field):
            item = _object(entry, field)
            name = item.get("featureName")
            app = item.get("appName")
            if not isinstance(name, str) or not name:
                raise _refused("featureName", "must be a non-empty string")
            if not isinstance(app, str) or not app:
                raise _refused("appName", "must be a non-empty string")
            environment = environment_of(item)
            group = groups.setdefault(
                (app, environment),
                {"appName": app, "instanceId": "bulk", "bucket": {"toggles": {}}},
            )
            counts: dict[str, Any] = {k: item[k] for k in ("yes", "no", "variants") if k in item}
            # One bucket per group: single entries are checked as the bucket's toggles are.
            payloads.metrics_report(
                {"appName": app, "bucket": {"toggles": {name: counts}}},
                environment=environment,
                token_name=token_name,
                now=now,
            )
            _add(group["bucket"]["toggles"], name, counts)
    reports = [
        payloads.metrics_report(group, environment=env, token_name=token_name, now=now)
        for (_, env), group in groups.items()
    ]
    return Bulk(registrations, reports)


def _add(toggles: dict[str, Any], name: str, counts: dict[str, Any]) -> None:
    """Sum an entry into the group's counts for ``name`` (entries were checked already)."""
    held = toggles.setdefault(name, {"yes": 0, "no": 0, "variants": {}})
    held["yes"] += counts.get("yes", 0)
    held["no"] += counts.get("no", 0)
    for variant, count in (counts.get("variants") or {}).items():
        held["variants"][variant] = held["variants"].get(variant, 0) + count


def _list(body: dict[str, Any], key: str, limit: int) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise _refused(key, "must be an array")
    if len(value) > limit:
        raise _refused(key, f"more than {limit:,} entries")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "invalid_request",
            f"{field}: must be an object",
            problems=[{"field": field, "message": "must be an object"}],
        )
    return value


@contextlib.contextmanager
def _prefixed(prefix: str) -> Iterator[None]:
    """Re-raise a field error from inside one entry with the entry named in front."""
    try:
        yield
    except ApiError as error:
        if error.status != 400 or error.message.startswith(prefix):
            raise
        problems = [
            {**p, "field": f"{prefix}.{p.get('field', '')}".rstrip(".")} for p in error.problems
        ]
        raise ApiError(400, error.code, f"{prefix}.{error.message}", problems=problems) from None


def _refused(field: str, message: str) -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        f"{field}: {message}",
        problems=[{"field": field, "message": message}],
    )
