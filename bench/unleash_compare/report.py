"""The docs/benchmarks.md section of `bench.unleash_compare`."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from bench.unleash_compare.load import Result

START, END = "<!-- bench-unleash:start -->", "<!-- bench-unleash:end -->"
HEADING = "## Against unleash-server (issue 12)"
EDGE_RATE, EDGE_CPUS = 23_000, 8
"""Unleash Edge's published figure: about 23k req/s at p95 2.7 ms on 8 CPUs, 350 flags."""
GOAL_RATIO = 3.0


def replace_section(document: str, section: str) -> str:
    block = f"{START}\n{section}\n{END}"
    if START in document and END in document:
        before, _, rest = document.partition(START)
        _, _, after = rest.partition(END)
        return before + block + after
    return document.rstrip("\n") + f"\n\n{HEADING}\n\n{block}\n"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(
    results: list[Result],
    peer: dict[str, Any] | None,
    why_not: str | None,
    *,
    args: argparse.Namespace,
    machine: str,
    command: str,
    seconds: float,
) -> str:
    today = dt.date.today().isoformat()
    by = {(r.server, r.scenario): r for r in results}
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    lines = [
        f"Measured {today} with `{command}` in {seconds:.0f} s.",
        "",
        f"Machine: {machine}.",
        "",
        "The machine's two cores are shared with other work (see the load average): a"
        " pinned server got only part of its core, so its requests per second measure the"
        " machine as much as the server. Requests per CPU-second of the server's own"
        " processes are the per-core rate, and the ratios that hold from run to run;"
        " both are given, and both marked against the goals.",
        "",
        f"Each server alone, pinned with taskset to core {args.server_cores}, wrk (1 thread,"
        f" {args.connections} connections, {args.seconds:g} s after a 2 s warm-up) pinned to"
        f" core {args.load_cores}; the same 350 flags in both (bench/unleash_compare/flagset.py)."
        " The server and each wrk run start in a session of their own: the scheduler shares"
        " the CPU among sessions first, and a session holding both wrk and the server gives"
        " the server less of its core the harder wrk works, that is the faster the server"
        " (`servers.OWN_SESSION`)."
        " req/CPU-s is requests divided by the CPU seconds the server's processes used during"
        " the run: the rate per fully used core, which the other work on the machine"
        " disturbs less than the wall-clock rate. rollsafe serves from SQLite (it answers from"
        " memory either way); unleash-server 8.2.0 from npm, on the local PostgreSQL, with API"
        " tokens and its SDK rate limits lifted (by default 20,000 requests a minute, which"
        " answers 429 within seconds at these rates). Unleash has no OFREP: its server-side"
        " evaluation of every flag for a context"
        " is the frontend API (`POST /api/frontend`, enabled flags only), set beside OFREP's bulk"
        " evaluation.",
        "",
        "| scenario | rollsafe req/s | p50 / p99 | req/CPU-s | unleash-server req/s | p50 / p99"
        " | req/CPU-s | ratio (req/s) | ratio (req/CPU-s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        ours = by.get(("rollsafe", scenario))
        theirs = by.get(("unleash-server", scenario))
        cells = [scenario]
        for result in (ours, theirs):
            if result is None:
                cells += ["-", "-", "-"]
            else:
                errors = f" ({result.errors} errors)" if result.errors else ""
                cells += [
                    f"{result.rate:,.0f}{errors}",
                    f"{result.p50_ms:.2f} / {result.p99_ms:.2f} ms",
                    f"{result.per_cpu_second:,.0f}",
                ]
        if ours is not None and theirs is not None and theirs.rate and theirs.per_cpu_second:
            cells += [
                f"{ours.rate / theirs.rate:.1f}x",
                f"{ours.per_cpu_second / theirs.per_cpu_second:.1f}x",
            ]
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    shares = []
    for server in ("rollsafe", "unleash-server"):
        runs = [by[(server, s)] for s in scenarios if (server, s) in by]
        if runs:
            each = ", ".join(
                f"{r.cpu_seconds / r.seconds:.2f} / {r.waited_seconds / r.seconds:.2f}"
                for r in runs
                if r.seconds
            )
            shares.append(f"{server} {each}")
    if shares:
        lines += [
            "Share of its core each server's processes used / spent runnable but waiting for"
            " it while other work ran (seconds per second, threads added up, by scenario in"
            f" the table's order): {'; '.join(shares)}.",
            "",
        ]
    if why_not is not None:
        lines.append(f"unleash-server was not measured: {why_not}.")
        lines.append("")
    edge = EDGE_RATE / EDGE_CPUS
    for scenario in ("features", "features, ETag (304)", "evaluate all flags"):
        ours = by.get(("rollsafe", scenario))
        theirs = by.get(("unleash-server", scenario))
        if ours is not None and theirs is not None and theirs.rate and theirs.per_cpu_second:
            ratio = ours.rate / theirs.rate
            per_cpu = ours.per_cpu_second / theirs.per_cpu_second
            lines.append(
                f"- Goal ≥ {GOAL_RATIO:g}x unleash-server, `{scenario}`: per CPU-second"
                f" {per_cpu:.1f}x — {_mark(per_cpu >= GOAL_RATIO)}; per second on the"
                f" shared core {ratio:.1f}x — {_mark(ratio >= GOAL_RATIO)}."
            )
    ours = by.get(("rollsafe", "features"))
    if ours is not None:
        lines.append(
            f"- Goal ≥ Unleash Edge's published per-core rate ({EDGE_RATE:,} req/s on"
            f" {EDGE_CPUS} CPUs = {edge:,.0f} req/s per core), `features` on one core:"
            f" {ours.per_cpu_second:,.0f} per CPU-second — {_mark(ours.per_cpu_second >= edge)};"
            f" {ours.rate:,.0f} req/s on the shared core, p99 {ours.p99_ms:.1f} ms —"
            f" {_mark(ours.rate >= edge)}. Edge's figure is its own measurement on other"
            " hardware (p95 2.7 ms), not re-measured here."
        )
    if peer is not None:
        ours_count, theirs_count = peer["features"]
        lines += [
            "",
            f"Protocol peer: both servers' `/api/client/features` documents ({ours_count} and"
            f" {theirs_count} features) evaluated by one engine for 1,000 users agree on"
            f" {peer['agree']:,} of {peer['total']:,} (flag, user) results (enabled and variant)."
            f" unleash-server's OpenAPI lists {len(peer['client_paths'])} `/api/client/` paths;"
            f" rollsafe's OpenAPI has {len(peer['covered'])} of them:"
            f" {', '.join(f'`{p}`' for p in peer['covered']) or 'none'}"
            f" (of {', '.join(f'`{p}`' for p in peer['client_paths'])}).",
        ]
    return "\n".join(lines)
