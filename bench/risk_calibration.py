"""Recompute the risk score's weights from a repository's history (docs/risk.md).

    .venv/bin/python -m bench.risk_calibration [REPO] [--critical PATTERN ...] [--json]

REPO defaults to this repository. Labels come from SZZ (fix commits blamed back to
the commits whose lines they changed), signals from `rollsafe.gates.risk`, weights
from a logistic fit (`rollsafe.gates.calibration`). Prints the fitted weights,
the AUC of the calibrated, prior (shipped) and equal-weight scores, and of each
factor alone, so the weights shipped in `rollsafe.gates.risk.DEFAULT_WEIGHTS`
can be compared with what the history says.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rollsafe.gates.calibration import calibrate, features, read_history
from rollsafe.gates.risk import DEFAULT_WEIGHTS, FACTORS

ROLLSAFE_CRITICAL = (
    "src/rollsafe/controller/",
    "src/rollsafe/store/",
    "src/rollsafe/journal/",
    "src/rollsafe/backup/",
)
"""rollsafe's own critical paths: what decides, records and restores a rollout."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, default=Path(__file__).parent.parent)
    parser.add_argument("--critical", action="append", default=None)
    parser.add_argument("--penalty", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=2000, help="Newest commits to read.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    critical = args.critical if args.critical is not None else list(ROLLSAFE_CRITICAL)
    began = time.monotonic()
    history = read_history(args.repo, limit=args.limit)
    x, y, _ = features(args.repo, history, critical)
    result = calibrate(x, y, DEFAULT_WEIGHTS, penalty=args.penalty)
    result.update(
        repo=str(args.repo.resolve()),
        head=history.commits[-1] if history.commits else None,
        fixes=len(history.fixes),
        critical_paths=critical,
        seconds=round(time.monotonic() - began, 1),
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['repo']} at {str(result['head'])[:12]}: {result['commits']} commits, "
        f"{result['fixes']} fixes, {result['risky']} commits blamed by a fix "
        f"({result['seconds']} s)"
    )
    print(f"{'factor':18} {'shipped':>8} {'fitted':>8} {'coef':>8} {'AUC alone':>10}")
    for factor in FACTORS:
        coefficient = result["coefficients"].get(factor)
        alone = result["auc"][factor]
        print(
            f"{factor:18} {DEFAULT_WEIGHTS[factor]:8.1f} {result['weights'][factor]:8.1f} "
            f"{'fixed' if coefficient is None else f'{coefficient:.3f}':>8} "
            f"{'n/a' if alone is None else f'{alone:.3f}':>10}"
        )
    auc = result["auc"]
    print(
        "AUC of the whole score: "
        + ", ".join(f"{k} {auc[k]:.3f}" for k in ("calibrated", "prior", "equal") if auc[k])
    )


if __name__ == "__main__":
    main()
