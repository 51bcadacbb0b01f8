"""``python -m bench.flags.worker URL TOKEN N``: N streaming SDK clients in one asyncio loop.

Prints ``ready`` once every client holds the flags, then records when each
client first holds each flag turned on; on a line ``stop`` on stdin it prints
``{"received": [{flag: unix time, ...} per client], "errors": n}`` and exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

from rollsafe.sdk import AsyncFlagClient, FlagsChanged


async def main(url: str, token: str, count: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    received: list[dict[str, float]] = [{} for _ in range(count)]
    clients = []
    for index in range(count):
        client = AsyncFlagClient(url, token, backoff_initial=0.5, heartbeat_timeout=60)

        def listener(
            event: FlagsChanged, index: int = index, client: AsyncFlagClient = client
        ) -> None:
            now = time.time()
            seen = received[index]
            for name in event.names:
                if name not in seen and client.is_enabled(name):
                    seen[name] = now

        client.add_listener(listener)
        clients.append(client)
    for start in range(0, count, 50):  # connect in waves: a burst of 1,000 SYNs overflows backlogs
        await asyncio.gather(*(c.start() for c in clients[start : start + 50]))
        await asyncio.sleep(0.02)
    deadline = time.monotonic() + 120
    while not all(c.ready for c in clients):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    print("ready" if all(c.ready for c in clients) else "not ready", flush=True)
    cpu = time.process_time()
    await asyncio.to_thread(sys.stdin.readline)
    cpu = time.process_time() - cpu
    errors = sum(c.status != "streaming" for c in clients)
    print(json.dumps({"received": received, "errors": errors, "cpu": cpu}), flush=True)
    for client in clients:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
