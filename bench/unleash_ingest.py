"""What one Unleash SDK metrics POST costs the flag service: parse, check and store.

``python -m bench.unleash_ingest``: a server over a fresh SQLite store on
loopback, 40 POSTs of a body with 350 toggles (variants included) and six
impact samples, then 40 of one toggle; prints median and p90 per POST.
Informational (no goal is set for it); see docs/unleash-api.md.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore

POSTS = 40


def body(toggles: int, impact: bool) -> dict[str, Any]:
    return {
        "appName": "svc",
        "instanceId": "i1",
        "bucket": {
            "start": "2026-12-05T00:00:00Z",
            "stop": "2026-12-05T00:00:10Z",
            "toggles": {
                f"flag-{i}": {"yes": 5, "no": 5, "variants": {"a": 3, "b": 2}}
                for i in range(toggles)
            },
        },
        "impactMetrics": [
            {
                "name": name,
                "help": "",
                "type": "counter",
                "samples": [{"labels": {"flag-1": v}, "value": 3} for v in ("a", "b")],
            }
            for name in ("x", "y", "z")
        ]
        if impact
        else [],
    }


def timed(client: httpx.Client, url: str, payload: dict[str, Any]) -> list[float]:
    times = []
    for _ in range(POSTS):
        started = time.perf_counter()
        answer = client.post(url, json=payload)
        times.append(time.perf_counter() - started)
        answer.raise_for_status()
    return sorted(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "rollsafe.db"
        store = SqliteStore(db)
        token, record = new_token("bench", TokenScope.CLIENT, created_by="bench")
        store.add_token(record, actor="bench")
        store.close()
        server = BackgroundServer(db, ServerSettings()).start()
        try:
            url = f"{server.url}/api/client/metrics"
            with httpx.Client(headers={"Authorization": token}, timeout=30) as client:
                for label, payload in (
                    ("350 toggles + 6 impact samples", body(350, True)),
                    ("1 toggle", body(1, False)),
                ):
                    times = timed(client, url, payload)
                    p90 = times[int(len(times) * 0.9) - 1]
                    print(
                        f"{label}: median {statistics.median(times) * 1000:.1f} ms,"
                        f" p90 {p90 * 1000:.1f} ms per POST ({POSTS} POSTs)"
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
