"""Drive a pipeline: each stage's rollout, then its gates, then the next stage.

Journal first: every decision is an entry in the pipeline's own store (the
``--home`` the command runs in), keyed by run (``<pipeline>/<release>/<n>``), and
the run's state is read back from those entries alone. A runner killed at any
instant is replaced by one that reads them and continues: a stage whose rollout
was created is driven on (``Controller.run`` takes over the dead owner's lease),
a gate that passed is not run again, a rollback that started is finished.

Each stage's rollout lives in the stage's own home and store, as if run by hand
there; its plan is the stage's plan with the overrides merged and the release
set, stored with the rollout, and marked with the run and stage so a rollout
created just before a crash is found again instead of created twice.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.config import load_plan
from rollsafe.config.pipeline import CommandGate, Gate, Pipeline, SoakGate, Stage
from rollsafe.controller.adapters import Adapters
from rollsafe.controller.loadgate import measure
from rollsafe.controller.runner import Controller
from rollsafe.errors import ConflictError, RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.store import RolloutState, Store, open_store_url

OUTPUT_TAIL = 2000
"""Characters of a command gate's output kept in the journal."""


@dataclass(frozen=True)
class GateResult:
    passed: bool | None
    """None: not decided yet (an approval nobody gave)."""
    detail: dict[str, Any]


