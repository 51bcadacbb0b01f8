"""Kill torture: SIGKILL the controller at random points of real rollbacks, resume, check.

Each run ships the demo shop's 1.1.0 with the ``corrupt`` fault (its migration
destroys ``orders.total_cents``), so the rollback climbs every level: flags off
(L1) and the previous release (L2) do not help, the L3 restore does. A load
thread places orders all along with a unique ``user_id`` each and remembers the
ones the shop acknowledged (201). The controller (``rollsafe rollout start``,
then ``rollout resume`` until the rollout ends) is killed with SIGKILL at a
point drawn for the run: at a random time, during level 1, 2 or 3, or just
after the restore was journaled (the window of issue 17, item 1); a resumed
controller is killed again in some runs. Then, against the store's journal
and the shop's database:

- no backup restored twice (``backup.restored``), and the L3 level ended once;
- every acknowledged order is in the database or listed in the incident's
  lost-rows file (written after the backup, taken away by the restore);
- no step succeeded twice, no flag written twice with the same definition;
- ``journal verify`` passes; the incident report credits level 3; the shop serves
  1.0.0, healthy.

``python -m bench.torture --runs 12 --store sqlite --store postgres`` prints a
JSON summary (and ``--out`` writes every run); the figures go in docs/benchmarks.md.
PostgreSQL runs use a fresh schema of ``ROLLSAFE_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) each, dropped afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from rollsafe.config import ProcessTarget as ProcessTargetConfig
from rollsafe.config import load_plan
from rollsafe.demo.runner import prepare_workdir
from rollsafe.errors import RollsafeError
from rollsafe.report import build_incident
from rollsafe.store import RolloutState, Store, open_store_url
from rollsafe.targets import ProcessTarget

POSTGRES_URL = os.environ.get(
    "ROLLSAFE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
STEPS = """\
rollback:
  levels: [flags, release, restore]
  verify:
    for: 2s
  watch: 0s
steps:
  - backup:
  - flag: {name: fast-checkout, rollout: 50}
  - pause: {duration: 1s}
  - deploy: {release: 1.1.0}
  - analysis: {duration: 30s, mode: health}
  - promote:
