"""Hostile or mistyped plans are refused with file:line and exit 2, never a traceback or hang."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rollsafe.config import load_plan
from rollsafe.config.reading import MAX_BYTES
from rollsafe.errors import PlanError
from tests.config.test_plan_errors import VALID, problems, write


def test_a_misspelt_top_level_key_is_named_not_a_traceback(tmp_path: Path) -> None:
    text = VALID.replace("steps:", "Steps:")
    found = problems(tmp_path, text)
    assert f"{tmp_path}/plan.yaml:13: Steps: unknown key (did you mean 'steps'?)" in found
    assert f"{tmp_path}/plan.yaml:1: steps: required field is missing" in found


def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    text = VALID + "x: " + "[" * 5000 + "]" * 5000 + "\n"
    (problem,) = problems(tmp_path, text)
    assert problem == (
        f"{tmp_path}/plan.yaml:19: invalid YAML: nested deeper than 64 levels;"
        " a plan needs far fewer"
    )


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # Each level repeats the one before nine times: 9**9 (387 million) values at the end.
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    text = VALID + "\n".join(lines) + "\n"
    assert len(text) < 3000
    started = time.process_time()  # CPU time: a busy machine's waits do not count
    (problem,) = problems(tmp_path, text)
    assert time.process_time() - started < 2
    assert "aliases expand to more than 20,000 values" in problem
    assert problem.startswith(f"{tmp_path}/plan.yaml:")


def test_too_many_values_are_refused_before_parsing_them_all(tmp_path: Path) -> None:
    text = VALID + "x: [" + ",".join(["1"] * 100_000) + "]\n"  # 200 KB, under the size bound
    started = time.process_time()  # CPU time: a busy machine's waits do not count
    (problem,) = problems(tmp_path, text)
    assert time.process_time() - started < 3
    assert problem == (
        f"{tmp_path}/plan.yaml:19: invalid YAML: more than 20,000 values; a plan is far smaller"
    )


def test_an_alias_to_itself_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, VALID + "x: &x [*x]\n")
    assert problem == f"{tmp_path}/plan.yaml:19: invalid YAML: an alias refers to itself"


def test_a_few_aliases_still_load(tmp_path: Path) -> None:
    text = VALID.replace("  - name: fast-checkout\n", "  - &flag {name: fast-checkout}\n")
    plan = load_plan(write(tmp_path, text))
    assert [flag.name for flag in plan.flags] == ["fast-checkout"]


def test_a_large_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "#" * (50 * 1024 * 1024) + "\n")
    started = time.process_time()  # CPU time: a busy machine's waits do not count
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert time.process_time() - started < 2
    assert caught.value.problems == [f"{path}: larger than 256 KiB; a plan is a small file"]
    # Stored plan text (resume) is bounded the same way.
    with pytest.raises(PlanError):
        load_plan(path, "#" * (MAX_BYTES + 1))


def test_a_device_is_refused_without_reading_it() -> None:
    with pytest.raises(PlanError) as caught:
        load_plan("/dev/zero")
    assert caught.value.problems == ["/dev/zero: not a regular file (a device); give a plan file"]


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    started = time.process_time()  # CPU time: a busy machine's waits do not count
    with pytest.raises(PlanError) as caught:
        load_plan(fifo)
    assert time.process_time() - started < 2
    assert caught.value.problems == [f"{fifo}: not a regular file (a FIFO); give a plan file"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path)
    assert caught.value.problems == [f"{tmp_path}: is a directory, not a plan file"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('"--port", "{port}"', '"--port", "{prot}"'),
            ":6: target.command[4]: unknown placeholder {prot} in '{prot}'; known: {python},",
        ),
        (
            ("  instances: 2\n", "  instances: 2\n  health: {path: health}\n"),
            ":6: target.health.path: must start with / (like /health), got 'health'",
        ),
        (
            ("  - promote:\n", "  - promote:\n  - pause: {duration: 1s}\n"),
            ":19: steps[5]: a step after promote would never run: promote ends a plan",
        ),
        (
            ("duration: 10s", "duration: .nan"),
            ":17: steps[3].analysis.duration: must be a finite duration like 10s, 5m or 1h,"
            " got nan",
        ),
        (
            ("steps:", "rollback: {verify: {for: .nan}}\nsteps:"),
            ":13: rollback.verify.for: must be a finite duration",
        ),
        (
            ("steps:", "rollback: {watch: .inf}\nsteps:"),
            ":13: rollback.watch: must be a finite duration like 10s, 5m or 1h, got inf",
        ),
        (
            ('"rollsafe.demo.shop"', '"rollsafe.demo\\0shop"'),
            ":6: target.command[2]: contains a NUL byte",
        ),
    ],
)
def test_typos_that_used_to_pass_until_run_time(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert change[0] in VALID
    found = problems(tmp_path, VALID.replace(*change))
    assert any(problem.startswith(f"{tmp_path}/plan.yaml{expected}") for problem in found), found


def test_a_guard_for_of_nan_is_refused(tmp_path: Path) -> None:
    guard = "guards:\n  - {name: g, metric: error_rate, threshold: .nan, severity: critical,"
    text = VALID.replace("steps:", f"{guard} for: .nan}}\nsteps:")
    found = problems(tmp_path, text)
    assert any(":14: guards[0].threshold: input should be a finite number" in p for p in found)
    assert any(":14: guards[0].for: must be a finite duration" in p for p in found)


def test_a_missing_root_or_release_is_refused_on_disk_only(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    load_plan(path)  # the text alone is valid
    with pytest.raises(PlanError) as caught:
        load_plan(path, on_disk=True)
    assert caught.value.problems == [f"{path}:4: target.root: {tmp_path}/shop is not a directory"]
    (tmp_path / "shop" / "releases" / "1.0.0").mkdir(parents=True)
    with pytest.raises(PlanError) as caught:
        load_plan(path, on_disk=True)
    assert caught.value.problems == [
        f"{path}:15: steps[1].deploy.release: release '1.1.0' is not installed:"
        f" no directory {tmp_path}/shop/releases/1.1.0"
    ]
    (tmp_path / "shop" / "releases" / "1.1.0").mkdir()
    assert load_plan(path, on_disk=True).service == "shop"
