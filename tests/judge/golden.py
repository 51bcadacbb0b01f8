"""E-values of fixed-seed streams, look by look: the judge's arithmetic pinned down.

``python -m tests.judge.golden > tests/judge/data/golden_evalues.json`` wrote the
file with the judge as it was before the issue-16 speed-up (commit b9cd6d1's
``src`` first on ``PYTHONPATH``); test_golden_evalues.py checks that the judge of
today gives the very same floats, so a faster update path changed no verdict.
Regenerated with this command when the error-rate test's semantics changed on
purpose (issue 16, item 2: errors get half of alpha and a prior concentrated on the
regressions that matter, so its e-values and thresholds differ; the five streams'
verdicts and decision times did not change).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from rollsafe.judge import Judge
from tests.judge.streams import Arm, stream

FIELDS = ("requests", "errors", "latency_seconds_bucket", "memory_bytes")
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "healthy": ({}, {}),
    "errors x3": ({"error_rate": 0.03}, {}),
    "latency x1.3": ({"median": 0.065}, {}),
    "leak": ({"leak": 3e4}, {}),
    "canary at 10%": ({"rate": 10.0}, {"rate": 90.0}),
}
LOOKS = 240
EVERY = 12


def evalues(name: str, seed: int = 16) -> list[dict[str, Any]]:
    """Every ``EVERY``-th look's verdict and each metric's e-values, until decided."""
    canary_fields, baseline_fields = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    canary = Arm(fields=FIELDS, **canary_fields)
    baseline = Arm(fields=FIELDS, **baseline_fields)
    judge = Judge()
    rows = []
    for i, observation in enumerate(stream(rng, canary, baseline, LOOKS)):
        verdict = judge.update(observation)
        if i % (2 * EVERY) == 1 or verdict.decided_at is not None:
            rows.append(
                {
                    "t": verdict.t,
                    "verdict": verdict.verdict,
                    "reason": verdict.reason,
                    "metrics": [
                        [m.name, m.verdict, m.e_value, m.pass_e_value, m.estimate]
                        for m in verdict.metrics
                    ],
                }
            )
        if verdict.decided_at is not None:
            break
    return rows


if __name__ == "__main__":
    json.dump({name: evalues(name) for name in SCENARIOS}, sys.stdout, indent=0)
    sys.stdout.write("\n")
