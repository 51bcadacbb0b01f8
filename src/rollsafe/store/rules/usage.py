"""SDK usage: connected applications, toggle counts and impact metrics, kept bounded.

Not journaled: SDKs report every few seconds to a minute, and none of it is a
decision. Each write adds into per-minute windows (`rollsafe.store.usage.WINDOW`)
and then drops what is past the retention or beyond the row limits, so the
tables stay bounded whatever the SDKs send.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rollsafe.journal import canonical_json
from rollsafe.store.rows import Row
from rollsafe.store.transaction import Reader, Transaction
from rollsafe.store.usage import (
    MAX_APPLICATIONS,
    MAX_METRIC_ROWS,
    RETENTION,
    WINDOW,
    ApplicationRecord,
    FlagUsage,
    ImpactWindow,
    MetricsReport,
    Registration,
    ToggleWindow,
)


def window_of(t: float) -> float:
    return math.floor(t / WINDOW) * WINDOW


def register(tx: Transaction, app: Registration, *, now: float) -> None:
    tx.execute(
        "INSERT INTO client_applications (app_name, instance_id, environment, sdk_version,"
        " strategies, started, interval_ms, platform, token_name, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (app_name, instance_id) DO UPDATE SET"
        " environment = excluded.environment, sdk_version = excluded.sdk_version,"
        " strategies = excluded.strategies, started = excluded.started,"
        " interval_ms = excluded.interval_ms, platform = excluded.platform,"
        " token_name = excluded.token_name, last_seen = excluded.last_seen",
        (app.app_name, app.instance_id, app.environment, app.sdk_version,
         json.dumps(list(app.strategies)), app.started, app.interval_ms, app.platform,
         app.token_name, now, now),
    )  # fmt: skip
    _prune_applications(tx, now)


def record_metrics(tx: Transaction, report: MetricsReport, *, now: float) -> None:
    """Add a report's counts into their windows; the instance counts as seen now."""
    tx.execute(
        "INSERT INTO client_applications (app_name, instance_id, environment, sdk_version,"
        " strategies, started, interval_ms, platform, token_name, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, '[]', '', NULL, '', ?, ?, ?)"
        " ON CONFLICT (app_name, instance_id) DO UPDATE SET last_seen = excluded.last_seen",
        (report.app_name, report.instance_id, report.environment, report.sdk_version,
         report.token_name, now, now),
    )  # fmt: skip
    toggle_window = window_of(min(report.stop, now))
    for name, count in report.toggles.items():
        key = (report.environment, name, report.app_name, toggle_window)
        row = tx.one(
            "SELECT variants FROM client_metrics WHERE environment = ? AND toggle = ?"
            " AND app_name = ? AND window_start = ?",
            key,
        )
        variants = dict(json.loads(row["variants"])) if row is not None else {}
        for variant, n in count.variants.items():
            variants[variant] = variants.get(variant, 0) + n
        tx.execute(
            "INSERT INTO client_metrics (environment, toggle, app_name, window_start,"
            " yes_count, no_count, variants) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (environment, toggle, app_name, window_start) DO UPDATE SET"
            " yes_count = client_metrics.yes_count + excluded.yes_count,"
            " no_count = client_metrics.no_count + excluded.no_count,"
            " variants = excluded.variants",
            (*key, count.yes, count.no, canonical_json(variants)),
        )
    impact_window = window_of(now)
    for metric in report.impact:
        for sample in metric.samples:
            _add_impact(tx, report.environment, metric.name, metric.kind, metric.help,
                        sample.labels, impact_window, sample)  # fmt: skip
    _prune_metrics(tx, now)
    _prune_applications(tx, now)


def _add_impact(
    tx: Transaction,
    environment: str,
    name: str,
    kind: str,
    help_text: str,
    labels: dict[str, str],
    window: float,
    sample: Any,
) -> None:
    key = (environment, name, canonical_json(labels), window)
    row = tx.one(
        "SELECT kind, value, count, total, buckets FROM impact_metrics WHERE environment = ?"
        " AND name = ? AND labels = ? AND window_start = ?",
        key,
    )
    value, count, total = float(sample.value), int(sample.count), float(sample.sum)
    buckets = dict(sample.buckets)
    if row is not None and row["kind"] == kind:
        if kind == "counter":
            value += float(row["value"])
        elif kind == "histogram":
            count += int(row["count"])
            total += float(row["total"])
            for le, n in json.loads(row["buckets"]).items():
                buckets[le] = buckets.get(le, 0) + int(n)
        # a gauge keeps its latest value
    tx.execute(
        "INSERT INTO impact_metrics (environment, name, labels, window_start, kind, help,"
        " value, count, total, buckets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (environment, name, labels, window_start) DO UPDATE SET"
        " kind = excluded.kind, help = excluded.help, value = excluded.value,"
        " count = excluded.count, total = excluded.total, buckets = excluded.buckets",
        (*key, kind, help_text, value, count, total, canonical_json(buckets)),
    )