"""
KILL_POINTS = ("random", "level 1", "level 2", "level 3", "restoring", "after restore")
"""Where a run's first kill lands: a random time; 0-4 s into level 1 or 2; 0-1 s into level 3;
0-0.3 s after maintenance went on (stopping, forensic copy, restore); 0-1.5 s after the
restore was journaled (the previous release starting, verification)."""
_AFTER: dict[str, tuple[str, tuple[str, Any], float]] = {
    "level 1": ("rollback.level_started", ("level", 1), 4.0),
    "level 2": ("rollback.level_started", ("level", 2), 4.0),
    "level 3": ("rollback.level_started", ("level", 3), 1.0),
    "restoring": ("rollback.maintenance", ("on", True), 0.3),
    "after restore": ("backup.restored", ("kind", "sqlite"), 1.5),
}
_ENDED = {"rollout.rolled_back", "rollout.failed", "rollout.aborted", "rollout.promoted"}


@dataclass
class Run:
    number: int
    store: str
    kill_point: str
    kills: list[dict[str, Any]] = field(default_factory=list)
    state: str = ""
    seconds: float = 0.0
    restores: int = 0
    level_3_ended: int = 0
    acknowledged: int = 0
    lost_listed: int = 0
    lost_unlisted: int = 0
    violations: list[str] = field(default_factory=list)


class Orders:
    """Places orders one after another on whatever instances serve; remembers the acknowledged."""

    def __init__(self, target: ProcessTarget, prefix: str) -> None:
        self.target = target
        self.prefix = prefix
        self.acknowledged: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Orders:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        body = {"items": [{"product_id": 1, "quantity": 1}]}
        with httpx.Client(timeout=httpx.Timeout(3.0, connect=0.5)) as client:
            for n in range(1_000_000):
                if self._stop.wait(0.03):
                    return
                try:
                    endpoints = self.target.endpoints()
                except RollsafeError:  # its state file mid-rewrite: try again
                    continue
                if not endpoints:
                    continue
                user = f"{self.prefix}-{n}"
                try:
                    answer = client.post(
                        f"{endpoints[n % len(endpoints)]}/checkout", json={**body, "user_id": user}
                    )
                except httpx.HTTPError:
                    continue
                if answer.status_code == 201:
                    self.acknowledged.append(user)


def run_once(number: int, store_kind: str, kill_point: str, rng: random.Random) -> Run:
    run = Run(number, store_kind, kill_point)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="rollsafe-torture-") as tmp,
        _store_url(store_kind, Path(tmp)) as store_url,
    ):
        workdir = Path(tmp) / "demo"
        plan_path = prepare_workdir(workdir, "corrupt")
        text = plan_path.read_text()
        text = text.replace("retries: 100", "retries: 30")  # an unhealthy 1.0.0 fails in 3 s
        plan_path.write_text(text[: text.index("rollback:")] + STEPS)
        home = workdir / "home"
        plan = load_plan(plan_path)
        assert isinstance(plan.target, ProcessTargetConfig)
        target = ProcessTarget(plan.target, service=plan.service, home=home)
        target.deploy("1.0.0")
        store = open_store_url(store_url)
        try:
            with Orders(target, f"t{number}") as orders:
                time.sleep(1.0)  # some orders before the backup
                _drive(run, home, store_url, store, plan_path, rng)
                time.sleep(1.0)  # and some after the rollback
            run.acknowledged = len(orders.acknowledged)
            _check(run, store, workdir, home, orders.acknowledged, target)
        finally:
            store.close()
            target.stop()
    run.seconds = round(time.monotonic() - started, 1)
    return run


def _cli(home: Path, store_url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rollsafe", "--home", str(home), "--store", store_url, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _drive(
    run: Run, home: Path, store_url: str, store: Store, plan_path: Path, rng: random.Random
) -> None:
    """Start, kill at the run's point, resume (killed again in a third of the runs) to the end."""
    process = _cli(home, store_url, "rollout", "start", str(plan_path))
    rollout_id = _wait(lambda: next(iter(r.id for r in store.list_rollouts()), None), 60)
    kill_point = run.kill_point
    for attempt in range(6):
        killed = _kill_at(process, store, rollout_id, kill_point, rng)
        if killed is not None:
            run.kills.append({"attempt": attempt, **killed})
        else:
            process.communicate(timeout=300)
        state = store.get_rollout(rollout_id).state
        if state.is_final:
            run.state = state.value
            return
        # Resume; a third of the resumed controllers is killed again, at a random time.
        kill_point = "random" if rng.random() < 1 / 3 and attempt < 2 else "none"
        process = _cli(home, store_url, "rollout", "resume", rollout_id)
    run.state = store.get_rollout(rollout_id).state.value
    run.violations.append(f"not ended after {len(run.kills)} kills: {run.state}")


def _kill_at(
    process: subprocess.Popen[str],
    store: Store,
    rollout_id: str,
    point: str,
    rng: random.Random,
) -> dict[str, Any] | None:
    """Wait for ``point`` in the journal, then a random delay, then SIGKILL; None if it ended."""
    if point == "none":
        return None
    if point == "random":
        delay = rng.uniform(0.5, 30.0)
    else:
        kind, value, longest = _AFTER[point]
        seq = 0  # read only the new entries: a late look would push the kill past its point
        while process.poll() is None:
            new = store.journal(rollout_id, after_seq=seq)
            seq = new[-1].seq if new else seq
            field_name, wanted = value
            if any(e.kind == kind and e.data.get(field_name) == wanted for e in new):
                break
            time.sleep(0.01)
        delay = rng.uniform(0.0, longest)
    deadline = time.monotonic() + delay
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if process.poll() is not None:
        return None
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    journal = store.journal(rollout_id)
    return {
        "point": point,
        "delay": round(delay, 2),
        "after": journal[-1].kind,
        "during_level": _open_level(journal),
    }


def _open_level(journal: list[Any]) -> int | None:
    """The rollback level started and not yet ended when the journal stops."""
    level = None
    for entry in journal:
        if entry.kind == "rollback.level_started":
            level = entry.data["level"]
        elif entry.kind in ("rollback.level_ended", "rollback.level_skipped"):
            level = None
    return level


