"""Risk-based caution: score the change a rollout ships and make its plan more careful.

When a rollout is created with a risk range (``rollout start --risk-range`` or the
plan's ``risk.range``), the range is scored (`rollsafe.gates.assessment`) before
anything is written; a bad range refuses the rollout and changes nothing. The
caution the plan's ``risk.caution`` names for the level then rewrites the steps:

- ``max_increment``: a flag's rollout or a canary's weight rises by at most this
  much per step; each step inserted is followed by a copy of the analysis step
  that followed the original, so every smaller step is watched as long;
- ``analysis_factor``: analysis steps and timed pauses last that many times longer;
- ``approval``: a ``pause:`` that waits for ``rollsafe rollout resume`` goes before
  the first step that changes what users get.

The rollout stores the rewritten plan (its text begins with a comment saying so)
and the journal records the score (``risk.scored``, with the files the range
touched: the link `rollsafe.gates.history` uses later) and every change made
(``risk.caution_applied``), so the caution is visible and replayable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rollsafe.config import Plan, load_plan
from rollsafe.config.risk import Caution, RiskConfig
from rollsafe.config.types import parse_duration
from rollsafe.gates.assessment import assess_range
from rollsafe.gates.risk import RiskScore
from rollsafe.journal.kinds import Kind
from rollsafe.store import Store

_CHANGES_TRAFFIC = ("deploy", "canary", "flag")


@dataclass(frozen=True)
class Assessed:
    score: RiskScore
    level: str
    changes: list[str]
    text: str
    plan: Plan

    def journal(self, store: Store, rollout_id: str, actor: str) -> None:
        store.append(Kind.RISK_SCORED, self.score.to_dict(), actor=actor, rollout_id=rollout_id)
        if self.changes:
            store.append(
                Kind.RISK_CAUTION_APPLIED,
                {"level": self.level, "changes": self.changes},
                actor=actor,
                rollout_id=rollout_id,
            )


def assess_plan(
    plan_path: Path, text: str, plan: Plan, store: Store, risk_range: str | None
) -> Assessed | None:
    """Score the plan's change and apply its caution; None when no range is given."""
    config = plan.risk or RiskConfig()
    span = risk_range or config.range
    if span is None:
        return None
    base = plan_path.resolve().parent
    score = assess_range(
        base / config.repo,
        span,
        critical_paths=config.critical_paths,
        coverage=base / config.coverage if config.coverage is not None else None,
        weights=config.weights,
        journal=store.journal(),
    )
    caution = config.caution.get(score.level)  # type: ignore[call-overload]
    if caution is None:
        return Assessed(score, score.level, [], text, plan)
    data = yaml.safe_load(text)
    steps, changes = cautious_steps(data["steps"], caution)
    if not changes:
        return Assessed(score, score.level, [], text, plan)
    data["steps"] = steps
    header = (
        f"# rollsafe: steps made more careful for risk {score.score}/100 ({score.level}) "
        f"of {span}:\n" + "".join(f"#   {change}\n" for change in changes)
    )
    new_text = header + yaml.safe_dump(data, sort_keys=False)
    return Assessed(score, score.level, changes, new_text, load_plan(plan_path, new_text))


def cautious_steps(
    steps: list[dict[str, Any]], caution: Caution
) -> tuple[list[dict[str, Any]], list[str]]:
    """The plan's raw step list made more careful, and each change in words."""
    changes: list[str] = []
    out: list[dict[str, Any]] = []
    last_flag: dict[str, float] = {}
    last_weight = 0.0
    for index, step in enumerate(steps):
        kind, spec = next(iter(step.items()))
        spec = dict(spec or {})
        if kind == "analysis" and caution.analysis_factor != 1:
            before = parse_duration(spec["duration"])
            spec["duration"] = f"{before * caution.analysis_factor:g}s"
            changes.append(f"step {index + 1} analysis: {before:g}s -> {spec['duration']}")
        if kind == "pause" and spec.get("duration") is not None and caution.analysis_factor != 1:
            before = parse_duration(spec["duration"])
            spec["duration"] = f"{before * caution.analysis_factor:g}s"
            changes.append(f"step {index + 1} pause: {before:g}s -> {spec['duration']}")
        if (
            caution.approval
            and kind in _CHANGES_TRAFFIC
            and not any(next(iter(s)) in _CHANGES_TRAFFIC for s in steps[:index])
        ):
            out.append({"pause": {}})
            changes.append(f"approval pause inserted before step {index + 1} ({kind})")
        if caution.max_increment is not None and kind in ("flag", "canary"):
            value = float(spec["rollout"] if kind == "flag" else spec["weight"])
            last = last_flag.get(spec.get("name", ""), 0.0) if kind == "flag" else last_weight
            watch = _next_analysis(steps, index, caution)
            inserted = []
            level = last + caution.max_increment
            while level < value:
                middle = dict(spec)
                middle["rollout" if kind == "flag" else "weight"] = _number(level)
                out.append({kind: middle})
                if watch is not None:
                    out.append(watch)
                inserted.append(f"{_number(level)}%")
                level += caution.max_increment
            if inserted:
                what = f"flag {spec['name']}" if kind == "flag" else "canary weight"
                changes.append(
                    f"step {index + 1} {what} {_number(last)}% -> {_number(value)}%: "
                    f"now by way of {', '.join(inserted)}"
                    + (" (each watched by the analysis after it)" if watch is not None else "")
                )
            if kind == "flag":
                last_flag[spec["name"]] = value
            else:
                last_weight = value
        out.append({kind: spec})
    return out, changes


def _next_analysis(
    steps: list[dict[str, Any]], index: int, caution: Caution
) -> dict[str, Any] | None:
    """The analysis step watching step ``index`` (before the next traffic change), longer
    by the caution's factor like every analysis step."""
    for step in steps[index + 1 :]:
        kind, spec = next(iter(step.items()))
        if kind == "analysis":
            spec = dict(spec)
            spec["duration"] = f"{parse_duration(spec['duration']) * caution.analysis_factor:g}s"
            return {"analysis": spec}
        if kind in _CHANGES_TRAFFIC or kind == "promote":
            return None
    return None


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
