"""``python -m rollsafe.demo.shop``: one shop instance on 127.0.0.1, flags via the SDK."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from rollsafe.demo.shop.app import create_app
from rollsafe.errors import RollsafeError
from rollsafe.targets import MAINTENANCE_MARKER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rollsafe.demo.shop", description=__doc__)
    parser.add_argument("--release-dir", type=Path, required=True, help="holds release.json")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--db", type=Path, required=True, help="the shared SQLite orders file")
    parser.add_argument(
        "--home", type=Path, required=True, help="rollsafe home (its rollsafe.db holds flags)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    from rollsafe.sdk import FlagClient

    # Flags from the state store (ROLLSAFE_STORE, a SQLite file or PostgreSQL URL, set
    # by the process target; else the home's rollsafe.db): no flag server needed. With
    # ROLLSAFE_FLAGS_URL (and ROLLSAFE_FLAGS_TOKEN) they stream from `rollsafe server`
    # instead, the store then serving as the fallback while the server is unreachable.
    flags = FlagClient(
        os.environ.get("ROLLSAFE_FLAGS_URL") or None,
        os.environ.get("ROLLSAFE_FLAGS_TOKEN") or None,
        store=os.environ.get("ROLLSAFE_STORE") or args.home / "rollsafe.db",
        store_interval=0.25,
    )
    try:
        root = os.environ.get("ROLLSAFE_TARGET_ROOT")
        marker = Path(root) / MAINTENANCE_MARKER if root else None
        app = create_app(args.release_dir, args.db, flags, maintenance_marker=marker)
    except RollsafeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.run()
    # uvicorn returns after SIGTERM/SIGINT once in-flight requests finish; a failed
    # startup (port taken, migration error) leaves it not started.
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
