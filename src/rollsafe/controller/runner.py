"""The rollout state machine: run steps in order, journal each one, roll back on failure.

States: pending → running → (paused ⇄ running) → promoted, or
running/paused → rolling_back → rolled_back | aborted | failed.
The store holds the step being run; a controller that dies at any instant is
replaced by one that calls ``run`` again and continues from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.config import Plan, load_plan, read_plan_text
from rollsafe.controller.adapters import Adapters
from rollsafe.controller.budgets import budget_freeze
from rollsafe.controller.caution import assess_plan
from rollsafe.controller.commands import journal_commands
from rollsafe.controller.context import BASELINE_EVENT, StepContext
from rollsafe.controller.drill_records import require_fresh_drill
from rollsafe.controller.frontdoor import FrontDoorWatch
from rollsafe.controller.lease import DEFAULT_TTL, LeaseKeeper, owner_id, owner_is_dead
from rollsafe.controller.monitor import GuardMonitor
from rollsafe.controller.rollback import roll_back
from rollsafe.controller.steps import run_step
from rollsafe.errors import ConflictError, LeaseLostError
from rollsafe.flags import rollout_feature
from rollsafe.journal import JournalEntry, Kind
from rollsafe.journal.payloads import Baseline
from rollsafe.store import JournalFollower, Rollout, RolloutState, StepState, Store

log = logging.getLogger(__name__)

RESUMABLE = {RolloutState.PENDING, RolloutState.RUNNING, RolloutState.PAUSED}
_CHANGES_NOTHING = {"backup", "analysis", "pause", "test"}
"""Step kinds that leave the service as it was: a failure after only these has nothing to undo."""


@dataclass(frozen=True)
class _Stop:
    """Why the steps stopped: paused (resume at ``next_index``) or a final rollback state."""

    state: RolloutState
    reason: str
    next_index: int


class Controller:
    def __init__(
        self,
        store: Store,
        home: Path,
        *,
        owner: str | None = None,
        lease_ttl: float = DEFAULT_TTL,
        adapters: Adapters | None = None,
    ) -> None:
        self.store = store
        self.adapters = adapters or Adapters()
        """The target, metric source, router and notifier factories (fakes in tests)."""
        self.home = home
        self.owner = owner or owner_id()
        self.lease_ttl = lease_ttl

    def create(
        self, plan_path: Path, *, actor: str = "cli", risk_range: str | None = None
    ) -> Rollout:
        """Validate the plan (PlanError, nothing written) and record a pending rollout.

        With a risk range (``risk_range`` or the plan's ``risk.range``) the change is
        scored first and the plan made as careful as its level asks (controller/caution.py).
        """
        text = read_plan_text(plan_path)
        plan = load_plan(plan_path, text)
        require_fresh_drill(self.store, plan)  # DrillRequiredError: refused, nothing written
        assessed = assess_plan(plan_path, text, plan, self.store, risk_range)
        if assessed is not None:
            text, plan = assessed.text, assessed.plan
        rollout = self.store.create_rollout(
            service=plan.service,
            plan_path=str(plan_path.resolve()),
            plan_text=text,
            steps=[(step.kind, step.spec.model_dump(mode="json")) for step in plan.steps],
            actor=actor,
        )
        if assessed is not None:
            assessed.journal(self.store, rollout.id, actor)
        return rollout

    def run(self, rollout_id: str, *, resume: bool = False) -> Rollout:
        """Drive a rollout until it ends or pauses. ``resume`` continues a paused one."""
        rollout = self.store.get_rollout(rollout_id)
        if rollout.state.is_final:
            return rollout
        self._take_lease(rollout)
        with (
            LeaseKeeper(self.store, rollout_id, self.owner, self.lease_ttl) as keeper,
            self._notifying(rollout),
        ):
            try:
                return self._drive(rollout_id, resume=resume, lease_lost=keeper.lost)
            except LeaseLostError as error:
                # The new holder drives the rollout from the store: write nothing more.
                log.warning("%s; stopping", error)
                return self.store.get_rollout(rollout_id)

    def abort(self, rollout_id: str, *, actor: str = "cli") -> Rollout:
        """Ask the owner to abort; with no live owner, roll back here and now."""
        rollout = self.store.request(rollout_id, "abort", actor=actor)
        if rollout.owner and not owner_is_dead(rollout.owner) and rollout.owner != self.owner:
            return rollout
        return self.run(rollout_id)

    def roll_back_to(self, rollout_id: str, level: int, *, actor: str = "cli") -> Rollout:
        """Run every rollback level up to ``level`` now, by hand, with verification.

        Works on a rollout in any state, a promoted one included; one still driven
        by a live controller is refused (abort it, or let it finish, first).
        """
        rollout = self.store.get_rollout(rollout_id)
        self._take_lease(rollout)
        with LeaseKeeper(self.store, rollout_id, self.owner, self.lease_ttl):
            context = self._context(rollout)
            reason = f"rollback to level {level} by hand ({actor})"
            return self._roll_back(context, reason, up_to=level)

    # -- internals --------------------------------------------------------

    @contextmanager
    def _notifying(self, rollout: Rollout) -> Iterator[None]:
        """Send the plan's notifications from the journal, beside (never in front of) the work."""
        notifiers = self.adapters.notifiers(self.plan_of(rollout), self._notify_failed(rollout))
        if not notifiers:
            yield
            return

        def send(entry: JournalEntry) -> None:
            for notifier in notifiers:
                notifier(entry)

        try:
            with JournalFollower(self.store, send, rollout_id=rollout.id):
                yield
        finally:
            for notifier in notifiers:
                notifier.close()

    def _notify_failed(self, rollout: Rollout) -> Callable[[dict[str, Any]], None]:
        """Journal a notification that was not delivered (a notifier's thread calls it)."""

        def journal(data: dict[str, Any]) -> None:
            self.store.append(Kind.NOTIFY_FAILED, data, actor=self.owner, rollout_id=rollout.id)

        return journal

    def _take_lease(self, rollout: Rollout) -> None:
        dead = rollout.owner if rollout.owner and owner_is_dead(rollout.owner) else None
        if not self.store.acquire_lease(
            rollout.id, self.owner, self.lease_ttl, take_over_from=dead
        ):
            raise ConflictError(
                f"rollout {rollout.id} is being driven by {rollout.owner}; "
                "use 'rollsafe rollout pause' or 'abort' to stop it"
            )

    def _context(self, rollout: Rollout, lease_lost: threading.Event | None = None) -> StepContext:
        plan = self.plan_of(rollout)
        target = self.adapters.target(plan, self.home, self.store.address)
        traffic = self.adapters.traffic(plan, self.home, target, self.store, actor=self.owner)
        context = StepContext(
            self.store,
            rollout.id,
            plan,
            target,
            self.home,
            self.owner,
            traffic,
            adapters=self.adapters,
            lease_lost=lease_lost or threading.Event(),
        )
        journal_commands(context)
        return context

    @staticmethod
    def plan_of(rollout: Rollout) -> Plan:
        return load_plan(Path(rollout.plan_path), rollout.plan_text)

    def _drive(self, rollout_id: str, *, resume: bool, lease_lost: threading.Event) -> Rollout:
        rollout = self.store.get_rollout(rollout_id)
        context = self._context(rollout, lease_lost)
        if rollout.state is RolloutState.ROLLING_BACK:
            return self._roll_back(context, rollout.reason or "resumed rollback")
        if rollout.state is RolloutState.PAUSED and not resume and rollout.requested is None:
            return rollout
        if rollout.state is RolloutState.PENDING:
            self._record_baseline(context)
        stop = self._requested_stop(rollout_id, rollout.step_index)
        if stop is not None and stop.state is RolloutState.PAUSED and not resume:
            return self._pause(rollout_id, stop.next_index, stop.reason)  # asked before it ran
        if stop is not None and stop.state is not RolloutState.PAUSED:
            return self._roll_back(context, stop.reason, final=stop.state)
        if (frozen := budget_freeze(context)) is not None:
            return self._pause(rollout_id, 0, frozen)  # before any step: waits for an override
        if rollout.state is not RolloutState.RUNNING:
            self.store.set_rollout_state(
                rollout_id, RolloutState.RUNNING, actor=self.owner, expected=RESUMABLE
            )
        with GuardMonitor(context), FrontDoorWatch(context):
            stop = self._run_steps(context)
        if stop is None:
            return self.store.set_rollout_state(
                rollout_id, RolloutState.PROMOTED, actor=self.owner, reason="all steps succeeded"
            )
        if stop.state is RolloutState.PAUSED:
            return self._pause(rollout_id, stop.next_index, stop.reason)
        if stop.state is RolloutState.FAILED:  # nothing changed yet: nothing to roll back
            return self.store.set_rollout_state(
                rollout_id, RolloutState.FAILED, actor=self.owner, reason=stop.reason
            )
        return self._roll_back(context, stop.reason, final=stop.state)

    def _run_steps(self, context: StepContext) -> _Stop | None:
        """Run the steps not yet succeeded; None when all did, else why the run stops."""
        rollout_id = context.rollout_id
        for record in self.store.steps(rollout_id):
            if record.state is StepState.SUCCEEDED:
                continue
            context.check_lease()
            if (stop := self._requested_stop(rollout_id, record.index)) is not None:
                return stop
            step = context.plan.steps[record.index]
            self.store.set_step_state(rollout_id, record.index, StepState.RUNNING, actor=self.owner)
            outcome = run_step(context, step)
            context.check_lease()  # its outcome is the new holder's to record
            if outcome.status == "succeeded":
                self.store.set_step_state(
                    rollout_id,
                    record.index,
                    StepState.SUCCEEDED,
                    result=outcome.result,
                    actor=self.owner,
                )
                continue
            if outcome.status == "paused":
                rerun = outcome.rerun_on_resume
                state = StepState.PENDING if rerun else StepState.SUCCEEDED
                self.store.set_step_state(
                    rollout_id, record.index, state, result=outcome.result, actor=self.owner
                )
                if rerun:
                    self.store.request(rollout_id, None, actor=self.owner)
                return _Stop(RolloutState.PAUSED, outcome.reason, record.index + (not rerun))
            self.store.set_step_state(
                rollout_id, record.index, StepState.FAILED, result=outcome.result, actor=self.owner
            )
            if step.kind == "backup" and not self._changed_anything(rollout_id, record.index):
                reason = f"{outcome.reason}; nothing was changed yet, so nothing was rolled back"
                return _Stop(RolloutState.FAILED, reason, record.index)
            final = (
                RolloutState.ABORTED if outcome.status == "aborted" else RolloutState.ROLLED_BACK
            )
            return _Stop(final, outcome.reason, record.index)
        return None

    def _changed_anything(self, rollout_id: str, before: int) -> bool:
        """Whether a step before ``before`` that changes the service has run (or started)."""
        return any(
            record.kind not in _CHANGES_NOTHING and record.state is not StepState.PENDING
            for record in self.store.steps(rollout_id)[:before]
        )

    def _requested_stop(self, rollout_id: str, next_index: int) -> _Stop | None:
        """A pause, abort or guard rollback left in the store by another process or thread."""
        rollout = self.store.get_rollout(rollout_id)
        if rollout.requested == "pause":
            self.store.request(rollout_id, None, actor=self.owner)
            return _Stop(RolloutState.PAUSED, "pause requested", next_index)
        if rollout.requested == "abort":
            return _Stop(RolloutState.ABORTED, "abort requested", next_index)
        if rollout.requested == "rollback":
            return _Stop(
                RolloutState.ROLLED_BACK, rollout.reason or "rollback requested", next_index
            )
        return None

    def _pause(self, rollout_id: str, next_index: int, reason: str) -> Rollout:
        return self.store.set_rollout_state(
            rollout_id, RolloutState.PAUSED, actor=self.owner, reason=reason, step_index=next_index
        )

    def _roll_back(
        self,
        context: StepContext,
        reason: str,
        *,
        final: RolloutState = RolloutState.ROLLED_BACK,
        up_to: int | None = None,
    ) -> Rollout:
        rollout_id = context.rollout_id
        if self.store.get_rollout(rollout_id).state is not RolloutState.ROLLING_BACK:
            self.store.set_rollout_state(
                rollout_id, RolloutState.ROLLING_BACK, actor=self.owner, reason=reason
            )
        undo = final is RolloutState.ABORTED or up_to is not None
        result = roll_back(context, reason, undo=undo, up_to=up_to)
        if self.store.get_rollout(rollout_id).requested == "abort":
            final = RolloutState.ABORTED
        if not result["ok"]:
            final = RolloutState.FAILED
            reason = f"{reason}; no rollback level recovered the service"
        else:
            reason = f"{reason}; recovered by {result['recovered_by']}"
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
        baseline = Baseline(release=context.target.current_release(), flags=flags)
        context.journal(BASELINE_EVENT, baseline)
