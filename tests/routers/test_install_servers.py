"""scripts/install-servers.sh, which ``make servers`` (and so ``make test``) runs."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "install-servers.sh"


def test_with_both_servers_installed_the_script_does_nothing_quietly() -> None:
    assert shutil.which("nginx", path="/usr/sbin:/usr/bin") is not None
    assert shutil.which("prometheus", path="/usr/sbin:/usr/bin") is not None
    assert shutil.which("prometheus-alertmanager", path="/usr/sbin:/usr/bin") is not None
    assert shutil.which("wrk", path="/usr/sbin:/usr/bin") is not None
    started = time.monotonic()
    result = subprocess.run([SCRIPT], capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert time.monotonic() - started < 1  # no apt-get run


def test_the_script_is_executable_posix_sh() -> None:
    assert SCRIPT.stat().st_mode & 0o111
    assert SCRIPT.read_text().startswith("#!/bin/sh\n")
    result = subprocess.run(["/bin/sh", "-n", SCRIPT], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
