"""Turn benchmark outcomes into the markdown section of docs/benchmarks.md."""

from __future__ import annotations

import datetime
import math

import numpy as np

from bench.judge.guard_trips import CANARY_SHARE, Cell
from bench.judge.runner import JUDGES, Outcome, has_two_arm_floor
from bench.judge.scenarios import ORACLE_GOAL
from bench.judge.simulator import Scenario
from bench.judge.throughput import Throughput
from rollsafe.stats import wilson_interval

START = "<!-- bench-judge:start -->"
END = "<!-- bench-judge:end -->"
NAMES = {
    "oracle": "oracle (SPRT)",
    "two-arm": "two-arm floor (SPRT, 20% margin)",
    "rollsafe": "rollsafe",
    "kayenta": "Kayenta-style",
    "flagger-1": "Flagger-style, 1 check",
    "flagger-5": "Flagger-style, 5 checks",
}
GOAL_THROUGHPUT = 100_000
GOAL_ORACLE_RATIO = 2.0
COMPARED = tuple(judge for judge in JUDGES if judge not in ("oracle", "two-arm"))
"""Judges in the healthy table: the two SPRTs know the truth and never roll back a healthy run."""


def replace_section(document: str, section: str) -> str:
    if START not in document or END not in document:
        return f"{document.rstrip()}\n\n{START}\n{section}\n{END}\n"
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}\n{END}{tail}"


def _by_judge(runs: list[list[Outcome]]) -> dict[str, list[Outcome]]:
    result: dict[str, list[Outcome]] = {judge: [] for judge in JUDGES}
    for run in runs:
        for outcome in run:
            result[outcome.judge].append(outcome)
    return result


def false_rollbacks(outcomes: list[Outcome]) -> tuple[float, float, float, int]:
    count = sum(o.rolled_back for o in outcomes)
    low, high = wilson_interval(count, len(outcomes))
    return count / len(outcomes), low, high, count


def delays(outcomes: list[Outcome]) -> tuple[float | None, float | None, float, float]:
    """(median, p90) delay of detected runs, share missed, median harm before the decision."""
    detected = [o.seconds for o in outcomes if o.rolled_back and o.seconds is not None]
    missed = 1 - len(detected) / len(outcomes)
    harm = float(np.median([o.bad_before for o in outcomes]))
    if not detected:
        return None, None, missed, harm
    return float(np.median(detected)), float(np.percentile(detected, 90)), missed, harm


