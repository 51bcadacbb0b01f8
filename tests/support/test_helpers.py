"""The small helpers several packages share: ``/proc`` stat fields, free ports, bucket keys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollsafe.support.buckets import le_key
from rollsafe.support.ports import free_port
from rollsafe.support.procfs import proc_stat

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc only")


@needs_proc
def test_proc_stat_fields_start_after_a_command_name_holding_spaces_and_parentheses(
    tmp_path: Path,
) -> None:
    odd = tmp_path / "a (b) c)"  # the name /proc shows in parentheses, themselves unescaped
    odd.symlink_to(sys.executable)
    child = subprocess.Popen([str(odd), "-c", "import time; time.sleep(30)"])
    try:
        fields = proc_stat(child.pid)
        assert fields is not None
        assert fields[0] in {"R", "S", "D"}  # state comes first (D while it execs)
        assert fields[1] == str(os.getpid())  # then the parent
        assert fields[19].isdigit()  # starttime, what targets tell a reused pid by
    finally:
        child.kill()
        child.wait()


@needs_proc
def test_proc_stat_shows_a_zombie_then_none_once_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while (fields := proc_stat(child.pid)) is not None and fields[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert fields is not None
    assert fields[0] == "Z"
    child.wait()
    assert proc_stat(child.pid) is None


@pytest.mark.parametrize(
    ("host", "family"), [("127.0.0.1", socket.AF_INET), ("[::1]", socket.AF_INET6)]
)
def test_free_port_can_be_bound_on_its_host(host: str, family: socket.AddressFamily) -> None:
    if family == socket.AF_INET6 and not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        port = free_port(host)
    except OSError as error:
        pytest.skip(f"{host} unavailable here: {error}")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host.strip("[]"), port))
    assert 0 < port < 65536


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("0.05", "0.05"),
        ("5e-2", "0.05"),
        ("1", "1.0"),
        ("1.0", "1.0"),
        ("+Inf", "+Inf"),
        ("inf", "+Inf"),
    ],
)
def test_le_key_spells_each_bound_one_way(raw: str, key: str) -> None:
    assert le_key(raw) == key


def test_le_key_refuses_a_bound_that_is_no_number() -> None:
    with pytest.raises(ValueError, match="fast"):
        le_key("fast")
