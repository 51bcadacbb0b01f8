"""``python -m bench.nginx_switching``: requests that fail while rollsafe switches traffic.

Two stable instances and one canary of a uvicorn service (``service.py``) run as
the process target runs them, behind rollsafe's nginx; ``--users`` users send
``GET /`` and ``POST /orders`` through nginx back to back while rollsafe repeats
``--cycles`` times a rollout's switches (canary in at 20% and 50%, rolling deploy,
canary out, canary of the other release at 33%, canary out). Prints every answer
that was not 2xx and every failed connection, by method and kind.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.nginx_switching.rig import RELEASES, rig, switch_cycle, users
from rollsafe.config import NginxRouter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--slow-users", type=int, default=2)
    parser.add_argument("--slow-upload", type=float, default=0.8, help="seconds per slow body")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--client-keepalive", type=float, default=0.0)
    args = parser.parse_args()
    started = time.monotonic()
    cpu = time.process_time()
    switches = 0
    with tempfile.TemporaryDirectory(prefix="nginx-switching-") as tmp:
        config = NginxRouter(client_keepalive=args.client_keepalive)
        with (
            rig(Path(tmp), router=config, instances=args.instances) as r,
            users(r.url, args.users, args.slow_users, args.slow_upload) as finish,
        ):
            for cycle in range(args.cycles):
                new, old = RELEASES[(cycle + 1) % 2], RELEASES[cycle % 2]
                for _ in switch_cycle(r, new, old):
                    switches += 1
            summary = finish()
    failures = Counter(f"{bad['method']} {bad['failure'][:60]}" for bad in summary["bad"])
    sent = summary["sent"]
    print(
        json.dumps(
            {
                "switches": switches,
                "seconds": round(time.monotonic() - started, 1),
                "controller_cpu_s": round(time.process_time() - cpu, 2),
                "sent": sent,
                "failed": sum(failures.values()),
                "failures": dict(failures.most_common()),
                "load_average": os.getloadavg()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
