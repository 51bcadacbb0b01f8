"""What a git range changed: files with their added and deleted lines, and the lines added.

Read with the ``git`` program (argv, never a shell, with a timeout), not a library:
what rollsafe reports must be what ``git diff`` shows the person reading it.
Renames are counted as a delete and an add (``--no-renames``): a file moved is
churn in both places. An unknown revision or a path that is no repository raises
`RiskInputError` naming it; nothing is guessed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rollsafe.errors import RiskInputError

GIT_TIMEOUT = 60.0
_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int
    deleted: int
    binary: bool = False

    @property
    def churn(self) -> int:
        return self.added + self.deleted


@dataclass(frozen=True)
class Range:
    """A resolved ``BASE..HEAD``: what was asked and the commits it names."""

    text: str
    base: str
    head: str


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> bytes:
    """Run git in ``repo``; `RiskInputError` with git's own message when it fails."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    program = shutil.which("git")
    if program is None:
        raise RiskInputError("git is not installed: the risk score reads a git range")
    try:
        done = subprocess.run(
            [program, "-c", "core.quotepath=off", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError):
        raise RiskInputError(f"{repo}: no such directory") from None
    except subprocess.TimeoutExpired:
        raise RiskInputError(f"git {args[0]} took more than {timeout:g}s in {repo}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise RiskInputError(f"{repo}: git {args[0]} failed: {message[0] if message else ''}")
    return done.stdout


def resolve_range(repo: Path, text: str) -> Range:
    """``BASE..HEAD`` (tags, branches, commits) resolved to commit ids."""
    base_text, dots, head_text = text.partition("..")
    if not dots or head_text.startswith(".") or not base_text or not head_text:
        raise RiskInputError(
            f"range {text!r}: write it as BASE..HEAD (two dots), e.g. v1.1.0..HEAD"
        )
    if not (repo / ".git").exists():
        try:
            git(repo, "rev-parse", "--git-dir")
        except RiskInputError:
            raise RiskInputError(f"{repo}: not a git repository") from None
    ids = []
    for revision in (base_text, head_text):
        if revision.startswith("-"):
            raise RiskInputError(f"range {text!r}: {revision!r} is not a revision")
        try:
            ids.append(git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"))
        except RiskInputError:
            raise RiskInputError(
                f"range {text!r}: unknown revision {revision!r} in {repo}"
            ) from None
    return Range(text, ids[0].decode().strip(), ids[1].decode().strip())


def changed_files(repo: Path, span: Range) -> list[FileChange]:
    """Every file the range changed, with its line counts (``git diff --numstat``)."""
    out = git(repo, "diff", "--numstat", "-z", "--no-renames", span.base, span.head, "--")
    changes = []
    for record in out.split(b"\0"):
        if not record.strip():
            continue
        added, deleted, path = record.split(b"\t", 2)
        binary = added == b"-"
        changes.append(
            FileChange(
                path.decode(errors="replace"),
                0 if binary else int(added),
                0 if binary else int(deleted),
                binary,
            )
        )
    return changes


def added_lines(repo: Path, span: Range) -> dict[str, set[int]]:
    """Per file, the line numbers (in HEAD) the range added or changed."""
    out = git(repo, "diff", "-U0", "--no-renames", "--no-color", span.base, span.head, "--")
    lines: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in out.split(b"\n"):
        if line.startswith(b"+++ "):
            name = line[4:].decode(errors="replace")
            current = None if name == "/dev/null" else lines.setdefault(name[2:], set())
        elif current is not None and (match := _HUNK.match(line)):
            start, count = int(match[1]), int(match[2] or b"1")
            current.update(range(start, start + count))
    return lines


def commits(repo: Path, span: Range) -> list[str]:
    """The commit ids in the range, newest first."""
    out = git(repo, "rev-list", f"{span.base}..{span.head}")
    return out.decode().split()
