"""A git repository of the sample service with release tags, and a real supervisord.

``make_repo`` commits ``app.py`` once per release and tags it ``v<release>``;
``Supervisor`` runs supervisord in the foreground (our child, so the test
reaps it) with one program, ``app``, serving the checkout on a loopback port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.ports import unused_port
from tests.targets.conftest import get, pids_in, running

APP = Path(__file__).with_name("app.py")
BIN = Path(sys.executable).parent
SUPERVISORD = BIN / "supervisord"
SUPERVISORCTL = BIN / "supervisorctl"
_GIT = ["git", "-c", "user.name=rollsafe", "-c", "user.email=tests@rollsafe.invalid"]
_GIT += ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [*_GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def make_repo(repo: Path, releases: dict[str, bool]) -> Path:
    """One commit and tag ``v<release>`` per release (``{release: healthy}``), in order."""
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet")
    source = APP.read_text()
    for release, healthy in releases.items():
        text = source.replace('VERSION = "0.0.0"', f'VERSION = "{release}"')
        text = text.replace("HEALTHY = True", f"HEALTHY = {healthy}")
        (repo / "app.py").write_text(text)
        git(repo, "add", "app.py")
        git(repo, "commit", "--quiet", "-m", f"release {release}")
        git(repo, "tag", f"v{release}")
    return repo


class Supervisor:
    """supervisord with program ``app`` = ``python app.py --port PORT`` in ``repo``."""

    def __init__(self, repo: Path, workdir: Path) -> None:
        self.repo = repo
        self.port = unused_port()  # supervisord binds it later: see tests/ports.py
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        # A unix socket path must stay under ~100 bytes; pytest's tmp paths can be longer.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="rs-sv-"))
        socket_path = self._socket_dir / "sock"
        self.conf = workdir / "supervisord.conf"
        self.conf.write_text(
            f"""[unix_http_server]
file={socket_path}

[supervisord]
nodaemon=true
logfile={workdir}/supervisord.log
pidfile={workdir}/supervisord.pid
childlogdir={workdir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{socket_path}

[program:app]
command={sys.executable} app.py --port {self.port}
directory={repo}
autostart=true
autorestart=false
startsecs=0
stopwaitsecs=2
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={workdir}/app.log
"""
        )
        self.process = subprocess.Popen(
            [str(SUPERVISORD), "-c", str(self.conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.app_pids: set[int] = set()

    def ctl(self, *args: str) -> list[str]:
        """The argv of a supervisorctl command for this supervisord."""
        return [str(SUPERVISORCTL), "-c", str(self.conf), *args]

    def wait_serving(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"supervisord exited with {self.process.returncode}")
            try:
                if get(self.url + "/health").status_code == 200:
                    self.note_app()
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer on {self.url} within {timeout}s")
            time.sleep(0.05)

    def note_app(self) -> int:
        """The pid of the app now serving (remembered, so stop() can check it is gone)."""
        pid = int(get(self.url + "/info").json()["pid"])
        self.app_pids.add(pid)
        return pid

    def version(self) -> str:
        self.note_app()
        return get(self.url + "/version").text

    def stop(self) -> list[int]:
        """Stop supervisord (it stops the app) and return the pids still running (none)."""
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, 9)
                    self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        left = [pid for pid in {self.process.pid, *self.app_pids} if running(pid)]
        left += pids_in(self.repo)
        for pid in left:
            os.kill(pid, 9)  # never leave one behind, even on a bug
        return sorted(set(left))