class PipelineRunner:
    def __init__(
        self,
        pipeline: Pipeline,
        path: Path,
        plans: dict[str, str],
        store: Store,
        *,
        actor: str = "cli",
        adapters: Adapters | None = None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.pipeline = pipeline
        self.path = path.resolve()
        self.plans = plans
        self.store = store
        self.actor = actor
        self.adapters = adapters or Adapters()
        self.say = say

    # -- the run's state, from the journal --------------------------------------

    def entries(self, run: str | None = None) -> list[JournalEntry]:
        """This pipeline's entries (of one run when given), oldest first."""
        return [
            entry
            for entry in self.store.journal()
            if entry.kind.startswith("pipeline.")
            and entry.data.get("pipeline") == self.pipeline.name
            and (run is None or entry.data.get("run") == run)
        ]

    def current_run(self) -> str | None:
        """The latest run of this release, finished or not."""
        release = self.pipeline.release
        runs = [
            e.data["run"]
            for e in self.entries()
            if e.kind == Kind.PIPELINE_STARTED and e.data.get("release") == release
        ]
        return runs[-1] if runs else None

    def status(self) -> dict[str, Any]:
        run = self.current_run()
        entries = self.entries(run) if run else []
        finished = _last(entries, Kind.PIPELINE_FINISHED)
        stages = [self._stage_status(stage, entries) for stage in self.pipeline.order()]
        if finished is not None:
            state = str(finished.data["outcome"])
        elif run is None:
            state = "not started"
        else:
            state = "running"
            waiting = [s for s in stages if s["state"] in ("awaiting approval", "paused")]
            if waiting:
                state = f"{waiting[0]['state']} at {waiting[0]['name']}"
        return {
            "pipeline": self.pipeline.name,
            "release": self.pipeline.release,
            "run": run,
            "state": state,
            "reason": finished.data.get("reason", "") if finished else "",
            "stages": stages,
        }

    def _stage_status(self, stage: Stage, entries: list[JournalEntry]) -> dict[str, Any]:
        mine = [e for e in entries if e.data.get("stage") == stage.name]
        status: dict[str, Any] = {"name": stage.name, "state": "pending", "rollout": None}
        if rollout := _last(mine, Kind.PIPELINE_STAGE_ROLLOUT):
            status["rollout"] = rollout.data["rollout_id"]
            status["state"] = "rolling out"
        if ended := _last(mine, Kind.PIPELINE_STAGE_ENDED):
            status["state"] = str(ended.data["state"])
            status["reason"] = ended.data.get("reason", "")
        gates = [e.data for e in mine if e.kind == Kind.PIPELINE_GATE]
        status["gates"] = [
            {"index": g["index"], "kind": g["kind"], "passed": g["passed"]} for g in gates
        ]
        if any(g["passed"] is None for g in gates[-1:]):
            status["state"] = "awaiting approval"
        if any(g["passed"] is False for g in gates):
            status["state"] = "gate failed"
        if rolled := _last(mine, Kind.PIPELINE_STAGE_ROLLED_BACK):
            status["state"] = f"rolled back ({rolled.data['state']})"
        if _last(mine, Kind.PIPELINE_PROMOTED):
            status["state"] = "passed"
        return status

    # -- driving ----------------------------------------------------------------

    def run(self, *, lock: Path | None = None) -> dict[str, Any]:
        """Start a run, or continue the unfinished one; returns the status when it stops.

        ``lock``: a file held for the whole run, so a second runner on this machine is
        refused (ConflictError) instead of driving the same stages beside the first.
        """
        if lock is None:
            return self._run()
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConflictError(
                    f"pipeline {self.pipeline.name} is being run by another process ({lock})"
                ) from None
            return self._run()

    def _run(self) -> dict[str, Any]:
        run = self.current_run()
        if run is None or _last(self.entries(run), Kind.PIPELINE_FINISHED) is not None:
            count = sum(
                1 for e in self.entries() if e.kind == Kind.PIPELINE_STARTED
            )  # a new run each time one finished
            run = f"{self.pipeline.name}/{self.pipeline.release or '-'}/{count + 1}"
            resumed = False
        else:
            resumed = True
        self._journal(
            Kind.PIPELINE_STARTED,
            run,
            {
                "release": self.pipeline.release,
                "file": str(self.path),
                "stages": [stage.name for stage in self.pipeline.order()],
                "resumed": resumed,
            },
        )
        for stage in self.pipeline.order():
            outcome = self._stage(run, stage)
            if outcome == "waiting":
                return self.status()
            if outcome != "passed":
                self._journal(
                    Kind.PIPELINE_FINISHED,
                    run,
                    {"outcome": "stopped", "stage": stage.name, "reason": outcome},
                )
                return self.status()
        self._journal(Kind.PIPELINE_FINISHED, run, {"outcome": "promoted", "reason": ""})
        return self.status()

    def approve(self, stage_name: str) -> None:
        """A person's approval of the current run's gate at ``stage_name``."""
        run = self.current_run()
        if run is None or _last(self.entries(run), Kind.PIPELINE_FINISHED) is not None:
            raise RollsafeError(f"no unfinished run of {self.pipeline.name} to approve")
        if stage_name not in {stage.name for stage in self.pipeline.stages}:
            raise RollsafeError(f"unknown stage {stage_name!r}")
        self._journal(Kind.PIPELINE_APPROVED, run, {"stage": stage_name})

    def _stage(self, run: str, stage: Stage) -> str:
        """``passed``, ``waiting`` (for a person), or why the pipeline stops here."""
        entries = [e for e in self.entries(run) if e.data.get("stage") == stage.name]
        if _last(entries, Kind.PIPELINE_PROMOTED):
            return "passed"
        home = stage.home or self.path.parent / f".rollsafe-{stage.name}"
        home.mkdir(parents=True, exist_ok=True)
        store = open_store_url(stage.store or str(home / "rollsafe.db"))
        try:
            ended = _last(entries, Kind.PIPELINE_STAGE_ENDED)
            if ended is None or ended.data["state"] == RolloutState.PAUSED.value:
                # Not ended, or paused for a person: drive it (a paused one stays paused
                # until `rollsafe rollout resume` in the stage's home, then ends here).
                state, reason = self._roll_out(run, stage, entries, store, home)
                self._journal(
                    Kind.PIPELINE_STAGE_ENDED,
                    run,
                    {"stage": stage.name, "state": state, "reason": reason},
                )
            else:
                state, reason = str(ended.data["state"]), str(ended.data.get("reason", ""))
            if state == RolloutState.PAUSED.value:
                return "waiting"
            if state != RolloutState.PROMOTED.value:
                return f"stage {stage.name} ended {state}: {reason}"
            return self._gates(run, stage, store, home)
        finally:
            store.close()

    def _roll_out(
        self, run: str, stage: Stage, entries: list[JournalEntry], store: Store, home: Path
    ) -> tuple[str, str]:
        marker = f"# rollsafe pipeline run {run} stage {stage.name}\n"
        text = marker + self.plans[stage.name]
        known = _last(entries, Kind.PIPELINE_STAGE_ROLLOUT)
        rollout_id = str(known.data["rollout_id"]) if known else None
        if rollout_id is None:
            if not _last(entries, Kind.PIPELINE_STAGE_STARTED):
                self._journal(Kind.PIPELINE_STAGE_STARTED, run, {"stage": stage.name})
            # Created before a crash that came before it was journaled: the same rollout.
            found = [r for r in store.list_rollouts(limit=200) if r.plan_text.startswith(marker)]
            if found:
                rollout_id = found[0].id
            else:
                plan = load_plan(stage.plan, text)
                rollout_id = store.create_rollout(
                    service=plan.service,
                    plan_path=str(stage.plan),
                    plan_text=text,
                    steps=[(s.kind, s.spec.model_dump(mode="json")) for s in plan.steps],
                    actor=self.actor,
                ).id
            self._journal(
                Kind.PIPELINE_STAGE_ROLLOUT,
                run,
                {"stage": stage.name, "rollout_id": rollout_id, "store": store.where},
            )
        self.say(f"stage {stage.name}: rollout {rollout_id}")
        rollout = Controller(store, home, adapters=self.adapters).run(rollout_id)
        return rollout.state.value, rollout.reason

    def _gates(self, run: str, stage: Stage, store: Store, home: Path) -> str:
        entries = [e for e in self.entries(run) if e.data.get("stage") == stage.name]
        known = _last(entries, Kind.PIPELINE_STAGE_ROLLOUT)
        if known is None:  # the stage ended, so its rollout was journaled before
            raise RollsafeError(f"stage {stage.name}: the journal names no rollout")
        rollout_id = str(known.data["rollout_id"])
        gates: list[Gate | SoakGate] = []
        if stage.soak > 0:
            gates.append(SoakGate(duration=stage.soak, interval=min(1.0, stage.soak)))
        gates.extend(stage.gates)
        failed = next(
            (e for e in entries if e.kind == Kind.PIPELINE_GATE and e.data["passed"] is False),
            None,
        )
        if failed is None:
            passed = {
                e.data["index"]
                for e in entries
                if e.kind == Kind.PIPELINE_GATE and e.data["passed"]
            }
            for index, gate in enumerate(gates):
                if index in passed:
                    continue
                kind = "soak" if isinstance(gate, SoakGate) else gate.kind
                self.say(f"stage {stage.name}: gate {index} ({kind})")
                result = self._gate(run, stage, gate, store, home)
                self._journal(
                    Kind.PIPELINE_GATE,
                    run,
                    {
                        "stage": stage.name,
                        "index": index,
                        "kind": kind,
                        "passed": result.passed,
                        **result.detail,
                    },
                )
                if result.passed is None:
                    return "waiting"
                if not result.passed:
                    failed = self.entries(run)[-1]
                    break
        if failed is None:
            self._journal(Kind.PIPELINE_PROMOTED, run, {"stage": stage.name})
            return "passed"
        # The stage promoted but did not pass: undo it there, verified by the ladder.
        rollout = Controller(store, home, adapters=self.adapters).roll_back_to(
            rollout_id, stage.rollback_level, actor=f"pipeline {self.pipeline.name}"
        )
        self._journal(
            Kind.PIPELINE_STAGE_ROLLED_BACK,
            run,
            {"stage": stage.name, "state": rollout.state.value, "reason": rollout.reason},
        )
        return (
            f"stage {stage.name} failed gate {failed.data['index']} ({failed.data['kind']}): "
            f"{failed.data.get('reason', '')}; the stage was rolled back"
        )

    def _gate(
        self,
        run: str,
        stage: Stage,
        gate: Gate | SoakGate,
        store: Store,
        home: Path,
    ) -> GateResult:
        if isinstance(gate, SoakGate):
            return self._soak(stage, gate, store, home)
        if gate.soak is not None:
            return self._soak(stage, gate.soak, store, home)
        if gate.command is not None:
            return self._command(stage, gate.command)
        if gate.load is not None:
            result = measure(
                {"baseline": gate.load.baseline or "", "candidate": gate.load.candidate or ""},
                gate.load,
            )
            return GateResult(
                result.verdict == "pass", {"reason": result.reason, "load": result.summary}
            )
        approvals = [
            e
            for e in self.entries(run)
            if e.kind == Kind.PIPELINE_APPROVED and e.data.get("stage") == stage.name
        ]
        if approvals:
            return GateResult(True, {"approved_by": approvals[-1].actor})
        return GateResult(None, {"reason": "waiting for `rollsafe pipeline approve`"})

    def _soak(self, stage: Stage, gate: SoakGate, store: Store, home: Path) -> GateResult:
        plan = load_plan(stage.plan, self._stage_plan(stage))
        target = self.adapters.target(plan, home, store.address)
        looks = 0
        deadline = time.monotonic() + gate.duration
        while True:
            report = target.check_health()
            looks += 1
            if not report.healthy:
                return GateResult(
                    False,
                    {"reason": f"unhealthy after {looks} looks: {report}", "looks": looks},
                )
            if time.monotonic() >= deadline:
                return GateResult(True, {"looks": looks, "seconds": gate.duration})
            time.sleep(min(gate.interval, max(0.0, deadline - time.monotonic())))

    def _stage_plan(self, stage: Stage) -> str:
        return self.plans[stage.name]

    def _command(self, stage: Stage, gate: CommandGate) -> GateResult:
        env = {
            **os.environ,
            "ROLLSAFE_STAGE": stage.name,
            "ROLLSAFE_RELEASE": self.pipeline.release or "",
        }
        started = time.monotonic()
        try:
            done = subprocess.run(  # an argv list from the pipeline file, no shell
                gate.command,
                cwd=self.path.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=gate.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return GateResult(False, {"reason": f"timed out after {gate.timeout:g}s"})
        except OSError as error:
            return GateResult(False, {"reason": f"could not run {gate.command[0]}: {error}"})
        output = (done.stdout + done.stderr)[-OUTPUT_TAIL:]
        return GateResult(
            done.returncode == 0,
            {
                "command": gate.command,
                "exit_code": done.returncode,
                "seconds": round(time.monotonic() - started, 3),
                "output": output,
                "reason": f"exit code {done.returncode}" if done.returncode else "",
            },
        )

    def _journal(self, kind: Kind, run: str, data: dict[str, Any]) -> None:
        self.store.append(
            kind, {"pipeline": self.pipeline.name, "run": run, **data}, actor=self.actor
        )


def _last(entries: list[JournalEntry], kind: Kind) -> JournalEntry | None:
    found = [entry for entry in entries if entry.kind == kind]
    return found[-1] if found else None
