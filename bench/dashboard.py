"""How fast the dashboard's rollouts table answers with 1,000 rollouts in the store.

A real server on loopback over a real SQLite store holding 1,000 rollouts
(each with its plan text and three steps); each figure is the wall time of a
full GET of ``/ui/rollouts`` (first page, a state filter, a state and service
filter, the last page) measured from an HTTP client, median and p95 of
``--rounds`` requests after two warm-ups.

    .venv/bin/python bench/dashboard.py [--rollouts 1000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from rollsafe.server import BackgroundServer
from rollsafe.server.tokens import new_token
from rollsafe.store import RolloutState
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore

PLAN = "version: 1\nservice: {service}\n" + "# a plan of typical size\n" * 60
STATES = [RolloutState.PROMOTED] * 7 + [RolloutState.ROLLED_BACK, RolloutState.FAILED]


def fill(db: Path, count: int) -> str:
    store = SqliteStore(db)
    try:
        token, record = new_token("bench", TokenScope.CLIENT, created_by="bench")
        store.add_token(record, actor="bench")
        for number in range(count):
            service = f"svc-{number % 12}"
            rollout = store.create_rollout(
                service=service,
                plan_path="/srv/plan.yaml",
                plan_text=PLAN.format(service=service),
                steps=[("deploy", {"release": "1.1.0"}), ("analysis", {}), ("promote", {})],
                actor="bench",
            )
            store.set_rollout_state(rollout.id, STATES[number % len(STATES)], actor="bench")
        return token
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rollouts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        db = Path(directory) / "rollsafe.db"
        token = fill(db, args.rollouts)
        queries = {
            "first page": {},
            "state=failed": {"state": "failed"},
            "state+service": {"state": "promoted", "service": "svc-3"},
            "page 20": {"page": "20"},
        }
        with (
            BackgroundServer(db) as server,
            httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
            ) as client,
        ):
            print(f"{args.rollouts} rollouts, {args.rounds} rounds each")
            for name, params in queries.items():
                times = []
                for round_ in range(args.rounds + 2):
                    started = time.perf_counter()
                    answer = client.get("/ui/rollouts", params=params)
                    elapsed = time.perf_counter() - started
                    answer.raise_for_status()
                    if round_ >= 2:
                        times.append(elapsed * 1000)
                times.sort()
                p95 = times[int(0.95 * (len(times) - 1))]
                print(
                    f"{name:>14}: median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms"
                    f"  ({len(answer.content)} bytes)"
                )


if __name__ == "__main__":
    main()
