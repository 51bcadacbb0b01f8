"""The error-budget policy: a new rollout of a service short of budget waits for an override.

Before a rollout's first step (and again whenever it is resumed before any step
has run), when its plan's ``slos.budget.floor`` is above 0, the controller reads
each objective's remaining budget (:mod:`rollsafe.slo.budget`) and journals it
(``slo.budget_checked``). If one is below the floor, or cannot be read and
``on_unknown`` is ``wait``, the rollout is paused before its first step
(``slo.budget_frozen``, with the reason) and stays so until someone runs
``rollsafe rollout override ID --reason ...``, which journals
``slo.budget_override`` with its actor and resumes it.

Only starting is gated. A rollout that has begun is never stopped by this
policy, and rolling back (an abort of a frozen rollout, a guard's rollback, a
rollback by hand) never reads a budget: rollback depends on nothing that may be
broken, Prometheus included.
"""

from __future__ import annotations

from rollsafe.controller.context import StepContext
from rollsafe.errors import ConflictError
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import BudgetChecked, BudgetFrozen, BudgetOverride
from rollsafe.slo.budget import Budget, remaining_budgets
from rollsafe.store import Rollout, StepState, Store


def budget_freeze(context: StepContext) -> str | None:
    """Why the rollout must wait before its first step, or None when it may start."""
    plan = context.plan
    slos = plan.slos
    if slos is None or slos.budget.floor <= 0 or not slos.objectives:
        return None
    steps = context.store.steps(context.rollout_id)
    if any(step.attempts or step.state is not StepState.PENDING for step in steps):
        return None  # begun already: the policy gates starts only
    if overridden(context.store, context.rollout_id):
        return None
    floor = slos.budget.floor
    budgets = remaining_budgets(slos, plan.metrics)
    checked: BudgetChecked = {"floor": floor, "budgets": [b.to_dict() for b in budgets]}
    context.journal(Kind.SLO_BUDGET_CHECKED, checked)
    low = [b for b in budgets if b.remaining is not None and b.remaining < floor]
    unknown = [b for b in budgets if b.remaining is None]
    if not low and not (unknown and slos.budget.on_unknown == "wait"):
        return None
    reason = _reason(low, unknown if slos.budget.on_unknown == "wait" else [], floor)
    reason += f"; to start anyway: rollsafe rollout override {context.rollout_id} --reason ..."
    frozen: BudgetFrozen = {
        "floor": floor,
        "reason": reason,
        "below_floor": [b.slo for b in low],
        "unknown": [b.slo for b in unknown],
    }
    context.journal(Kind.SLO_BUDGET_FROZEN, frozen)
    return reason


def overridden(store: Store, rollout_id: str) -> bool:
    return any(entry.kind == Kind.SLO_BUDGET_OVERRIDE for entry in store.journal(rollout_id))


def override(store: Store, rollout_id: str, *, actor: str, reason: str) -> Rollout:
    """Journal that ``actor`` lets the rollout start despite the budget; the rollout."""
    rollout = store.get_rollout(rollout_id)
    if rollout.state.is_final:
        raise ConflictError(f"rollout {rollout_id} is already {rollout.state}; nothing to override")
    data: BudgetOverride = {"reason": reason, "state": str(rollout.state)}
    store.append(Kind.SLO_BUDGET_OVERRIDE, data, actor=actor, rollout_id=rollout_id)
    return rollout


def _reason(low: list[Budget], unknown: list[Budget], floor: float) -> str:
    parts = [
        f"{b.slo} has {b.remaining:.1%} of its error budget left, below the floor {floor:.0%}"
        for b in low
        if b.remaining is not None
    ]
    parts += [f"{b.slo}'s error budget is unknown ({b.error})" for b in unknown]
    return "error budget freeze: " + "; ".join(parts)
