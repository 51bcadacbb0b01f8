"""The command source: a real program per arm, bounded, and nothing but an observation trusted."""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from rollsafe.config import CommandMetrics
from rollsafe.errors import MetricsError
from rollsafe.judge import Judge
from rollsafe.metrics import CommandSource, SourceNeeds, build_source

# Prints what answers.json holds for the arm it is given: an observation, or raw text.
FETCH = """\
import json, os, sys
arm = sys.argv[1]
answer = json.load(open(sys.argv[2]))[arm]
assert os.environ["ROLLSAFE_ARM"] in ("canary", "baseline")
print(answer if isinstance(answer, str) else json.dumps(answer))
"""


class Backend:
    """A stand-in for a Datadog or CloudWatch query: a script and the answers it prints."""

    def __init__(self, root: Path) -> None:
        self.script = root / "fetch.py"
        self.script.write_text(FETCH)
        self.answers = root / "answers.json"

    def answer(self, new: Any, old: Any) -> None:
        self.answers.write_text(json.dumps({"new": new, "old": old}))

    def config(self, **fields: Any) -> CommandMetrics:
        argv = [sys.executable, str(self.script), "{arm}", str(self.answers)]
        return CommandMetrics(provider="command", argv=argv, **fields)


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend(tmp_path)


def no_release() -> str | None:
    return None


def failure(source: CommandSource) -> str:
    with pytest.raises(MetricsError) as caught:
        source.observe(0.0)
    return str(caught.value)


def test_good_output_is_judged(backend: Backend) -> None:
    judge = Judge(None)
    source = build_source(backend.config(), SourceNeeds(list, no_release))
    with closing(source):
        backend.answer({"requests": 0, "errors": 0}, {"requests": 0, "errors": 0})
        for observation in source.observe(0.0):
            judge.update(observation)
        backend.answer(
            {"requests": 2000, "errors": 400, "memory_bytes": 1e8},
            {"requests": 2000, "errors": 2, "latency_seconds_bucket": {"0.1": 5, "+Inf": 7}},
        )
        observations = source.observe(1.0)
        for observation in observations:
            verdict = judge.update(observation)
    assert isinstance(source, CommandSource)
    assert observations == [
        {"t": 1.0, "arm": "canary", "requests": 2000, "errors": 400, "memory_bytes": 1e8},
        {
            "t": 1.0,
            "arm": "baseline",
            "requests": 2000,
            "errors": 2,
            "latency_seconds_bucket": {"0.1": 5, "+Inf": 7},
        },
    ]
    assert verdict.verdict == "fail", verdict.reason


def test_counters_that_go_down_are_resets_and_a_failed_look_counts_nothing(
    backend: Backend,
) -> None:
    with closing(CommandSource(backend.config(), no_release)) as source:
        backend.answer({"requests": 100, "errors": 5}, {"requests": 50, "errors": 0})
        source.observe(0.0)
        backend.answer({"requests": 120, "errors": 5}, "garbage")
        failure(source)  # the canary's 120 was read, but the look failed: not counted
        backend.answer({"requests": 10, "errors": 1}, {"requests": 70, "errors": 0})
        canary, baseline = source.observe(2.0)
    # 100, then a reset to 10 counts in full: 110; the baseline grew by 20.
    assert (canary["requests"], canary["errors"]) == (110, 6)
    assert (baseline["requests"], baseline["errors"]) == (70, 0)


def test_a_hanging_command_and_its_children_are_killed_within_the_timeout(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    script = f'sleep 60 & echo $! > {pids}; echo $$ >> {pids}; wait; echo "{{arm}}"'
    config = CommandMetrics(provider="command", argv=["sh", "-c", script, "{arm}"], timeout=0.5)
    started = time.monotonic()
    with closing(CommandSource(config, no_release)) as source:
        message = failure(source)
    elapsed = time.monotonic() - started
    assert "did not finish within 0.5s; its process group was killed" in message
    assert elapsed < 3.0, elapsed
    for pid in map(int, pids.read_text().split()):
        assert dies(pid), f"process {pid} of the command's group survived"


def dies(pid: int, seconds: float = 2.0) -> bool:
    """The grandchild gets SIGKILL with its group; its death may take a scheduler tick."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "\nState:\tZ" in state:  # a zombie is dead, waiting for its reaper
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("hello, world", "did not print JSON: 'hello, world\\n'"),
        ([1, 2], "printed a bad observation: expected a JSON object (an observation), got list"),
        ({"requests": "ten", "errors": 0}, "requests: expected a number, got str 'ten'"),
        ({"requests": 10}, "missing field 'errors'"),
        ({"requests": 10, "errors": True}, "errors: expected a number, got bool"),
        ({"requests": 10, "errors": -1}, "errors: expected a finite number >= 0, got -1"),
        ({"requests": 10, "errors": 11}, "errors (11) exceed requests (10)"),
        ({"requests": 10, "errors": 0, "reqs": 3}, "unknown field 'reqs'"),
        (
            {"requests": 10, "errors": 0, "latency_seconds_bucket": {"fast": 3}},
            "bucket bound 'fast' is not a number",
        ),
        (
            {"requests": 10, "errors": 0, "latency_seconds_bucket": [1, 2]},
            "latency_seconds_bucket: expected an object of bound to count",
        ),
    ],
)
def test_bad_output_fails_the_look_naming_the_error(
    backend: Backend, answer: Any, message: str
) -> None:
    backend.answer(answer, {"requests": 1, "errors": 0})
    with closing(CommandSource(backend.config(), no_release)) as source:
        error = failure(source)
    assert message in error
    assert "(canary)" in error


def test_a_failing_or_missing_program_fails_the_look(tmp_path: Path) -> None:
    failing = CommandMetrics(
        provider="command", argv=["sh", "-c", "echo boom >&2; exit 3", "{arm}"]
    )
    with closing(CommandSource(failing, no_release)) as source:
        assert failure(source).endswith("exited with 3: boom")
    missing = CommandMetrics(provider="command", argv=[str(tmp_path / "nope"), "{arm}"])
    with closing(CommandSource(missing, no_release)) as source:
        assert "cannot run metrics command" in failure(source)
        assert "No such file or directory" in failure(source)


def test_release_placeholder_and_environment(tmp_path: Path) -> None:
    script = (
        'echo "{\\"requests\\": ${#1}, \\"errors\\": 0}"; echo "$1 $ROLLSAFE_ARM $EXTRA" >> '
        + str(tmp_path / "calls")
    )
    config = CommandMetrics(
        provider="command", argv=["sh", "-c", script, "sh", "{release}-{arm}"], env={"EXTRA": "x"}
    )
    with closing(CommandSource(config, lambda: "1.2.0")) as source:
        canary, baseline = source.observe(0.0)
    assert (tmp_path / "calls").read_text().splitlines() == [
        "1.2.0-new canary x",
        "1.2.0-old baseline x",
    ]
    assert (canary["requests"], baseline["requests"]) == (9, 9)
    with closing(CommandSource(config, no_release)) as source:
        assert failure(source) == "no release is deployed yet to fill {release}"
    assert os.environ.get("ROLLSAFE_ARM") is None