def oracle_ratio(
    by_judge: dict[str, list[Outcome]], scenario: Scenario, judge: str = "rollsafe"
) -> float | None:
    """``judge``'s median detection delay over the oracle's (None: no oracle or no detection)."""
    if not scenario.has_oracle:
        return None
    ours, floor = delays(by_judge[judge])[0], delays(by_judge["oracle"])[0]
    if ours is None or floor is None:
        return None
    # Both decide on whole seconds; a 0 s oracle would make every ratio infinite.
    return max(ours, 1.0) / max(floor, 1.0)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%" if value < 0.1 else f"{100 * value:.1f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def render(
    results: dict[str, list[list[Outcome]]],
    healthy: tuple[Scenario, ...],
    regressions: tuple[Scenario, ...],
    throughput: Throughput,
    guard_trips: dict[Cell, tuple[int, int, int]],
    *,
    command: str,
    machine: str,
    elapsed: float,
    workers: int,
    healthy_seconds: int,
    regression_seconds: int,
) -> str:
    lines = [
        f"Command: `{command}`, {datetime.date.today().isoformat()}, {workers} worker processes, "
        f"{elapsed / 60:.1f} minutes in all. Machine: {machine}.",
        "",
        "Simulated per-second observations of both arms (`bench/judge/simulator.py`): "
        "50 requests/s per arm unless stated, 1% errors, lognormal latency (median 50 ms), "
        "memory with a GC sawtooth; each healthy variant adds one nuisance. "
        f"Healthy runs last {healthy_seconds // 60} minutes, regressions "
        f"{regression_seconds // 60} minutes (the canary is worse from the start). "
        "rollsafe runs with the default `AnalysisConfig` (alpha 0.01, every metric from the "
        "fields: error rate, latency histogram, memory growth, error ceiling) and looks every "
        "second; see docs/judge.md.",
        "",
    ]
    lines += _goals(results, healthy, regressions, throughput)
    lines.append(_guard_goal(guard_trips))
    lines += ["", "**False rollbacks on healthy runs** (share of runs, Wilson 95% interval)", ""]
    lines.append("| variant | runs | " + " | ".join(NAMES[j] for j in COMPARED) + " |")
    lines.append("|---|---:|" + "---:|" * len(COMPARED))
    for scenario in healthy:
        by_judge = _by_judge(results[scenario.name])
        cells = []
        for judge in COMPARED:
            rate, low, high, _ = false_rollbacks(by_judge[judge])
            cells.append(f"{_pct(rate)} [{_pct(low)}-{_pct(high)}]")
        lines.append(
            f"| {scenario.name} | {len(by_judge['rollsafe'])} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "**Regressions**: detection delay median / p90 (detected runs), share missed within "
        f"{regression_seconds // 60} minutes, median bad requests served before the decision "
        "(excess errors, or canary requests slower than the baseline's p99 beyond 1%). "
        "The oracle is Wald's SPRT at alpha 0.01 on the canary's own data with the true "
        "healthy and regressed error rates and latency distributions (memory: not modelled); "
        "*÷ oracle* is rollsafe's median delay over the oracle's. The two-arm floor is Wald's "
        "SPRT on the canary's share of each second's errors, knowing the true ratio of the "
        "error rates and testing it against rollsafe's null edge (the canary 20% worse): "
        "the fastest test that learns the healthy rate from the baseline, as a canary judge "
        "must, and tolerates the margin (error regressions only).",
        "",
        "| scenario | runs | ÷ oracle | " + " | ".join(NAMES[j] for j in JUDGES) + " |",
        "|---|---:|---:|" + "---|" * len(JUDGES),
    ]
    for scenario in regressions:
        by_judge = _by_judge(results[scenario.name])
        cells = [_ratio(oracle_ratio(by_judge, scenario))]
        for judge in JUDGES:
            if (judge == "oracle" and not scenario.has_oracle) or (
                judge == "two-arm" and not has_two_arm_floor(scenario)
            ):
                cells.append("n/a")
                continue
            median, p90, missed, harm = delays(by_judge[judge])
            cell = f"{_seconds(median)} / {_seconds(p90)} · missed {_pct(missed)} · {harm:.0f}"
            if judge == "rollsafe":
                passed = sum(o.passed for o in by_judge[judge])
                if passed:
                    cell += f" · passed {passed}"
            cells.append(cell)
        lines.append(
            f"| {scenario.name} | {len(by_judge['rollsafe'])} | " + " | ".join(cells) + " |"
        )
    lines += ["", _floor_note(results, regressions), "", *_guard_table(guard_trips)]
    lines += [
        "",
        f"**Throughput**: {throughput.per_second:,.0f} observation updates/s on one core "
        f"({throughput.microseconds:.1f} µs each; {throughput.updates:,} updates of "
        "observations with requests, errors, a 15-bucket latency histogram and memory, i.e. "
        "three metrics plus the error ceiling; CPU time, best of "
        f"{throughput.repeats} passes; the judge {throughput.build}).",
        "",
        "Baselines: Kayenta-style = Mann-Whitney on 10-second aggregates (error rate, mean "
        "latency, memory) of all data so far, judged every minute, High when the 98% "
        "Hodges-Lehmann interval's lower end exceeds 0.25 x the shift estimate. Flagger-style "
        "= canary alone in each 1-minute window: error rate above max(1.5 x normal, normal + "
        "0.5 pp), p99 above 1.25 x normal, or memory growth above 300 MB/h; failed checks "
        "accumulate, rollback after 1 or 5.",
        "",
        *_notes(results, healthy, throughput),
    ]
    return "\n".join(lines)


def _floor_note(results: dict[str, list[list[Outcome]]], regressions: tuple[Scenario, ...]) -> str:
    """How many oracle-goal cells even the two-arm floor misses: the goal's reach."""
    names = {s.name: s for s in regressions}
    above = [
        name
        for name in ORACLE_GOAL
        if (ratio := oracle_ratio(_by_judge(results[name]), names[name], "two-arm")) is not None
        and ratio > GOAL_ORACLE_RATIO
    ]
    return (
        f"The two-arm floor itself is above {GOAL_ORACLE_RATIO:g}x the oracle in {len(above)} "
        f"of the {len(ORACLE_GOAL)} cells of the oracle goal"
        + (f" ({'; '.join(above)})" if above else "")
        + ": there even a judge told the size of the regression, learning the healthy rate "
        "from the baseline and tolerating a canary 20% worse, misses the goal (Wald's SPRT "
        "needs the fewest observations on average of any test at its error levels), so no "
        "method of that kind can be expected to meet it (see 'Against the oracle after "
        "issue 16, item 2' below)."
    )


def _guard_goal(guard_trips: dict[Cell, tuple[int, int, int]]) -> str:
    """The worst cell of each guard set: evidence-based guards should (almost) never trip."""
    worst = {}
    for cell, (runs, evidence, _) in guard_trips.items():
        if evidence / runs >= worst.get(cell.guards, (-1.0, cell))[0]:
            worst[cell.guards] = (evidence / runs, cell)
    parts = [
        f"{name}: {_pct(rate)} ({100 * cell.rate:g}% errors, {cell.rps:g} req/s)"
        for name, (rate, cell) in worst.items()
    ]
    ok = all(rate <= 0.01 for rate, _ in worst.values())
    return (
        "| guards: false trips ≤ 1% per hour of a healthy service (0.1-1% errors, 5-100 req/s) "
        f"| worst: {'; '.join(parts)} | {'met' if ok else '**missed**'} |"
    )


def _guard_table(guard_trips: dict[Cell, tuple[int, int, int]]) -> list[str]:
    lines = [
        "**Guards' false trips on healthy services** (`bench/judge/guard_trips.py`): share of "
        "one-hour runs in which a critical or major guard rolled back, Wilson 95% interval. "
        f"Natural error rate in both arms, Poisson traffic, canary at {CANARY_SHARE:.0%}. "
        "*evidence*: rollsafe's guards (the rate's 99% lower confidence bound above the "
        "threshold, at least `min_requests` requests and `min_events` errors in the window); "
        "*value*: the window's rate above the threshold (the rule before issue 16, Prometheus "
        "alerting's), same `for`, `grace` and `min_requests`.",
        "",
        "| guards | natural error rate | req/s | runs | evidence | value |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for cell, (runs, evidence, value) in guard_trips.items():
        cells = []
        for count in (evidence, value):
            low, high = wilson_interval(count, runs)
            cells.append(f"{_pct(count / runs)} [{_pct(low)}-{_pct(high)}]")
        lines.append(
            f"| {cell.guards} | {100 * cell.rate:g}% | {cell.rps:g} | {runs} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _notes(
    results: dict[str, list[list[Outcome]]],
    healthy: tuple[Scenario, ...],
    throughput: Throughput,
) -> list[str]:
    shortfall = GOAL_THROUGHPUT / throughput.per_second
    runs = sum(len(results[s.name]) for s in healthy)
    false = sum(false_rollbacks(_by_judge(results[s.name])["rollsafe"])[3] for s in healthy)
    return [
        "Notes:",
        "",
        f"- rollsafe rolled back {false} of {runs:,} healthy runs in all. The bound is "
        "alpha = 1% per run; the margins and the mixture over alternatives make the test "
        "conservative in practice.",
        (
            f"- Throughput is {shortfall:.2f}x short of the goal: "
            if shortfall > 1
            else "- Throughput meets the goal. Where the time goes: "
        )
        + "each look costs a few dozen Python operations per metric and about ten small "
        "numpy calls for the histogram (the largest share), compiled or not (`make compile`: "
        "1.4x-1.7x the source's rate).",
        "- This Kayenta-style judge compares *mean* latency per 10 s, which a longer tail or a "
        "wider spread moves, so it catches the tail-only and variance-only changes here; a "
        "median-based configuration would not (not measured). Its memory metric compares "
        "levels: both arms here are fresh processes of equal size. With a few MB of offset "
        "between processes of different ages, about half of its A/A runs rolled back while "
        "this benchmark was built. Its false rollbacks under instance heterogeneity come "
        "from real, small error-rate differences that rollsafe's 20% margin tolerates.",
        "- Flagger-style results depend on the thresholds chosen; a single failed check is "
        "fast and trigger-happy, five checks wait at least five minutes.",
        "- rollsafe's slow cases: errors 1% -> 2% (evidence that the ratio exceeds the 20% "
        "margin, at half of alpha, takes minutes at 50 req/s), the 200 MB/h "
        "leak under a 4 MB GC sawtooth (the growth test needs several independent blocks), "
        "and 0.5% errors over a zero-error baseline whose shared bursts dilute the absolute "
        "margin's evidence.",
        "- The oracle is a floor no real judge reaches: it knows the healthy rate (rollsafe "
        "must learn it from the baseline, which roughly halves the information at a 50% "
        "share), the exact size of the regression (rollsafe mixes over sizes, for errors "
        "1.25x to 50.6x its null), has no margins (rollsafe's null is 'worse by at most 20% "
        "and 0.1 pp') and tests one hypothesis (rollsafe splits alpha over its metrics, "
        "half to errors). Against a zero-error "
        "healthy rate its first canary error is proof, hence its few seconds there.",
        "- Cold start: rollsafe's latency warm-up (`warmup`, default 10 s) sets aside the "
        "first seconds of the canary's latency; without it this variant rolls back nearly "
        "every run (tests/judge/test_warmup.py).",
    ]


def _goals(
    results: dict[str, list[list[Outcome]]],
    healthy: tuple[Scenario, ...],
    regressions: tuple[Scenario, ...],
    throughput: Throughput,
) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    rows = ["| goal | measured | |", "|---|---|---|"]
    worst = max(
        ((*false_rollbacks(_by_judge(results[s.name])["rollsafe"]), s.name) for s in healthy),
        key=lambda item: item[0],
    )
    rows.append(
        f"| false rollbacks ≤ 1% on every healthy variant | worst: {_pct(worst[0])} "
        f"[{_pct(worst[1])}-{_pct(worst[2])}] ({worst[4]}) | {verdict(worst[0] <= 0.01)} |"
    )
    names = {s.name: s for s in regressions}
    five = _by_judge(results[names["errors 1% → 5%"].name])
    ours = delays(five["rollsafe"])[0]
    flagger = delays(five["flagger-5"])[0]
    fpr_ours = max(false_rollbacks(_by_judge(results[s.name])["rollsafe"])[0] for s in healthy)
    fpr_flagger = max(false_rollbacks(_by_judge(results[s.name])["flagger-5"])[0] for s in healthy)
    faster = (flagger or math.inf) / ours if ours else 0.0
    rows.append(
        f"| errors 1% → 5% at 50 req/s per arm: median ≤ 15 s | {_seconds(ours)} | "
        f"{verdict(ours is not None and ours <= 15)} |"
    )
    rows.append(
        f"| … ≥ 10x faster than Flagger-style with 5 checks at ≤ its false rollback rate | "
        f"{faster:.0f}x ({_seconds(flagger)}); worst false rollbacks {_pct(fpr_ours)} vs "
        f"{_pct(fpr_flagger)} | {verdict(faster >= 10 and fpr_ours <= fpr_flagger)} |"
    )
    median = delays(_by_judge(results["latency median x1.2"])["rollsafe"])[0]
    rows.append(
        f"| latency median x1.2: median detection ≤ 60 s | {_seconds(median)} | "
        f"{verdict(median is not None and median <= 60)} |"
    )
    for name in ("latency tail only (p99 +30%)", "latency variance only (sigma x1.4)"):
        by_judge = _by_judge(results[name])
        ours_missed = delays(by_judge["rollsafe"])[2]
        theirs_missed = delays(by_judge["kayenta"])[2]
        rows.append(
            f"| {name}: detected | rollsafe missed {_pct(ours_missed)}, Kayenta-style missed "
            f"{_pct(theirs_missed)} | {verdict(ours_missed <= 0.05)} |"
        )
    for name in ORACLE_GOAL:
        by_judge = _by_judge(results[name])
        ratio = oracle_ratio(by_judge, names[name])
        ours, floor = delays(by_judge["rollsafe"])[0], delays(by_judge["oracle"])[0]
        two_arm = oracle_ratio(by_judge, names[name], "two-arm")
        rows.append(
            f"| {name}: median ≤ {GOAL_ORACLE_RATIO:g}x the oracle's | {_ratio(ratio)} "
            f"({_seconds(ours)} vs {_seconds(floor)}; the two-arm floor {_ratio(two_arm)}) | "
            f"{verdict(ratio is not None and ratio <= GOAL_ORACLE_RATIO)} |"
        )
    rows.append(
        f"| ≥ 100,000 observation updates/s per core, three metrics | "
        f"{throughput.per_second:,.0f}/s | {verdict(throughput.per_second >= GOAL_THROUGHPUT)} |"
    )
    return rows