def _check(
    run: Run,
    store: Store,
    workdir: Path,
    home: Path,
    acknowledged: list[str],
    target: ProcessTarget,
) -> None:
    (rollout,) = store.list_rollouts()
    journal = store.journal(rollout.id)
    restored = Counter(e.data["id"] for e in journal if e.kind == "backup.restored")
    run.restores = sum(restored.values())
    if any(count > 1 for count in restored.values()):
        run.violations.append(f"a backup restored more than once: {dict(restored)}")
    ended = [e.data for e in journal if e.kind == "rollback.level_ended"]
    run.level_3_ended = sum(1 for level in ended if level["level"] == 3)
    if Counter(level["level"] for level in ended).most_common(1)[0][1:] > (1,):
        run.violations.append("a level ended twice")
    steps = Counter(e.data["index"] for e in journal if e.kind == "step.succeeded")
    if any(count > 1 for count in steps.values()):
        run.violations.append(f"a step succeeded twice: {dict(steps)}")
    writes = [
        (e.data["name"], json.dumps(e.data["after"], sort_keys=True))
        for e in journal
        if e.kind == "flag.changed"
    ]
    if any(a == b for a, b in itertools.pairwise(writes)):
        run.violations.append("a flag written twice with the same definition")
    if not store.verify_journal().ok:
        run.violations.append("journal verify failed")
    if rollout.state is not RolloutState.ROLLED_BACK:
        run.violations.append(f"ended {rollout.state.value}: {rollout.reason}")
    report = build_incident(journal)
    if (report["final_level"], report["recovered_by"]) != (3, "rollback level 3 (restore)"):
        run.violations.append(f"the report credits {report['recovered_by']!r}")
    # Every acknowledged order: in the database, or listed as taken away by the restore.
    with sqlite3.connect(workdir / "shop" / "data" / "shop.db") as conn:
        present = {row[0] for row in conn.execute("SELECT user_id FROM orders")}
    listed = set()
    for lost in (e.data for e in journal if e.kind == "backup.lost_rows"):
        if lost.get("file"):
            for line in (home / lost["file"]).read_text().splitlines():
                row = json.loads(line)
                if row["table"] == "orders" and row["change"] in ("added", "changed"):
                    listed.add(row["row"].get("user_id"))
    missing = [user for user in acknowledged if user not in present]
    run.lost_listed = sum(1 for user in missing if user in listed)
    run.lost_unlisted = len(missing) - run.lost_listed
    if run.lost_unlisted:
        run.violations.append(f"{run.lost_unlisted} acknowledged orders lost and not listed")
    if target.current_release() != "1.0.0" or not target.check_health().healthy:
        run.violations.append("the shop is not back on 1.0.0, healthy")


def _wait(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.05)
    raise TimeoutError("the rollout was never created")


@contextmanager
def _store_url(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp / "state.db")
        return
    schema = f"rs_torture_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")  # a generated name
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def summarize(runs: list[Run]) -> dict[str, Any]:
    kills = [kill for run in runs for kill in run.kills]
    return {
        "runs": len(runs),
        "by_store": dict(Counter(run.store for run in runs)),
        "kills": len(kills),
        "kills_by_point": dict(Counter(kill["point"] for kill in kills)),
        "kills_during_level": {
            f"L{level}": sum(1 for kill in kills if kill["during_level"] == level)
            for level in (1, 2, 3)
        },
        "kills_after_the_end": sum(1 for k in kills if k["after"] in _ENDED),
        "kills_right_after_restore": sum(1 for k in kills if k["after"] == "backup.restored"),
        "outcomes": dict(Counter(run.state for run in runs)),
        "restores_per_run": dict(Counter(run.restores for run in runs)),
        "acknowledged_orders": sum(run.acknowledged for run in runs),
        "lost_and_listed": sum(run.lost_listed for run in runs),
        "lost_unlisted": sum(run.lost_unlisted for run in runs),
        "runs_with_violations": sum(1 for run in runs if run.violations),
        "violations": [f"run {run.number}: {v}" for run in runs for v in run.violations],
        "seconds": round(sum(run.seconds for run in runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per store")
    parser.add_argument("--store", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, help="write every run as JSON here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    runs: list[Run] = []
    for store_kind in args.store or ["sqlite"]:
        for number in range(args.runs):
            point = KILL_POINTS[number % len(KILL_POINTS)]
            run = run_once(len(runs), store_kind, point, rng)
            runs.append(run)
            print(json.dumps(asdict(run)), file=sys.stderr, flush=True)
    summary = summarize(runs)
    if args.out:
        args.out.write_text(json.dumps([asdict(run) for run in runs], indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
