"""A rollout on fakes (rollsafe.testing) over a real SQLite store: no process, no socket.

Timings are shrunk to milliseconds (analysis looks, verification, pauses) so
the state machine and the rollback ladder run in a few tens of milliseconds.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollsafe.controller.runner import Controller
from rollsafe.store import StepState
from rollsafe.store.sqlite import SqliteStore
from rollsafe.testing import FakeRouter, FakeTarget, ReplaySource, fake_adapters, steady

PLAN = """\
version: 1
service: shop
target: {{type: process, root: {root}/root, command: ["{{python}}", "-c", "pass"]}}
router: {{}}
flags: [{{name: checkout}}]
backups: [{{type: files, name: uploads, path: {root}/uploads}}]
analysis: {{interval: 10ms, on_inconclusive: rollback}}
guards: {guards}
rollback: {{levels: {levels}, watch: {watch}, verify: {{for: 0s, interval: 5ms}}}}
steps:
{steps}
"""

STEP = {
    "backup": "backup:",
    "deploy": "deploy: {release: 1.1.0}",
    "canary": "canary: {release: 1.1.0, weight: 10}",
    "flag": "flag: {name: checkout, rollout: 50}",
    "analysis": "analysis: {duration: 40ms}",
    "pause": "pause: {duration: 60ms}",
    "promote": "promote:",
}


class Crash(BaseException):
    """The controller process dying: nothing in the controller catches it."""


@dataclass
class Rig:
    """One rollout's world: the fakes outlive the controllers (and stores) built on them,
    as a service outlives a controller process that dies."""

    root: Path
    target: FakeTarget = field(default_factory=FakeTarget)
    router: FakeRouter = field(default_factory=FakeRouter)
    source: ReplaySource = field(default_factory=lambda: ReplaySource(steady()))
    stores: list[SqliteStore] = field(default_factory=list)

    template: Path | None = None
    """A migrated, empty store to start from: copying it is faster than creating one."""

    def __post_init__(self) -> None:
        if self.template is not None:
            shutil.copyfile(self.template, self.root / "rollsafe.db")
        (self.root / "uploads").mkdir(exist_ok=True)
        (self.root / "uploads" / "logo.txt").write_text("before the rollout")

    def controller(self) -> Controller:
        """A new controller on a newly opened store: what a restarted process builds."""
        store = SqliteStore(self.root / "rollsafe.db")
        self.stores.append(store)
        adapters = fake_adapters(self.target, self.source, self.router)
        return Controller(store, self.root / "home", adapters=adapters)

    def create(
        self,
        steps: list[str],
        *,
        watch: str = "0s",
        levels: str = "[flags, release, restore]",
        guards: str = "[]",
        extra: str = "",
    ) -> tuple[Controller, str]:
        """``extra``: more top-level plan sections (``notify: [...]``), one per line."""
        plan = self.root / "plan.yaml"
        body = "\n".join(f"  - {STEP.get(step, step)}" for step in steps)
        plan.write_text(
            PLAN.format(root=self.root, steps=body, watch=watch, levels=levels, guards=guards)
            + extra
        )
        controller = self.controller()
        return controller, controller.create(plan).id

    def step_states(self, rollout_id: str) -> list[StepState]:
        return [step.state for step in self.stores[-1].steps(rollout_id)]

    def kinds(self, rollout_id: str) -> list[str]:
        return [entry.kind for entry in self.stores[-1].journal(rollout_id)]

    def journaled(self, rollout_id: str, kind: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.stores[-1].journal(rollout_id) if e.kind == kind]

    def flag_rollout(self) -> Any:
        return self.stores[-1].get_flag("checkout").definition

    def on_first(self, method: str, action: Callable[[], object]) -> None:
        """Run ``action`` when the target's ``method`` is first called (once)."""
        fired = threading.Event()

        def hook(name: str, arguments: tuple[Any, ...]) -> None:
            if name == method and not fired.is_set():
                fired.set()
                action()

        self.target.on_call = hook

    def close(self) -> None:
        for store in self.stores:
            store.close()


def request(controller: Controller, rollout_id: str, command: str) -> Callable[[], object]:
    """A pause, abort or rollback left in the store, as the CLI or a guard leaves it."""
    return lambda: controller.store.request(rollout_id, command, actor="test", reason=f"{command}!")


def store_template(directory: Path) -> Path:
    """An empty store with every migration applied, to copy into each test's directory."""
    path = directory / "rollsafe.db"
    SqliteStore(path).close()
    return path
