"""Guards watch the service for the whole rollout, from a thread beside the steps.

Each interval the monitor scrapes both arms and, when a guard needs it, probes
instance health; it journals what the guards report. A tripped guard leaves a
``rollback`` request in the store (with its reason), which the step running
sees within a second, and which a controller resuming after a crash finds too.
Guards that have had no data for ``analysis.blind_after`` leave what
``analysis.on_blind`` says (pause or rollback) the same way (controller.blindness).
"""

from __future__ import annotations

import threading
import time
from contextlib import closing

from rollsafe.controller.blindness import BLIND_EVENT, Blindness
from rollsafe.controller.context import StepContext
from rollsafe.errors import MetricsError, RollsafeError
from rollsafe.guards import GuardEvaluator, GuardEvent
from rollsafe.journal.kinds import Kind, guard_kind
from rollsafe.slo import BurnRateEvaluator, slo_evaluators


class GuardMonitor:
    def __init__(self, context: StepContext, *, interval: float | None = None) -> None:
        self.context = context
        self.interval = interval or context.plan.analysis.interval
        self.tripped: GuardEvent | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guards", daemon=True)

    def __enter__(self) -> GuardMonitor:
        if self.context.plan.guards or slo_evaluators(self.context.plan.slos):
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        context = self.context
        evaluators: list[GuardEvaluator | BurnRateEvaluator] = [
            GuardEvaluator(context.plan.guards),
            *slo_evaluators(context.plan.slos),
        ]
        needs_health = any(guard.metric == "health" for guard in context.plan.guards)
        config = context.plan.analysis
        blindness = Blindness("guards", config.blind_after, config.on_blind)
        started = time.monotonic()
        metrics_down = False
        with closing(context.adapters.source(context.plan, context.target)) as source:
            while not self._stop.wait(self.interval):
                t = round(time.monotonic() - started, 3)
                try:
                    observations = source.observe(t)
                    if metrics_down:
                        context.journal(Kind.GUARD_METRICS_RESTORED, {"t": t})
                    metrics_down = False
                    blindness.saw()
                except MetricsError as error:
                    # Guards cannot fire on evidence they do not have; say so once per outage.
                    if not metrics_down:
                        context.journal(
                            Kind.GUARD_METRICS_UNAVAILABLE, {"t": t, "error": str(error)}
                        )
                    metrics_down, observations = True, []
                    if blindness.missed(t):
                        self._blind(blindness, t, str(error))
                failing = _failing_instances(context) if needs_health else None
                for event in [e for ev in evaluators for e in ev.update(t, observations, failing)]:
                    context.journal(guard_kind(event.kind), event.to_dict())
                    if event.trips and self.tripped is None:
                        self.tripped = event
                        self._request_rollback(event)
                if self.tripped is not None:
                    return

    def _blind(self, blindness: Blindness, t: float, error: str) -> None:
        """Journal the blindness and ask for ``on_blind``, unless a request is pending."""
        context = self.context
        context.journal(BLIND_EVENT, blindness.entry(t, error))
        if context.requested() is not None:
            return  # a pause, abort or guard's rollback already asked for: keep it
        try:
            context.store.request(
                context.rollout_id,
                blindness.action,
                actor="guards:blind",
                reason=blindness.reason(t, error),
            )
        except RollsafeError as refused:  # already final
            context.journal(Kind.GUARD_REQUEST_REFUSED, {"guard": "blind", "error": str(refused)})

    def _request_rollback(self, event: GuardEvent) -> None:
        reason = f"guard {event.guard} ({event.severity}) tripped: {event.summary}"
        try:
            self.context.store.request(
                self.context.rollout_id, "rollback", actor=f"guard:{event.guard}", reason=reason
            )
        except RollsafeError as error:  # already final: nothing left to roll back
            self.context.journal(
                Kind.GUARD_REQUEST_REFUSED, {"guard": event.guard, "error": str(error)}
            )


def _failing_instances(context: StepContext) -> int | None:
    try:
        report = context.target.check_health()
    except RollsafeError:
        return None
    return report.expected - report.healthy_count
