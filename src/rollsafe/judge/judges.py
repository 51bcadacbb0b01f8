"""The judge: observations of two arms in, a verdict with its evidence out, after every look.

docs/judge.md states the semantics; in short: only a worse canary fails, a pass
needs evidence (or, at the end of a step, enough traffic and no sign of a
regression), and missing evidence is inconclusive, never a pass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from operator import call
from typing import Any, Literal

from rollsafe.config.analysis import AnalysisConfig, HistogramMetric, RatioMetric, SlopeMetric
from rollsafe.judge.arms import ArmCounters
from rollsafe.judge.checks import Check, Levels, alpha_shares, e_value
from rollsafe.judge.growth import SlopeCheck
from rollsafe.judge.latency import HistogramCheck
from rollsafe.judge.noninferiority import EarlyPassEvidence
from rollsafe.judge.noninferiority import evaluate as early_pass_evidence
from rollsafe.judge.ratios import CeilingCheck, RatioCheck
from rollsafe.judge.reference import RateReference
from rollsafe.judge.verdicts import (
    MetricVerdict,
    Outcome,
    Verdict,
)

Mode = Literal["compare", "health"]
ARMS = ("canary", "baseline")
_LATENCY = "latency_seconds_bucket"
_DEFAULT_FIELDS = ("requests", "errors", _LATENCY, "memory_bytes")
_CEILING = "error_rate_ceiling"
_SETTLED = "not enough evidence yet"


class Judge:
    """Sequential canary judge; feed it observations with :meth:`update`.

    ``mode="compare"`` judges the ``canary`` arm against the ``baseline`` arm
    (observations of other arms are ignored) and the canary's error rate against
    ``config.max_error_rate``. ``mode="health"`` pools every arm and judges the
    error rate against ``max_error_rate`` only, or, given a ``reference`` (the
    baseline's error counts from earlier compare steps, ``rollsafe.judge.reference``)
    that lowers it, against the ceiling the reference implies.

    In compare mode a look is complete when both arms have reported since the
    previous one; the controller sends one observation per arm per look. A
    final verdict (fail, or pass) is sticky: later observations do not change it.
    """

    def __init__(
        self,
        config: AnalysisConfig | None = None,
        *,
        mode: Mode = "compare",
        reference: RateReference | None = None,
    ) -> None:
        if mode not in ("compare", "health"):
            raise ValueError(f"mode must be 'compare' or 'health', got {mode!r}")
        if reference is not None and mode != "health":
            raise ValueError("a reference is for health mode: compare mode has its baseline")
        self.config = config if config is not None else AnalysisConfig()
        if reference is not None and reference.applied and reference.alpha >= self.config.alpha:
            raise ValueError(
                f"the reference's alpha {reference.alpha:g} leaves none of alpha "
                f"{self.config.alpha:g} for the test"
            )
        self.mode: Mode = mode
        self.reference = reference
        """The reference given, applied only where it lowers the ceiling (``reference.applied``)."""
        self._arms: dict[str, ArmCounters] = {}
        self._pair: tuple[ArmCounters, ArmCounters] | None = None
        """Compare mode: the canary's and the baseline's counters, once both are in _arms."""
        self._checks: list[Check] = []
        self._ratios: list[tuple[RatioCheck, str, str]] = []
        self._ceiling_ratios: set[RatioCheck] = set()
        """The ratio checks counting the ceiling's counters: they take the ceiling's reads."""
        self._ceiling: tuple[CeilingCheck, str, str] | None = None
        self._histograms: list[tuple[HistogramCheck, str]] = []
        self._slopes: list[tuple[SlopeCheck, str]] = []
        self._counter_fields: tuple[str, ...] = ()
        self._histogram_fields: tuple[str, ...] = ()
        self._gauge_fields: tuple[str, ...] = ()
        self._traffic_field: str | None = None
        self._traffic_is_ceiling_denominator = False
        self._traffic: dict[str, float] = dict.fromkeys(ARMS, 0.0)
        self._resolved = False
        self._levels = Levels(self.config.alpha, 1)
        """The pass side's levels (``1/alpha`` for every check)."""
        self._check_levels: list[Levels] = []
        """Each check's levels: its share of alpha for failing (checks.ALPHA_WEIGHTS)."""
        self._fail_levels: list[tuple[Check, Levels]] = []
        """Each check with its levels, paired once for the look's fail loop."""
        self._snapshots: list[Callable[[], Any]] = []
        """Each check's bound :meth:`~Check.snapshot`, for a look's verdict."""
        self._looks = 0
        self._next_pass_look = 0
        self._next_early_look = 0
        self._early_blocked: tuple[SlopeCheck, int] | None = None
        """The memory check that blocked the last early pass, with its ``changes`` then."""
        self._t0: float | None = None
        """``t`` of the first complete look: the early pass's ``min_duration`` counts from it."""
        self._t: float | None = None
        self._ignored_arms: set[str] = set()
        self._pending: dict[str, Mapping[str, Any]] = {}
        """Compare mode, default metrics: each arm's first observation, kept until the
        metrics are chosen (:meth:`_resolve_when_ready`), then replayed as its reference."""
        self._pending_fields: set[str] = set()
        self._pending_traffic = False
        self._warm_from: float | None = None
        """Latency counts from this look on (the warm-up after the start or a restart)."""
        self._resets = 0
        self._settled = False
        """The waiting reason settled on "not enough evidence yet" (see _look_reason)."""
        self._verdict = Verdict(
            "inconclusive", decided_at=None, t=None, looks=0, reason="no observations yet"
        )
        self._final: Verdict | None = None
        if self.config.metrics is not None:
            self._resolve(None)

    @property
    def error_ceiling(self) -> float:
        """The error rate the ceiling check holds the canary (health mode: all arms) to."""
        reference = self.reference
        if reference is not None and reference.applied:
            return reference.ceiling
        return self.config.max_error_rate

    @property
    def verdict(self) -> Verdict:
        """The verdict after the last complete look (or the final one)."""
        return self._final or self._verdict

    def update(self, observation: Mapping[str, Any]) -> Verdict:
        """Take one observation of one arm; return the verdict after it."""
        if self._final is not None:
            return self._final
        try:  # _time_and_arm's common case, inline: this runs for every observation
            t, arm = observation["t"], observation["arm"]
            if not (t.__class__ is float and t - t == 0 and arm.__class__ is str and arm):
                t, arm = _time_and_arm(observation)
        except (KeyError, TypeError):
            t, arm = _time_and_arm(observation)
        self._t = t
        if not self._resolved and not self._resolve_when_ready(observation, arm):
            return self._verdict
        counters = self._arms.get(arm)
        if counters is None:  # compare mode keeps only the canary and the baseline
            if self.mode == "compare" and arm not in ARMS:
                self._ignore(arm)
                return self._verdict
            counters = self._arms[arm] = ArmCounters()
        # ArmCounters.observe, its dispatch inline: this runs for every observation.
        fields = self._counter_fields
        histograms, gauges = self._histogram_fields, self._gauge_fields
        if not (
            counters.looks == 0
            and counters.seen
            and counters.observe_taken(observation, t, fields, histograms, gauges)
        ):
            counters.observe_general(observation, t, fields, histograms, gauges)
        pair = self._pair
        if pair is None:
            if self.mode == "health":
                return self._health_look(counters, t)
            arms = self._arms
            if len(arms) < 2:
                return self._verdict
            pair = self._pair = (arms["canary"], arms["baseline"])
        canary, baseline = pair
        if not canary.looks or not baseline.looks:
            return self._verdict
        return self._compare_look(canary, baseline, t)

    # -- looks ---------------------------------------------------------------

    def _compare_look(self, canary: ArmCounters, baseline: ArmCounters, t: float) -> Verdict:
        if self._t0 is None:
            self._t0 = t
        resets = canary.resets + baseline.resets
        if self._warm_from is None or resets != self._resets:
            self._warm_from, self._resets = t + self.config.warmup, resets
        warm = t >= self._warm_from
        counts_c, hist_c, gauges_c = canary.take()
        counts_b, hist_b, gauges_b = baseline.take()
        get_c, get_b = counts_c.get, counts_b.get
        # The ceiling's counters, read once: the error-rate test and the traffic use them too.
        n_c = n_b = x_c = x_b = 0.0
        if self._ceiling is not None:
            ceiling, numerator, denominator = self._ceiling
            n_c, n_b = get_c(denominator, 0.0), get_b(denominator, 0.0)
            x_c, x_b = get_c(numerator, 0.0), get_b(numerator, 0.0)
            ceiling.update(n_c, x_c, n_b, x_b)
        for ratio, numerator, denominator in self._ratios:
            if ratio in self._ceiling_ratios:
                ratio.update(n_c, n_b, x_c, x_b)
            else:
                ratio.update(
                    get_c(denominator, 0.0),
                    get_b(denominator, 0.0),
                    get_c(numerator, 0.0),
                    get_b(numerator, 0.0),
                )
        for histogram, name in self._histograms:
            delta_c, delta_b = hist_c.get(name), hist_b.get(name)
            if not histogram.bounds:
                layout_c, layout_b = canary.histograms.get(name), baseline.histograms.get(name)
                if layout_c is not None and layout_c == layout_b:
                    histogram.start(layout_c)
            if delta_c is not None and delta_b is not None and warm:
                histogram.update(delta_c, delta_b)
        for slope, name in self._slopes:
            reading_c, reading_b = gauges_c.get(name), gauges_b.get(name)
            if reading_c is not None and reading_b is not None:
                slope.update(max(reading_c[0], reading_b[0]), reading_c[1], reading_b[1])
        field = self._traffic_field
        if field is not None:
            traffic = self._traffic
            if self._traffic_is_ceiling_denominator:
                traffic["canary"] += n_c
                traffic["baseline"] += n_b
            else:
                traffic["canary"] += _traffic(counts_c, hist_c, field)
                traffic["baseline"] += _traffic(counts_b, hist_b, field)
        self._looks += 1
        return self._judge(t)

    def _health_look(self, counters: ArmCounters, t: float) -> Verdict:
        counts, hist, _gauges = counters.take()
        if self._ceiling is not None:
            ceiling, numerator, denominator = self._ceiling
            ceiling.update(counts.get(denominator, 0.0), counts.get(numerator, 0.0))
        if self._traffic_field is not None:
            self._traffic["canary"] += _traffic(counts, hist, self._traffic_field)
        self._looks += 1
        return self._judge(t)

    def _judge(self, t: float) -> Verdict:
        levels, checks = self._levels, self._checks
        states: dict[str, Outcome] = {}
        for check, check_levels in self._fail_levels:
            if check.fails(check_levels):
                states[check.name] = "fail"
        if states:
            failed = ", ".join(states)
            return self._decide("fail", t, f"failed: {failed}", states, "sequential")
        if self.mode == "compare" and self._looks >= self._next_early_look:
            blocked = self._early_blocked
            if blocked is not None and blocked[0].changes == blocked[1]:
                # Still blocked by the same memory evidence: _early_pass would find so again.
                self._next_early_look = self._looks + 1 + self._looks // 50
            else:
                early = self._early_pass(t)
                if early is not None:
                    return early
        if checks and self._looks >= self._next_pass_look and self._traffic_short() is None:
            for check in checks:
                if not check.passes(levels):
                    break
                states[check.name] = "pass"
            else:
                return self._decide("pass", t, "passed: every metric shown not worse", states)
            # Evidence for a pass grows slowly; look for it again 5 looks or 2% later.
            # (Checking less often can only delay a pass, never make one.)
            self._next_pass_look = self._looks + 5 + self._looks // 50
        reason = _SETTLED if self._settled else self._look_reason()
        # The checks' state now, for the metrics whenever they are built: a caller may hold
        # this verdict across later looks (the controller keeps the last one), so it reads
        # the evidence of its own look. Snapshots are references to immutable state.
        self._verdict = Verdict(
            "inconclusive",
            decided_at=None,
            t=t,
            looks=self._looks,
            reason=reason,
            metrics=self._snapshot(states, {}),
        )
        return self._verdict

    def _early_pass(self, t: float) -> Verdict | None:
        """A pass on non-inferiority evidence before the step's duration, or None."""
        config = self.config
        if not config.early_pass.enabled or self._t0 is None:
            return None
        levels = self._levels
        evidence: EarlyPassEvidence | None = None
        # The memory comparison is the early pass's first and is cached evidence: while
        # it has not passed, the answer is None without the rest of the evaluation.
        self._early_blocked = None
        for slope, _ in self._slopes:
            if not slope.has_data() or not slope.passes(levels):
                self._early_blocked = (slope, slope.changes)
                break
        else:
            evidence = early_pass_evidence(
                self._checks, config, levels, t, t - self._t0, dict(self._traffic)
            )
        if evidence is None:
            # Look again a look later, or 2% of the looks so far: a pass can only be delayed
            # (by at most 2% of the step), and the bisections stay off most looks.
            self._next_early_look = self._looks + 1 + self._looks // 50
            return None
        states: dict[str, Outcome] = {check.name: "pass" for check in self._checks}
        return self._decide(
            "pass", t, evidence.summary(), states, "sequential", early=evidence.to_dict()
        )

    def _look_reason(self) -> str:
        """:meth:`_waiting_reason` after a look, without recomputing it once it settled.

        Once both arms report, looks were taken and traffic reached ``min_requests``,
        the reason stays "not enough evidence yet": traffic only grows, arms and
        looks are never lost.
        """
        if self._settled:
            return _SETTLED
        reason = self._waiting_reason()
        self._settled = reason == _SETTLED
        return reason

    def _decide(
        self,
        outcome: Outcome,
        t: float | None,
        reason: str,
        states: dict[str, Outcome],
        basis: Literal["sequential", "duration"] = "sequential",
        notes: dict[str, str] | None = None,
        early: dict[str, Any] | None = None,
    ) -> Verdict:
        self._final = Verdict(
            outcome,
            decided_at=t,
            t=self._t,
            looks=self._looks,
            reason=reason,
            basis=basis,
            metrics=self._snapshot(states, notes or {}),
            early_pass=early,
        )
        return self._final

    # -- end of a step -------------------------------------------------------

    def conclude(self, *, final: bool = True) -> Verdict:
        """The final verdict when an analysis step's duration ends.

        ``final=False`` previews it: the verdict the step would end with now, while
        the judge stays open to more looks (an analysis step extended past its
        duration asks this after every look; see ``AnalysisConfig.extend``).

        A verdict already final stays. Otherwise: pass only if there are metrics,
        every metric has data, each arm (health mode: all arms together) reached
        ``min_requests``, no metric's e-value against the canary has reached
        ``config.conclude_max_e`` and the canary's observed error rate is within
        ``max_error_rate``. Anything else is inconclusive.
        """
        if self._final is not None:
            return self._final
        states: dict[str, Outcome] = {}
        notes: dict[str, str] = {}
        short = self._traffic_short()
        warn = self.config.conclude_max_e
        for check in self._checks:
            if not check.has_data():
                notes[check.name] = "no data by the end of the step"
            elif check.log_evidence() >= math.log(warn):
                notes[check.name] = (
                    f"e={e_value(check.log_evidence()):.3g} at the end of the step leans towards "
                    f"a regression (conclude_max_e {warn:g}), though short of failing"
                )
            elif isinstance(check, CeilingCheck) and check.above_limit():
                notes[check.name] = "observed error rate above the ceiling at the end of the step"
            elif short is not None and check.kind != "slope":
                notes[check.name] = short
            else:
                states[check.name] = "pass"
                notes[check.name] = "no evidence of a regression by the end of the step"
                continue
            states[check.name] = "inconclusive"
        problems = [f"{name}: {notes[name]}" for name, s in states.items() if s != "pass"]
        if not self._checks or (
            self.mode == "compare" and any(arm not in self._arms for arm in ARMS)
        ):
            problems.insert(0, self._waiting_reason())
        elif short is not None and short not in " ".join(problems):
            problems.append(short)
        if problems:
            reason = "inconclusive at the end of the step: " + "; ".join(problems)
            ended = self._decide("inconclusive", self._t, reason, states, "duration", notes)
        else:
            reason = "passed at the end of the step: enough traffic and no evidence of a regression"
            ended = self._decide("pass", self._t, reason, states, "duration", notes)
        if not final:
            self._final = None
        return ended

    # -- helpers -------------------------------------------------------------

    def _traffic_short(self) -> str | None:
        """Why traffic is too low to pass, or None when it is enough."""
        field = self._traffic_field
        if field is None:
            return None
        need = self.config.min_requests
        if self.mode == "health":
            total = self._traffic["canary"]
            if total >= need:
                return None
            return f"too little traffic: {total:g} {field} in all arms < min_requests {need}"
        low = [f"{arm} {self._traffic[arm]:g}" for arm in ARMS if self._traffic[arm] < need]
        if not low:
            return None
        return f"too little traffic: {', '.join(low)} {field} < min_requests {need}"

    def _waiting_reason(self) -> str:
        if self._resolved and not self._checks:
            return "no metrics to judge in the observed fields"
        arms = self._arms if self._resolved else self._pending
        if self.mode == "compare" and (self._resolved or arms or self._ignored_arms):
            missing = [arm for arm in ARMS if arm not in arms]
            if missing:
                ignored = ", ".join(sorted(self._ignored_arms))
                other = f" (ignored arms: {ignored})" if ignored else ""
                return f"waiting for observations of {', '.join(missing)}{other}"
        if not self._resolved:
            if self._pending:
                return "no request observed yet in either arm"
            return "no metric fields observed yet"
        if not self._looks:
            return "waiting for a second look (the first is the reference)"
        short = self._traffic_short()
        if short is not None:
            return short
        return _SETTLED

    def _snapshot(
        self, states: dict[str, Outcome], notes: dict[str, str]
    ) -> Callable[[], list[MetricVerdict]]:
        """The metrics as the checks stand now, built when asked for."""
        snapshots = list(map(call, self._snapshots))
        return partial(_metrics, self._checks, self._check_levels, snapshots, states, notes)

    def _ignore(self, arm: str) -> None:
        if len(self._ignored_arms) < 10:  # named in the reason; bounded
            self._ignored_arms.add(arm)

    def _resolve_when_ready(self, observation: Mapping[str, Any], arm: str) -> bool:
        """Choose the default metrics once the observations show which apply; True when chosen.

        Health mode chooses at the first observation (it judges the error rate only).
        Compare mode waits for both arms and chooses from the fields either has shown,
        and while no request has been seen, for the first one: a histogram's series (or
        a Prometheus query over it) is absent until its first request, and a canary
        that has had none yet must not leave latency unjudged for the whole analysis.
        """
        if not any(name in observation for name in _DEFAULT_FIELDS):
            return False
        if self.mode == "health":
            self._resolve(observation)
            return True
        if arm not in ARMS:
            self._ignore(arm)
            return False
        pending = self._pending
        first = arm not in pending
        if first:
            pending[arm] = observation
        fields = self._pending_fields
        fields.update(name for name in _DEFAULT_FIELDS if name in observation)
        requests = observation.get("requests")
        if isinstance(requests, int | float) and requests > 0:
            self._pending_traffic = True
        if len(pending) < len(ARMS):
            return False
        if "requests" in fields and _LATENCY not in fields and not self._pending_traffic:
            return False
        self._resolve(dict.fromkeys(fields))
        self._pending = {}
        for reference_arm, reference in pending.items():
            if reference_arm != arm or not first:  # this observation comes next anyway
                self.update(reference)
        return True

    def _resolve(self, observation: Mapping[str, Any] | None) -> None:
        """Choose the checks: the configured metrics, or defaults for the fields observed."""
        config = self.config
        reference = self.reference if self.reference and self.reference.applied else None
        metrics = config.metrics
        if metrics is None:
            fields = observation or {}
            defaults: list[RatioMetric | HistogramMetric | SlopeMetric] = []
            if "requests" in fields:
                defaults.append(RatioMetric())
            if _LATENCY in fields:
                defaults.append(HistogramMetric())
            if "memory_bytes" in fields:
                defaults.append(SlopeMetric())
            metrics = defaults
        counters: list[str] = []
        ratios = [m for m in metrics if isinstance(m, RatioMetric)]
        numerator, denominator = (
            (ratios[0].numerator, ratios[0].denominator) if ratios else ("errors", "requests")
        )
        uses_requests = bool(ratios) or (observation is not None and "requests" in observation)
        if self.mode == "compare":
            for metric in metrics:
                if isinstance(metric, RatioMetric):
                    check = RatioCheck(metric)
                    self._ratios.append((check, metric.numerator, metric.denominator))
                    counters += [metric.numerator, metric.denominator]
                elif isinstance(metric, HistogramMetric):
                    self._histograms.append((HistogramCheck(metric), metric.field))
                else:
                    self._slopes.append((SlopeCheck(metric), metric.field))
        if uses_requests or self.mode == "health":
            arm = "canary" if self.mode == "compare" else "all"
            basis = f"from {reference.describe()}" if reference else ""
            ceiling = CeilingCheck(_CEILING, self.error_ceiling, arm, denominator, basis)
            self._ceiling = (ceiling, numerator, denominator)
            counters += [numerator, denominator]
        self._counter_fields = tuple(dict.fromkeys(counters))
        self._histogram_fields = tuple(h for _, h in self._histograms)
        self._gauge_fields = tuple(g for _, g in self._slopes)
        if self._ceiling is not None:
            self._traffic_field = self._ceiling[2]
            # _traffic() would read the same counter (a histogram of that name comes first).
            self._traffic_is_ceiling_denominator = self._ceiling[2] not in self._histogram_fields
        elif self._histograms:
            self._traffic_field = self._histograms[0][1]
        # Order for the pass check: the likeliest to block a pass first.
        self._checks = [s for s, _ in self._slopes]
        self._checks += [self._ceiling[0]] if self._ceiling is not None else []
        self._checks += [r for r, _, _ in self._ratios] + [h for h, _ in self._histograms]
        tests = len(self._checks)
        self._levels = Levels(config.alpha, tests)
        shares = alpha_shares([check.kind for check in self._checks])
        # An applied reference spent part of alpha on its bound: the tests share the rest.
        alpha = config.alpha - (reference.alpha if reference else 0.0)
        self._check_levels = [Levels(alpha, tests, share) for share in shares]
        self._fail_levels = list(zip(self._checks, self._check_levels, strict=True))
        if self._ceiling is not None:
            counts = self._ceiling[1:]
            self._ceiling_ratios = {r for r, *fields in self._ratios if tuple(fields) == counts}
        self._snapshots = [check.snapshot for check in self._checks]
        self._arms.clear()  # the observation that resolved the metrics is everyone's reference
        self._pair = None
        self._resolved = True


def _metrics(
    checks: list[Check],
    check_levels: list[Levels],
    snapshots: list[Any],
    states: dict[str, Outcome],
    notes: dict[str, str],
) -> list[MetricVerdict]:
    metrics = []
    for check, levels, snapshot in zip(checks, check_levels, snapshots, strict=True):
        state = states.get(check.name, "inconclusive")
        metric = check.describe(snapshot, levels, state)
        note = notes.get(check.name)
        if note:
            metric = dataclasses.replace(metric, reason=f"{metric.reason}; {note}")
        metrics.append(metric)
    return metrics


def _traffic(counts: dict[str, float], histograms: dict[str, list[float]], field: str) -> float:
    if field in histograms:
        return histograms[field][-1]
    return counts.get(field, 0.0)


def _time_and_arm(observation: Mapping[str, Any]) -> tuple[float, str]:
    try:
        t, arm = observation["t"], observation["arm"]
        if t.__class__ is float and t - t == 0 and arm.__class__ is str and arm:
            return t, arm  # the common case, checked cheaply
    except (KeyError, TypeError):
        pass
    if not isinstance(observation, Mapping):
        raise ValueError(f"an observation must be a mapping, got {type(observation).__name__}")
    t, arm = observation.get("t"), observation.get("arm")
    # A huge int (JSON allows 10**400) is no finite float either: float() overflows.
    if isinstance(t, bool) or not isinstance(t, int | float) or not _finite(t):
        raise ValueError(f"an observation needs a finite number 't', got {_short(t)}")
    if not isinstance(arm, str) or not arm:
        raise ValueError(f"an observation needs an 'arm' name, got {_short(arm)}")
    return float(t), arm


def check_observation(observation: Any) -> None:
    """Raise ValueError saying why ``observation`` cannot be judged (its ``t`` or ``arm``)."""
    _time_and_arm(observation)


def _finite(number: int | float) -> bool:
    # int | float, not float: a compiled judge converts a float argument on the call, where
    # an int too large for a float would raise TypeError outside this try.
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _short(value: Any) -> str:
    """A value for a message, cut short: a fuzzed file may hold a megabyte on one line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def replay(
    observations: Iterable[Mapping[str, Any]],
    config: AnalysisConfig | None = None,
    *,
    mode: Mode = "compare",
    conclude: bool = False,
) -> Verdict:
    """Feed ``observations`` in order, looking after each; stop at a final verdict.

    With ``conclude=True`` an undecided verdict at the end gets the end-of-step
    rule of :meth:`Judge.conclude`; otherwise it stays inconclusive.
    """
    judge = Judge(config, mode=mode)
    verdict = judge.verdict
    for observation in observations:
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            return verdict
    return judge.conclude() if conclude else verdict
