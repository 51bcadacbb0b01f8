"""``rollsafe demo --ui``: the dashboard over the demo's store, for watching the demo live.

It starts once the demo's workdir is laid out (the demo wipes it first), just
before the rollout is created, with a fresh admin token for signing in; it
stays up after the rollout ends until Ctrl-C, so the page can be read at leisure.
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path

from rollsafe.cli.output import console
from rollsafe.store import DATABASE_FILE, open_store_url
from rollsafe.store.records import TokenScope


class DemoDashboard:
    def __init__(self, workdir: Path, store_url: str | None, port: int) -> None:
        from rollsafe.server import BackgroundServer

        self.store = store_url or str(workdir.resolve() / "home" / DATABASE_FILE)
        self.port = port
        self.server: BackgroundServer | None = None

    def start(self) -> None:
        from rollsafe.server import BackgroundServer
        from rollsafe.server.tokens import new_token

        with closing(open_store_url(self.store)) as store:
            token, record = new_token("demo-ui", TokenScope.ADMIN, created_by="demo")
            store.add_token(record, actor="demo")
        self.server = BackgroundServer(self.store, port=self.port).start()
        console.print(
            f"[bold]dashboard[/bold]: {self.server.url}/ui  (sign in with the admin token "
            f"[bold]{token}[/bold])"
        )

    def keep_up(self, rollout_id: str) -> None:
        if self.server is None:
            return
        console.print(
            f"dashboard stays up: {self.server.url}/ui/rollouts/{rollout_id}; Ctrl-C to stop"
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("dashboard stopped")

    def __enter__(self) -> DemoDashboard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
