"""LogTail on real files: each line once, across rotation, truncation and half-written lines."""

from __future__ import annotations

import os
from pathlib import Path

from rollsafe.metrics.tail import LogTail


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


def test_only_lines_written_after_it_was_created_count(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"old-1\nold-2\n")
    tail = LogTail(log)
    append(log, b"new-1\nnew-2\n")
    assert list(tail.read()) == [b"new-1", b"new-2"]
    assert list(tail.read()) == []
    append(log, b"new-3\n")
    assert list(tail.read()) == [b"new-3"]


def test_a_half_written_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"")
    tail = LogTail(log)
    append(log, b'{"status":2')
    assert list(tail.read()) == []
    append(log, b'00}\n{"sta')
    assert list(tail.read()) == [b'{"status":200}']
    append(log, b'tus":500}\n')
    assert list(tail.read()) == [b'{"status":500}']


def test_a_line_begun_before_the_tail_is_not_counted(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"done\nhalf-wri")
    tail = LogTail(log)
    append(log, b"tten\nmine\n")
    assert list(tail.read()) == [b"mine"]


def test_a_file_that_appears_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    tail = LogTail(log)
    assert not tail.following
    assert list(tail.read()) == []
    log.write_bytes(b"first\n")
    assert list(tail.read()) == [b"first"]
    assert tail.following


def test_rotation_by_rename_reads_the_old_file_to_its_end_then_the_new(tmp_path: Path) -> None:
    log, rotated = tmp_path / "requests.log", tmp_path / "requests.log.1"
    log.write_bytes(b"")
    clock = Clock()
    tail = LogTail(log, retire_after=10, clock=clock)
    append(log, b"a\n")
    os.rename(log, rotated)
    append(rotated, b"b\n")  # the writer has not reopened yet
    assert list(tail.read()) == [b"a", b"b"]
    log.write_bytes(b"c\n")  # reopened: a new file at the path
    append(rotated, b"d\n")  # a worker that reopens late
    assert sorted(tail.read()) == [b"c", b"d"]
    assert tail.rotations == 1
    clock.now = 9.0
    append(rotated, b"e\n")
    append(log, b"f\n")
    assert sorted(tail.read()) == [b"e", b"f"]
    clock.now = 19.0  # the old file has been quiet for retire_after: closed
    append(log, b"g\n")
    assert list(tail.read()) == [b"g"]
    append(rotated, b"too late\n")
    append(log, b"h\n")
    assert list(tail.read()) == [b"h"]


def test_a_retired_file_keeps_its_own_half_line(tmp_path: Path) -> None:
    log, rotated = tmp_path / "requests.log", tmp_path / "requests.log.1"
    log.write_bytes(b"")
    tail = LogTail(log)
    append(log, b"par")
    assert list(tail.read()) == []
    os.rename(log, rotated)
    log.write_bytes(b"new\n")
    assert list(tail.read()) == [b"new"]
    append(rotated, b"tial\n")
    assert list(tail.read()) == [b"partial"]


def test_truncation_in_place_starts_again_at_zero(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"")
    tail = LogTail(log)
    append(log, b"one\ntwo\n")
    assert list(tail.read()) == [b"one", b"two"]
    os.truncate(log, 0)
    append(log, b"three\n")
    assert list(tail.read()) == [b"three"]
    assert tail.truncations == 1


def test_overlong_lines_are_dropped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    log.write_bytes(b"")
    tail = LogTail(log, chunk=16, max_line=10)
    append(log, b"short\n" + b"x" * 40 + b"\nafter\n" + b"y" * 12 + b"\nend\n")
    assert list(tail.read()) == [b"short", b"after", b"end"]
    assert tail.oversized == 2


def test_memory_stays_bounded_by_the_chunk_whatever_the_file(tmp_path: Path) -> None:
    """A 20 MB write with no newline at all never sits in memory: it is skipped as it comes."""
    log = tmp_path / "requests.log"
    log.write_bytes(b"")
    tail = LogTail(log, chunk=1 << 16, max_line=1 << 12)
    append(log, b"z" * (20 << 20))
    assert list(tail.read()) == []
    file = tail._current
    assert file is not None
    assert len(file.partial) <= 1 << 12
    append(log, b"\nok\n")
    assert list(tail.read()) == [b"ok"]
    assert tail.oversized == 1
