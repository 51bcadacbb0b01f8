"""Run ``rollsafe demo`` many times per mode and count its outcomes (issue 16, item 7).

A healthy release (``--fault none``) must promote every time, also on a busy
machine. Each run is a separate ``rollsafe demo --json`` process with a fresh
temporary work directory (its own home, store and ports: the demo picks free
ports), one after the other within a mode. Runs that do not promote keep their
work directory's incident report, copied to ``--keep``, so the cause can be read;
with a fault, a run that promotes keeps its stores there (their journals say why).

    python -m bench.demo_runs --runs 10 --modes embedded,prometheus,nginx --fault none

Modes: ``embedded`` (the default: the demo scrapes its instances, flags split
users), ``prometheus`` (``--metrics prometheus``) and ``nginx`` (``--router nginx``).
Several modes given at once run one after another; start one process per mode to
run them side by side. Prints one JSON line per run and a summary at the end
(``--json``: the summary as one JSON object).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

MODES: dict[str, list[str]] = {
    "embedded": [],
    "prometheus": ["--metrics", "prometheus"],
    "nginx": ["--router", "nginx"],
}


def rollsafe_command() -> list[str]:
    """The rollsafe CLI of this interpreter's environment."""
    return [sys.executable, "-m", "rollsafe"]


def run_once(mode: str, fault: str, keep: Path, index: int, timeout: float) -> dict[str, Any]:
    """One demo in a fresh work directory; its outcome, time and, if not promoted, why."""
    with tempfile.TemporaryDirectory(prefix=f"demo-{mode}-") as tmp:
        workdir = Path(tmp) / "demo"
        command = [
            *rollsafe_command(),
            "--home",
            str(Path(tmp) / "home"),
            "demo",
            "--workdir",
            str(workdir),
            "--fault",
            fault,
            "--json",
            *MODES[mode],
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLSAFE_")}
        started = time.monotonic()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            return {"mode": mode, "run": index, "outcome": "timeout", "seconds": timeout}
        seconds = round(time.monotonic() - started, 1)
        try:
            summary = json.loads(done.stdout)
        except json.JSONDecodeError:
            tail = (done.stderr or done.stdout)[-500:]
            return {"mode": mode, "run": index, "outcome": "error", "seconds": seconds, "why": tail}
        record: dict[str, Any] = {
            "mode": mode,
            "run": index,
            "outcome": summary.get("outcome"),
            "seconds": seconds,
            "exit": done.returncode,
        }
        if record["outcome"] == "promoted" and fault != "none":
            # A faulty release promoted: keep the stores, whose journals say why.
            keep.mkdir(parents=True, exist_ok=True)
            for number, store in enumerate(sorted(Path(tmp).rglob("rollsafe.db"))):
                kept = keep / f"{mode}-{index}-promoted-{number}.db"
                shutil.copyfile(store, kept)
                record.setdefault("stores", []).append(str(kept))
        if record["outcome"] != "promoted":
            reasons = [e["reason"] for e in summary.get("timeline", []) if e.get("reason")]
            record["why"] = reasons[-1] if reasons else None
            report = summary.get("report")
            if report and Path(report).exists():
                keep.mkdir(parents=True, exist_ok=True)
                kept = keep / f"{mode}-{index}-{Path(report).name}"
                shutil.copyfile(report, kept)
                record["report"] = str(kept)
        return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per mode")
    parser.add_argument("--modes", default="embedded,prometheus,nginx")
    parser.add_argument("--fault", default="none")
    parser.add_argument("--keep", type=Path, default=Path("bench-demo-runs"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument(
        "--until", type=float, default=None, help="stop starting runs after this Unix time"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)}; choose from {', '.join(MODES)}")
    counts: dict[str, Counter[str]] = {mode: Counter() for mode in modes}
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    for mode in modes:
        for index in range(1, args.runs + 1):
            if args.until is not None and time.time() >= args.until:
                break
            record = run_once(mode, args.fault, args.keep, index, args.timeout)
            counts[mode][record["outcome"]] += 1
            seconds[mode].append(record["seconds"])
            print(json.dumps(record), flush=True)
    summary = {
        mode: {
            "runs": sum(counts[mode].values()),
            "outcomes": dict(counts[mode]),
            "median_seconds": sorted(seconds[mode])[len(seconds[mode]) // 2]
            if seconds[mode]
            else None,
        }
        for mode in modes
    }
    if args.json:
        print(json.dumps({"fault": args.fault, "modes": summary}))
    else:
        for mode, row in summary.items():
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(row["outcomes"].items()))
            print(f"{mode}: {row['runs']} runs: {outcomes}; median {row['median_seconds']} s")
    healthy = args.fault == "none"
    bad = sum(n for c in counts.values() for k, n in c.items() if k != "promoted")
    return 1 if healthy and bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
