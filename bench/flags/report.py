"""The feature flag section of docs/benchmarks.md, between its markers."""

from __future__ import annotations

import datetime

from bench.flags.evaluation import HEADLINE, EvaluationResult
from bench.flags.propagation import PropagationResult

START = "<!-- bench-flags:start -->"
END = "<!-- bench-flags:end -->"
HEADING = "## Feature flags"
GOAL_MEDIAN_NS = 1000
GOAL_RATIO = 10
GOAL_P99_MS = 100


def replace_section(document: str, section: str) -> str:
    """Replace what is between the markers; add heading and markers at the end if missing."""
    if START not in document or END not in document:
        return f"{document.rstrip()}\n\n{HEADING}\n\n{START}\n{section}\n{END}\n"
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}\n{END}{tail}"


def _ns(value: float) -> str:
    return f"{value / 1000:.2f} µs" if value >= 1000 else f"{value:.0f} ns"


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(
    evaluation: EvaluationResult | None,
    propagation: list[PropagationResult],
    *,
    command: str,
    machine: str,
    elapsed: float,
) -> str:
    lines = [
        f"Measured {datetime.date.today().isoformat()} with `{command}` in {elapsed:.0f} s.",
        "",
        f"Machine: {machine}",
        "",
    ]
    if evaluation is not None:
        lines += _evaluation(evaluation)
    if propagation:
        lines += _propagation(propagation)
    return "\n".join(lines).rstrip()


def _evaluation(result: EvaluationResult) -> list[str]:
    by = {(t.implementation, t.flag): t for t in result.timings}
    implementations = list(dict.fromkeys(t.implementation for t in result.timings))
    flags = list(dict.fromkeys(t.flag for t in result.timings))
    engine = by[("rollsafe Engine.is_enabled", HEADLINE)].median_ns
    unleash = by[("UnleashClient.is_enabled", HEADLINE)].median_ns
    ratio = unleash / engine
    lines = [
        "### Evaluation latency per call",
        "",
        "Median time per `is_enabled` call (p90 in brackets) over 1,000 contexts, the same",
        "flags and contexts for every implementation, measured interleaved in one process.",
        "`rollout-userid` is a `flexibleRollout` at 50% with `userId` stickiness. UnleashClient",
        "(PyPI, Rust engine) is bootstrapped with the same document and never initialised;",
        f"outgoing connections were refused and counted during the run: {result.network_attempts}.",
        "UnleashClient and rollsafe agreed on "
        + ", ".join(f"{100 * v:.1f}% ({k})" for k, v in result.agreement.items())
        + " of the contexts.",
        "OpenFeature's in-memory provider cannot express a rollout: it",
        "serves static values for the same names (the floor of the OpenFeature SDK's own cost).",
        f"Figures include the harness loop (an empty call costs {_ns(result.loop_ns)}).",
        "",
        "| implementation | " + " | ".join(f"`{f}`" for f in flags) + " |",
        "|---|" + "---:|" * len(flags),
    ]
    for name in implementations:
        cells = [f"{_ns(by[(name, f)].median_ns)} ({_ns(by[(name, f)].p90_ns)})" for f in flags]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"- Goal ≤ 1 µs median for `flexibleRollout` + `userId`: {_ns(engine)} — "
        f"{_mark(engine <= GOAL_MEDIAN_NS)}.",
        f"- Goal ≥ {GOAL_RATIO} times faster than `UnleashClient.is_enabled`: "
        f"{ratio:.0f} times — "
        f"{_mark(ratio >= GOAL_RATIO)}.",
        "",
    ]
    return lines


def _propagation(results: list[PropagationResult]) -> list[str]:
    lines = [
        "### Propagation: commit to every client",
        "",
        "Flags turned on one by one through `PUT /api/admin/flags/{name}` (the admin API);",
        "latency = when a client holds the change minus the record's `updated_at`, stamped",
        "in the write transaction just before commit. `raw` clients are bare sockets read",
        "by one selector (what the server alone takes to fan a change out); `sdk` clients",
        "are `AsyncFlagClient`s noting the change in a listener. Server and clients share",
        "the machine's cores. Memory: the server's RSS growth once the streams are open.",
        "",
        "| clients | kind | processes | changes | p50 | p90 | p99 | max | missed |"
        " server MB / 1,000 streams | server CPU / change | client CPU / change / client |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        client_cpu = f"{r.client_cpu_us:.0f} µs" if r.kind == "sdk" else "-"
        lines.append(
            f"| {r.clients:,} | {r.kind} | {r.processes} | {r.changes} "
            f"(every {r.interval:g} s) | {r.percentile(50):.0f} ms | {r.percentile(90):.0f} ms "
            f"| {r.percentile(99):.0f} ms | {r.percentile(100):.0f} ms | {r.missing} "
            f"| {r.mb_per_1000_streams:.1f} | {r.server_cpu_ms:.0f} ms | {client_cpu} |"
        )
    lines.append("")
    for r in results:
        if r.clients >= 1000:
            verdict = _mark(r.percentile(99) <= GOAL_P99_MS)
            lines.append(
                f"- Goal p99 ≤ {GOAL_P99_MS} ms, {r.clients:,} {r.kind} clients: "
                f"{r.percentile(99):.0f} ms — {verdict}."
            )
    sdk = [r for r in results if r.kind == "sdk" and r.clients >= 1000]
    if sdk:
        r = sdk[0]
        demand = r.server_cpu_ms + r.client_cpu_us * r.clients / 1000
        lines += [
            f"- With {r.clients:,} SDK clients on this machine each change costs about "
            f"{demand:.0f} ms of CPU ({r.server_cpu_ms:.0f} ms server, "
            f"{r.client_cpu_us * r.clients / 1000:.0f} ms clients) on the cores that also "
            "run the server: the last clients wait for CPU, not for the stream. The `raw` "
            "row is the server's own share; the SDK's p99 above it is the clients' cost.",
        ]
    lines.append("")
    return lines
