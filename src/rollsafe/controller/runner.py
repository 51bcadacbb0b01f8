"""The rollout state machine: run steps in order, journal each one, roll back on failure.

States: pending → running → (paused ⇄ running) → promoted, or
running/paused → rolling_back → rolled_back | aborted | failed.
The store holds the step being run; a controller that dies at any instant is
replaced by one that calls ``run`` again and continues from there.
"""

from __future__ import annotations

from pathlib import Path

from rollsafe.config import Plan, load_plan, read_plan_text
from rollsafe.controller.context import BASELINE_EVENT, StepContext, StepOutcome
from rollsafe.controller.lease import DEFAULT_TTL, LeaseKeeper, owner_id, owner_is_dead
from rollsafe.controller.rollback import roll_back
from rollsafe.controller.steps import run_step
from rollsafe.errors import ConflictError
from rollsafe.flags import rollout_feature
from rollsafe.store import Rollout, RolloutState, StepState, Store
from rollsafe.targets import ProcessTarget

RESUMABLE = {RolloutState.PENDING, RolloutState.RUNNING, RolloutState.PAUSED}


class Controller:
    def __init__(
        self, store: Store, home: Path, *, owner: str | None = None, lease_ttl: float = DEFAULT_TTL
    ) -> None:
        self.store = store
        self.home = home
        self.owner = owner or owner_id()
        self.lease_ttl = lease_ttl

    def create(self, plan_path: Path, *, actor: str = "cli") -> Rollout:
        """Validate the plan (PlanError, nothing written) and record a pending rollout."""
        text = read_plan_text(plan_path)
        plan = load_plan(plan_path, text)
        return self.store.create_rollout(
            service=plan.service,
            plan_path=str(plan_path.resolve()),
            plan_text=text,
            steps=[(step.kind, step.spec.model_dump(mode="json")) for step in plan.steps],
            actor=actor,
        )

    def run(self, rollout_id: str, *, resume: bool = False) -> Rollout:
        """Drive a rollout until it ends or pauses. ``resume`` continues a paused one."""
        rollout = self.store.get_rollout(rollout_id)
        if rollout.state.is_final:
            return rollout
        self._take_lease(rollout)
        with LeaseKeeper(self.store, rollout_id, self.owner, self.lease_ttl):
            return self._drive(rollout_id, resume=resume)

    def abort(self, rollout_id: str, *, actor: str = "cli") -> Rollout:
        """Ask the owner to abort; with no live owner, roll back here and now."""
        rollout = self.store.request(rollout_id, "abort", actor=actor)
        if rollout.owner and not owner_is_dead(rollout.owner) and rollout.owner != self.owner:
            return rollout
        return self.run(rollout_id)

    # -- internals --------------------------------------------------------

    def _take_lease(self, rollout: Rollout) -> None:
        force = owner_is_dead(rollout.owner)
        if not self.store.acquire_lease(rollout.id, self.owner, self.lease_ttl, force=force):
            raise ConflictError(
                f"rollout {rollout.id} is being driven by {rollout.owner}; "
                "use 'rollsafe rollout pause' or 'abort' to stop it"
            )

    def _context(self, rollout: Rollout) -> StepContext:
        plan = self.plan_of(rollout)
        target = ProcessTarget(plan.target, service=plan.service, home=self.home)
        return StepContext(self.store, rollout.id, plan, target, self.home, self.owner)

    @staticmethod
    def plan_of(rollout: Rollout) -> Plan:
        return load_plan(Path(rollout.plan_path), rollout.plan_text)

    def _drive(self, rollout_id: str, *, resume: bool) -> Rollout:
        rollout = self.store.get_rollout(rollout_id)
        context = self._context(rollout)
        if rollout.state is RolloutState.ROLLING_BACK:
            return self._roll_back(context, rollout.reason or "resumed rollback")
        if rollout.requested == "abort":
            return self._roll_back(context, "abort requested", final=RolloutState.ABORTED)
        if rollout.state is RolloutState.PENDING:
            self._record_baseline(context)
        if rollout.state is RolloutState.PAUSED and not resume:
            return rollout
        if rollout.state is not RolloutState.RUNNING:
            self.store.set_rollout_state(
                rollout_id, RolloutState.RUNNING, actor=self.owner, expected=RESUMABLE
            )
        if rollout.requested == "pause":
            self.store.request(rollout_id, None, actor=self.owner)

        for step_record in self.store.steps(rollout_id):
            if step_record.state is StepState.SUCCEEDED:
                continue
            step = context.plan.steps[step_record.index]
            self.store.set_step_state(
                rollout_id, step_record.index, StepState.RUNNING, actor=self.owner
            )
            outcome = run_step(context, step)
            result = self._finish_step(rollout_id, step_record.index, outcome)
            if result is not None:
                return result
        return self.store.set_rollout_state(
            rollout_id, RolloutState.PROMOTED, actor=self.owner, reason="all steps succeeded"
        )

    def _finish_step(self, rollout_id: str, index: int, outcome: StepOutcome) -> Rollout | None:
        """Record a step's end; returns the rollout when the run stops here."""
        if outcome.status == "succeeded":
            self.store.set_step_state(
                rollout_id, index, StepState.SUCCEEDED, result=outcome.result, actor=self.owner
            )
            if self.store.get_rollout(rollout_id).requested == "pause":
                self.store.request(rollout_id, None, actor=self.owner)
                return self._pause(rollout_id, index + 1, "pause requested")
            return None
        if outcome.status == "paused":
            state = StepState.PENDING if outcome.rerun_on_resume else StepState.SUCCEEDED
            self.store.set_step_state(
                rollout_id, index, state, result=outcome.result, actor=self.owner
            )
            if outcome.rerun_on_resume:
                self.store.request(rollout_id, None, actor=self.owner)
            return self._pause(
                rollout_id, index if outcome.rerun_on_resume else index + 1, outcome.reason
            )
        self.store.set_step_state(
            rollout_id, index, StepState.FAILED, result=outcome.result, actor=self.owner
        )
        context = self._context(self.store.get_rollout(rollout_id))
        final = RolloutState.ABORTED if outcome.status == "aborted" else RolloutState.ROLLED_BACK
        return self._roll_back(context, outcome.reason, final=final)

    def _pause(self, rollout_id: str, next_index: int, reason: str) -> Rollout:
        return self.store.set_rollout_state(
            rollout_id, RolloutState.PAUSED, actor=self.owner, reason=reason, step_index=next_index
        )

    def _roll_back(
        self, context: StepContext, reason: str, *, final: RolloutState = RolloutState.ROLLED_BACK
    ) -> Rollout:
        rollout_id = context.rollout_id
        if self.store.get_rollout(rollout_id).state is not RolloutState.ROLLING_BACK:
            self.store.set_rollout_state(
                rollout_id, RolloutState.ROLLING_BACK, actor=self.owner, reason=reason
            )
        result = roll_back(context, reason)
        if self.store.get_rollout(rollout_id).requested == "abort":
            final = RolloutState.ABORTED
        if not result["ok"]:
            final = RolloutState.FAILED
            reason = f"{reason}; rollback did not complete"
        return self.store.set_rollout_state(rollout_id, final, actor=self.owner, reason=reason)

    def _record_baseline(self, context: StepContext) -> None:
        """What to return to: the live release and the flags as they are before any step."""
        flags = {}
        stored = {record.name: record for record in self.store.list_flags()}
        for flag in context.plan.flags:
            existing = stored.get(flag.name)
            if existing is None:
                # Declared flags start off, so a service reading them sees a definite value.
                existing = self.store.put_flag(
                    flag.name,
                    rollout_feature(flag.name, 0, enabled=False, description=flag.description),
                    actor=self.owner,
                    rollout_id=context.rollout_id,
                )
            flags[flag.name] = existing.version
        context.journal(
            BASELINE_EVENT, {"release": context.target.current_release(), "flags": flags}
        )
