"""The report's "Performance gates" section: each load step's arms, throughput and verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import load_verdict

_ARM_FIELDS = ("ok", "errors", "dropped", "rps", "p50_ms", "p90_ms", "p99_ms")


def load_gates(entries: Sequence[JournalEntry]) -> list[dict[str, Any]]:
    """One item per ``load.verdict`` entry, with what a reader needs to judge it again."""
    gates = []
    for entry in entries:
        if entry.kind != Kind.LOAD_VERDICT:
            continue
        data = load_verdict(entry)
        arms = data.get("arms", {})
        gates.append(
            {
                "verdict": data.get("outcome"),
                "tool": data.get("tool"),
                "elapsed": data.get("elapsed"),
                "margin": data.get("margin"),
                "slowdown_margin": data.get("slowdown_margin"),
                "arms": {
                    arm: {key: values.get(key) for key in ("url", *_ARM_FIELDS)}
                    for arm, values in arms.items()
                },
                "throughput": data.get("throughput", {}),
                "judge": data.get("judge", {}).get("reason", ""),
            }
        )
    return gates


def render_load_gates(gates: Sequence[dict[str, Any]]) -> list[str]:
    if not gates:
        return []
    lines = ["", "## Performance gates", ""]
    for number, gate in enumerate(gates, 1):
        throughput = gate["throughput"]
        lines += [
            f"### Load step {number}: {gate['verdict']} ({gate['tool']}, {gate['elapsed']} s, "
            f"margin {_percent(gate['margin'])} and {_ms(gate['slowdown_margin'])})",
            "",
            "| arm | url | ok | errors | dropped | req/s | p50 ms | p90 ms | p99 ms |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for arm, values in gate["arms"].items():
            cells = " | ".join(str(values.get(key)) for key in _ARM_FIELDS)
            lines.append(f"| {arm} | {values.get('url')} | {cells} |")
        lines += [
            "",
            f"- throughput ratio {throughput.get('ratio')} (at least "
            f"{throughput.get('min_ratio')} passes): {'ok' if throughput.get('ok') else 'too low'}",
            f"- judge: {str(gate['judge']).replace('|', '/')}",
            "",
        ]
    return lines


def _percent(value: Any) -> str:
    return f"{100 * value:g}%" if isinstance(value, int | float) else "?"


def _ms(value: Any) -> str:
    return f"{1000 * value:g} ms" if isinstance(value, int | float) else "?"
