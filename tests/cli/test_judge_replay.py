"""``rollsafe judge replay``: verdicts from recorded observations, and clear errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from rollsafe.cli import app
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
    verdict = result.stdout.split(":")[0].strip()
    assert verdict in {"pass", "inconclusive"}, result.stdout + result.stderr
    assert result.returncode == (0 if verdict == "pass" else 4), result.stdout + result.stderr


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


def test_a_bad_t_or_arm_is_named_not_a_traceback(tmp_path: Path, rollsafe: Run) -> None:
    path = tmp_path / "bad.jsonl"
    good = '{"t": 0, "arm": "canary", "requests": 1, "errors": 0}'
    for line, expected in (
        ('{"t": "soon", "arm": "canary"}', "an observation needs a finite number 't', got 'soon'"),
        ('{"t": 1, "arm": 7}', "an observation needs an 'arm' name, got 7"),
        ('{"t": 1e999, "arm": "canary"}', "an observation needs a finite number 't', got inf"),
        ('{"t": 1' + "0" * 400 + ', "arm": "canary"}', "an observation needs a finite number"),
        ("[" * 100_000, "not JSON an observation can be: nested too deeply"),
    ):
        path.write_text(f"{good}\n{line}\n")
        result = rollsafe("judge", "replay", str(path))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"{path}:2: {expected}" in result.stderr.replace("\n", "")


# What fuzzed lines are made of: the fields the judge reads, with values of every JSON type.
_KEYS = ["t", "arm", "requests", "errors", "latency", "memory_bytes", "x"]
_VALUES: list[object] = [
    0, 1, -1, 2.5, 10**30, 1e308, "canary", "baseline", "", "x", None, True, [], {},
    [1, 2], {"0.1": 3, "+Inf": 4}, [[0.1, 1], [1, 2]],
]  # fmt: skip


def _fuzzed_file(rng: random.Random) -> str:
    lines = []
    for t in range(rng.randint(1, 8)):
        observation: dict[str, object] = {"t": t, "arm": rng.choice(["canary", "baseline"])}
        observation.update(requests=10 * t, errors=t)
        for _ in range(rng.randint(0, 3)):
            observation[rng.choice(_KEYS)] = rng.choice(_VALUES)
        line = json.dumps(observation)
        if rng.random() < 0.05:  # now and then a line cut short
            line = line[: rng.randint(0, len(line))]
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_fuzzed_observations_end_in_a_verdict_or_a_refusal(tmp_path: Path) -> None:
    # In-process (the command's own code, as the console script runs it) so that 120 files
    # take seconds; any exception but a clean exit fails with its traceback.
    runner = CliRunner()
    rng = random.Random(17)
    path = tmp_path / "fuzzed.jsonl"
    codes: set[int] = set()
    for _ in range(120):
        path.write_text(_fuzzed_file(rng))
        result = runner.invoke(app, ["judge", "replay", str(path)])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(path.read_text()) from result.exception
        assert result.exit_code in (0, 1, 2, 4), path.read_text()
        codes.add(result.exit_code)
    assert codes == {2, 4}  # both verdicts (inconclusive: 4) and refusals were reached


def test_absurd_counts_are_ignored_not_a_crash(tmp_path: Path) -> None:
    # 1e308 requests overflowed the rate bounds' gamma functions (found by the fuzz test).
    lines = [
        {"t": 0, "arm": "canary", "requests": 0, "errors": 0},
        {"t": 1, "arm": "baseline", "requests": 10, "errors": 1},
        {"t": 2, "arm": "canary", "requests": 20, "errors": 2},
        {"t": 5, "arm": "canary", "requests": 1e308, "errors": 5, "latency": {"0.1": 1e300}},
        {"t": 6, "arm": "baseline", "requests": 60, "errors": 6},
    ]
    path = tmp_path / "absurd.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(app, ["judge", "replay", str(path), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 4, result.output  # inconclusive: not a pass
    assert json.loads(result.output)["verdict"] == "inconclusive"
