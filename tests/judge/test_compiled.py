"""The compiled judge (``make compile``, mypyc) decides as its source does, float for float."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import rollsafe.judge.judges
from rollsafe.support.compiled import cannot_compile, is_compiled, stale, warn_if_stale

ROOT = Path(__file__).resolve().parents[2]


def _digests(python_path: str) -> list[str]:
    """The last lines of ``bench.judge.differential`` (every look's verdict on the benchmark's
    streams) and ``tests.judge.odd_streams`` (verdicts and errors on malformed streams)."""
    env = {**os.environ, "PYTHONPATH": python_path}
    commands = (
        ["bench.judge.differential", "--seconds", "300", "--seeds", "1"],
        ["tests.judge.odd_streams"],
    )
    lines = []
    for command in commands:
        out = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        lines.append(out.strip().splitlines()[-1])
    return lines


def test_the_judge_is_compiled_wherever_it_can_be() -> None:
    # make install compiles it (scripts/compile-judge.py), or says why it cannot.
    reason = cannot_compile()
    if reason is not None:
        pytest.skip(f"the compiled judge cannot be built here: {reason}")
    assert is_compiled(rollsafe.judge.judges), "the tools are here: run `make compile`"


@pytest.mark.skipif(
    not is_compiled(rollsafe.judge.judges), reason="the judge is not compiled here (make compile)"
)
def test_compiled_and_python_judges_give_the_same_verdicts(tmp_path: Path) -> None:
    # The source alone: a copy of src without the extension modules.
    pure = tmp_path / "src"
    shutil.copytree(ROOT / "src", pure, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    check = "import rollsafe.judge.judges as j; print(j.__file__)"
    loaded = subprocess.run(
        [sys.executable, "-c", check],
        env={**os.environ, "PYTHONPATH": f"{pure}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == str(pure / "rollsafe" / "judge" / "judges.py")
    compiled = _digests(str(ROOT))
    assert compiled == _digests(f"{pure}{os.pathsep}{ROOT}")
    assert compiled[0].startswith("all: ")
    assert not compiled[0].endswith(" 0 decisions")
    assert compiled[1].startswith("odd streams: ")


def test_a_source_newer_than_its_compiled_module_is_stale(tmp_path: Path) -> None:
    suffix = EXTENSION_SUFFIXES[0]
    for name in ("fresh", "old"):
        (tmp_path / f"{name}{suffix}").write_bytes(b"")
        (tmp_path / f"{name}.py").write_text("")
    (tmp_path / "alone.py").write_text("")  # no compiled module: nothing shadows it
    (tmp_path / "plain.so").write_bytes(b"")  # the shortest suffix too, with no source
    now = time.time()
    os.utime(tmp_path / f"old{suffix}", (now - 60, now - 60))  # built before the last edit
    os.utime(tmp_path / f"fresh{suffix}", (now + 60, now + 60))
    assert stale(tmp_path) == [tmp_path / "old.py"]
    with pytest.warns(RuntimeWarning, match=r"old\.py.*make compile"):
        warn_if_stale(tmp_path)


def test_without_a_c_compiler_the_judge_is_not_compiled_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sysconfig, "get_config_var", lambda name: "no-such-cc -pthread")
    assert cannot_compile() == "no C compiler (no-such-cc)"