def _prune_metrics(tx: Transaction, now: float) -> None:
    cutoff = now - RETENTION
    for table in ("client_metrics", "impact_metrics"):
        tx.execute(f"DELETE FROM {table} WHERE window_start < ?", (cutoff,))  # noqa: S608
        _keep_newest(tx, table, "window_start", MAX_METRIC_ROWS)


def _prune_applications(tx: Transaction, now: float) -> None:
    tx.execute("DELETE FROM client_applications WHERE last_seen < ?", (now - RETENTION,))
    _keep_newest(tx, "client_applications", "last_seen", MAX_APPLICATIONS)


def _count(tx: Transaction, table: str) -> int:
    row = tx.one(f"SELECT count(*) AS n FROM {table}")  # noqa: S608
    return int(row["n"]) if row is not None else 0


def _keep_newest(tx: Transaction, table: str, column: str, limit: int) -> None:
    """Delete the oldest rows of ``table`` beyond ``limit``.

    Rows go by whole windows: those older than the window holding the ``limit``-th
    newest row, then, if that is not enough (one window alone beyond the limit, a
    flood), that window too. Never more than ``limit`` rows remain.
    """
    if _count(tx, table) <= limit:
        return
    edge = tx.one(
        f"SELECT {column} AS edge FROM {table} ORDER BY {column} DESC LIMIT 1 OFFSET ?",  # noqa: S608
        (limit,),
    )
    if edge is None:
        return
    tx.execute(f"DELETE FROM {table} WHERE {column} < ?", (edge["edge"],))  # noqa: S608
    if _count(tx, table) > limit:
        tx.execute(f"DELETE FROM {table} WHERE {column} <= ?", (edge["edge"],))  # noqa: S608


def applications(db: Reader) -> list[ApplicationRecord]:
    rows = db.all(
        'SELECT * FROM client_applications ORDER BY app_name COLLATE "C", instance_id COLLATE "C"'
    )
    return [_application(row) for row in rows]


def _application(row: Row) -> ApplicationRecord:
    interval = row["interval_ms"]
    return ApplicationRecord(
        app_name=row["app_name"],
        instance_id=row["instance_id"],
        environment=row["environment"],
        sdk_version=row["sdk_version"],
        strategies=tuple(json.loads(row["strategies"])),
        started=row["started"],
        interval_ms=int(interval) if interval is not None else None,
        platform=row["platform"],
        token_name=row["token_name"],
        first_seen=float(row["first_seen"]),
        last_seen=float(row["last_seen"]),
    )


def flag_usage(db: Reader, name: str, environment: str, *, since: float = 0.0) -> FlagUsage:
    """Toggle counts of flag ``name`` and the impact metrics with a label named after it."""
    toggles = [
        ToggleWindow(
            app_name=row["app_name"],
            window_start=float(row["window_start"]),
            yes=int(row["yes_count"]),
            no=int(row["no_count"]),
            variants={k: int(v) for k, v in json.loads(row["variants"]).items()},
        )
        for row in db.all(
            "SELECT * FROM client_metrics WHERE environment = ? AND toggle = ?"
            ' AND window_start >= ? ORDER BY window_start, app_name COLLATE "C"',
            (environment, name, since),
        )
    ]
    return FlagUsage(toggles, impact_windows(db, environment, flag=name, since=since))


def impact_windows(
    db: Reader,
    environment: str,
    *,
    flag: str | None = None,
    metric: str | None = None,
    since: float = 0.0,
) -> list[ImpactWindow]:
    """Impact windows of ``environment``: those of one metric, and/or labelled by one flag."""
    sql = "SELECT * FROM impact_metrics WHERE environment = ? AND window_start >= ?"
    params: list[Any] = [environment, since]
    if metric is not None:
        sql += " AND name = ?"
        params.append(metric)
    if flag is not None:
        # Narrowed by text, then checked exactly: labels are canonical JSON objects.
        sql += " AND labels LIKE ?"
        params.append("%" + _like_escape(canonical_json(flag)) + ":%")
        sql += " ESCAPE '!'"
    sql += ' ORDER BY window_start, name COLLATE "C", labels COLLATE "C"'
    windows = [_impact(row) for row in db.all(sql, tuple(params))]
    if flag is not None:
        windows = [w for w in windows if flag in w.labels]
    return windows


def _like_escape(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _impact(row: Row) -> ImpactWindow:
    return ImpactWindow(
        name=row["name"],
        kind=row["kind"],
        help=row["help"],
        labels=dict(json.loads(row["labels"])),
        window_start=float(row["window_start"]),
        value=float(row["value"]),
        count=int(row["count"]),
        sum=float(row["total"]),
        buckets={k: int(v) for k, v in json.loads(row["buckets"]).items()},
    )
