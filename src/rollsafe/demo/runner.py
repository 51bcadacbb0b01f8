"""``rollsafe demo``: a real progressive rollout of the sample shop, end to end.

Installs releases 1.0.0 and 1.1.0 into a work directory, starts 1.0.0 with two
instances, drives about 100 requests/s at it, and runs the bundled plan through
the same controller ``rollsafe rollout start`` uses. Metrics come from scraping
the instances (``metrics="scrape"``, the plan as bundled) or from a Prometheus the
demo runs for the purpose (``metrics="prometheus"``, see :mod:`rollsafe.demo.prometheus`).
Every process it starts is stopped before it returns, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any, TypedDict

from rollsafe.charts.series import plan_of
from rollsafe.config import Plan, ScrapeMetrics, load_plan
from rollsafe.controller import Controller
from rollsafe.controller.adapters import build_router, build_target
from rollsafe.demo.choices import FAULTS as FAULTS
from rollsafe.demo.choices import METRICS
from rollsafe.demo.load import generate_load
from rollsafe.demo.prometheus import (
    DemoPrometheus,
    prometheus_binary,
    stop_leftover,
    use_prometheus,
)
from rollsafe.demo.routing import ROUTERS, entry_points, use_router
from rollsafe.errors import NotFoundError, RollsafeError
from rollsafe.flags import rollout_feature
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    levels_ended,
    outcome_of,
    rollback_finished,
    step_moved,
    turned_on,
)
from rollsafe.report import write_incident
from rollsafe.store import DATABASE_FILE, JournalFollower, RolloutState, Store, open_store_url
from rollsafe.support.private import private_directory
from rollsafe.targets import Target

RELEASES = ("1.0.0", "1.1.0")
MARKER = ".rollsafe-demo"


@dataclass
class DemoResult:
    outcome: str
    rollout_id: str
    home: Path
    workdir: Path
    started: float
    fault: str = "none"
    timeline: list[dict[str, Any]] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rollback: RollbackTiming | None = None
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "fault": self.fault,
            "rollout_id": self.rollout_id,
            "home": str(self.home),
            "workdir": str(self.workdir),
            "seconds": round(self.seconds, 2),
            **(self.rollback or {}),
            "report": str(self.report) if self.report else None,
            "timeline": self.timeline,
            "load": self.load,
        }


def prepare_workdir(workdir: Path, fault: str) -> Path:
    """A clean work directory with both releases installed; returns the plan path."""
    if workdir.exists():
        if any(workdir.iterdir()) and not (workdir / MARKER).exists():
            raise RollsafeError(
                f"{workdir} exists and was not made by 'rollsafe demo'; choose another --workdir"
            )
        _stop_leftovers(workdir)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("made by rollsafe demo; deleted by the next run\n")
    for version in RELEASES:
        release_dir = workdir / "shop" / "releases" / version
        release_dir.mkdir(parents=True)
        release = {
            "version": version,
            "fault": None if fault == "none" or version == RELEASES[0] else fault,
        }
        (release_dir / "release.json").write_text(json.dumps(release, indent=2) + "\n")
    (workdir / "shop" / "data").mkdir()
    plan_path = workdir / "plan.yaml"
    plan_path.write_text(resources.files("rollsafe.demo").joinpath("plan.yaml").read_text())
    return plan_path


def run_demo(
    workdir: Path,
    *,
    fault: str = "none",
    rate: float = 100.0,
    on_entry: Callable[[JournalEntry], None] | None = None,
    keep_running: bool = False,
    before_rollout: Callable[[], None] | None = None,
    store_url: str | None = None,
    metrics: str = "scrape",
    router: str = "none",
) -> DemoResult:
    """Run the demo rollout; with ``keep_running`` the shop stays up (tests inspect it).

    ``before_rollout`` runs under load just before the rollout is created.
    ``store_url``: the state store (a ``postgresql://`` URL or SQLite file) instead
    of ``<workdir>/home/rollsafe.db``; the plan's flags are switched off in it first.
    ``metrics``: ``scrape`` (the bundled plan) or ``prometheus`` (the plan's metrics
    section swapped for PromQL over a Prometheus in ``<workdir>/prometheus``, which
    runs for the whole demo and never outlives it).
    ``router``: ``none`` (flags split users) or ``nginx`` (1.1.0 first runs beside 1.0.0
    as a canary behind nginx, which the load then goes through; see `rollsafe.demo.routing`).
    """
    if metrics not in METRICS:
        raise RollsafeError(f"metrics must be one of {', '.join(METRICS)}, got {metrics!r}")
    if router not in ROUTERS:
        raise RollsafeError(f"router must be one of {', '.join(ROUTERS)}, got {router!r}")
    if metrics == "prometheus":
        prometheus_binary()  # a missing binary is reported before the workdir is wiped
    workdir = workdir.resolve()
    plan_path = prepare_workdir(workdir, fault)
    if router == "nginx":
        use_router(plan_path)
    home = workdir / "home"
    for sub in ("backups", "reports", "logs"):
        private_directory(home / sub)
    plan = load_plan(plan_path)
    store = open_store_url(store_url or home / DATABASE_FILE)
    target = build_target(plan, home, store.address)
    started = time.time()
    try:
        _flags_off(store, plan)
        with (
            _interrupts_raise(),
            _stopping(target, unless=keep_running),
            _metrics_provider(metrics, plan_path, plan, target) as metrics_ready,
        ):
            target.deploy(RELEASES[0])
            with (
                entry_points(router, plan, home, target, keep_running=keep_running) as entry,
                _background_load(entry, rate) as load_stats,
            ):
                metrics_ready()
                if before_rollout is not None:
                    before_rollout()
                controller = Controller(store, home)
                rollout = controller.create(plan_path, actor="demo")
                follower = JournalFollower(
                    store.address, on_entry or _ignore, rollout_id=rollout.id
                )
                with follower:
                    rollout = controller.run(rollout.id)
            outcome = {
                RolloutState.PROMOTED: "promoted",
                RolloutState.ROLLED_BACK: "rolled_back",
                RolloutState.ABORTED: "rolled_back",
            }.get(rollout.state, "failed")
            entries = store.journal(rollout.id)
            report = None
            if rollout.state is not RolloutState.PROMOTED:
                stored = plan_of(rollout.plan_path, rollout.plan_text)
                report = write_incident(home / "reports" / rollout.id, entries, plan=stored)
            return DemoResult(
                outcome=outcome,
                rollout_id=rollout.id,
                home=home,
                workdir=workdir,
                started=started,
                fault=fault,
                timeline=timeline(entries, started),
                load=load_stats(),
                seconds=time.time() - started,
                rollback=rollback_timing(entries, started, fault),
                report=report,
            )
    finally:
        store.close()


def timeline(entries: list[JournalEntry], started: float) -> list[dict[str, Any]]:
    """The milestones of a rollout, in seconds since the demo started."""
    shown = []
    for entry in entries:
        if entry.kind in {Kind.ANALYSIS_OBSERVATION, Kind.ROLLOUT_LEASE_ACQUIRED}:
            continue
        event: dict[str, Any] = {"event": entry.kind, "t": round(entry.ts - started, 3)}
        for key in ("index", "kind", "level", "name", "reason", "release"):
            if key in entry.data:
                event[key] = entry.data[key]
        if entry.kind == Kind.ANALYSIS_VERDICT:
            event["verdict"] = outcome_of(entry)
        shown.append(event)
    return shown


class LevelTiming(TypedDict):
    """One rollback level in the demo's result, its times in seconds since the demo started."""

    level: int
    name: str
    started: float | None
    ended: float | None
    recovered: bool
    reason: str | None
    """Why its verification said what it said."""


class RollbackTiming(TypedDict):
    """The demo's rollback: in seconds since it started, when the fault began, was
    detected and recovered from; ``final_level`` 0 when no rollback ran."""

    final_level: int | None
    fault_onset: float | None
    detected_at: float | None
    recovered_at: float | None
    levels: list[LevelTiming]


def rollback_timing(entries: list[JournalEntry], started: float, fault: str) -> RollbackTiming:
    """When the fault began, was detected and recovered from, and each level's timing."""

    def since(ts: float | None) -> float | None:
        return None if ts is None else round(ts - started, 3)

    onset = None
    for entry in entries:
        flag_on = turned_on(entry)
        deploying = entry.kind == Kind.STEP_RUNNING and step_moved(entry)["kind"] in (
            "deploy",
            "canary",
        )
        # Faults on the new path start with the flag; leak and corrupt with the release
        # (its first instance: a canary's, behind a router).
        if (fault in ("errors", "latency") and flag_on) or (
            fault in ("leak", "corrupt") and deploying
        ):
            onset = entry.ts
            break
    detected = next(
        (
            e.ts
            for e in entries
            if e.kind in (Kind.GUARD_TRIPPED, Kind.STEP_FAILED, Kind.ROLLBACK_STARTED)
        ),
        None,
    )
    levels = levels_ended(entries)
    finished = rollback_finished(entries)
    recovered = next((level for level in levels if level.get("recovered")), None)
    return {
        "final_level": finished.get("final_level") if finished else 0,
        "fault_onset": since(onset),
        "detected_at": since(detected),
        "recovered_at": since(recovered["ended"]) if recovered else None,
        "levels": [
            {
                "level": level["level"],
                "name": level["name"],
                "started": since(level["started"]),
                "ended": since(level["ended"]),
                "recovered": level["recovered"],
                "reason": (level.get("verification") or {}).get("reason"),
            }
            for level in levels
        ],
    }


def _flags_off(store: Store, plan: Plan) -> None:
    """A store that outlives the workdir (PostgreSQL) may hold the last demo's flags, on."""
    for definition in plan.flags:
        try:
            current = store.get_flag(definition.name).definition
        except NotFoundError:
            continue
        off = rollout_feature(definition.name, 0, enabled=False)
        if current != off:
            store.put_flag(definition.name, off, actor="demo")


def _ignore(entry: JournalEntry) -> None:
    del entry


def _stop_leftovers(workdir: Path) -> None:
    stop_leftover(workdir / "prometheus")
    plan_path = workdir / "plan.yaml"
    if not plan_path.exists():
        return
    try:
        plan = load_plan(plan_path)
        router = build_router(plan, workdir / "home")
        if router is not None:
            router.stop()  # a new router over the same home adopts the running nginx
        build_target(plan, workdir / "home").stop()
    except RollsafeError:
        pass  # nothing we can stop from a broken leftover; the directory goes anyway


@contextmanager
def _stopping(target: Target, *, unless: bool) -> Iterator[None]:
    try:
        yield
    except BaseException:
        target.stop()  # whatever else happens, an interrupted demo leaves nothing running
        raise
    if not unless:
        target.stop()


@contextmanager
def _metrics_provider(
    metrics: str, plan_path: Path, plan: Plan, target: Target
) -> Iterator[Callable[[], None]]:
    """Where the rollout's metrics come from; yields a wait until they show the live instances.

    ``prometheus``: the demo's own Prometheus, up for the whole block, and the plan file
    rewritten to query it (the file is what the controller stores and runs).
    """
    if metrics == "scrape":
        yield lambda: None
        return
    root = plan_path.parent / "prometheus"
    path = plan.metrics.path if isinstance(plan.metrics, ScrapeMetrics) else "/metrics"
    with DemoPrometheus(root, target.endpoints, metrics_path=path) as prometheus:
        use_prometheus(plan_path, prometheus.url)
        yield prometheus.wait_scraping


@contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so the finally blocks stop every process we started."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _background_load(
    endpoints: Callable[[], list[str]], rate: float
) -> Iterator[Callable[[], dict[str, Any]]]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        stats = loop.run_until_complete(
            generate_load(endpoints, rate=rate, checkout_share=0.6, stop=stop, seed=7)
        )
        result.update(stats.to_dict())

    thread = threading.Thread(target=run, name="demo-load", daemon=True)
    thread.start()
    try:
        yield lambda: dict(result)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
