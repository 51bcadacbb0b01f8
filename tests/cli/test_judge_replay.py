"""``rollsafe judge replay``: verdicts from recorded observations, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.cli.conftest import Run


def write_observations(path: Path, canary_rate: float, seconds: int = 120) -> Path:
    rng = np.random.default_rng(3)
    totals = {"canary": [0, 0], "baseline": [0, 0]}
    lines = []
    for t in range(seconds):
        for arm, rate in (("canary", canary_rate), ("baseline", 0.01)):
            requests = int(rng.poisson(50))
            totals[arm][0] += requests
            totals[arm][1] += int(rng.binomial(requests, rate))
            lines.append(
                json.dumps(
                    {"t": t, "arm": arm, "requests": totals[arm][0], "errors": totals[arm][1]}
                )
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_clear_regression_fails_early(tmp_path: Path, rollsafe: Run) -> None:
    observations = write_observations(tmp_path / "bad.jsonl", canary_rate=0.05)
    result = rollsafe("judge", "replay", str(observations), "--json")
    assert result.returncode == 1, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "fail"
    assert verdict["decided_at"] < 60
    assert [m["name"] for m in verdict["metrics"] if m["verdict"] == "fail"]


def test_a_healthy_canary_does_not_fail(tmp_path: Path, rollsafe: Run) -> None:
    observations = write_observations(tmp_path / "ok.jsonl", canary_rate=0.01)
    result = rollsafe("judge", "replay", str(observations))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split(":")[0].strip() in {"pass", "inconclusive"}


def test_a_bad_line_is_named(tmp_path: Path, rollsafe: Run) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"t": 0, "arm": "canary", "requests": 1}\n{"t": 1, "requests": 2}\nnope\n')
    result = rollsafe("judge", "replay", str(path))
    assert result.returncode == 2
    assert f"{path}:2: an observation needs at least 't' and 'arm'" in result.stderr


def test_a_bad_config_is_named(tmp_path: Path, rollsafe: Run) -> None:
    observations = write_observations(tmp_path / "ok.jsonl", canary_rate=0.01, seconds=5)
    config = tmp_path / "analysis.yaml"
    config.write_text("alpha: 2\n")
    result = rollsafe("judge", "replay", str(observations), "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:1: alpha:" in result.stderr
