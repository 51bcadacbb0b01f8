"""The two servers under test: ``rollsafe server`` and the official ``unleash-server``.

Each runs as its own process, pinned with taskset to the cores given (the load
generator gets the others), on a free loopback port, loaded with the same flags
through its own admin API. Unleash is installed from npm into a directory outside
the repository and keeps its state in its own PostgreSQL database, dropped and
created anew for each run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.unleash_compare.flagset import ENVIRONMENT
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from rollsafe.support.ports import free_port

UNLEASH_VERSION = "8.2.0"
UNLEASH_DIR = Path(
    os.environ.get("ROLLSAFE_BENCH_UNLEASH_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "rollsafe-bench"
    / f"unleash-server-{UNLEASH_VERSION}"
)
"""Where unleash-server is installed (outside the repository; override with the env var)."""
POSTGRES = os.environ.get("ROLLSAFE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "rollsafe_bench_unleash"

_START_JS = """\
const unleash = require('unleash-server');
unleash.start({
  db: { host: process.env.DB_HOST, port: Number(process.env.DB_PORT), user: process.env.DB_USER,
        password: process.env.DB_PASSWORD || '', database: process.env.DB_NAME, ssl: false },
  server: { port: Number(process.env.PORT), host: '127.0.0.1' },
  logLevel: 'error',
}).then(() => console.log('unleash started'))
  .catch((error) => { console.error(error); process.exit(1); });
"""


@dataclass
class Running:
    """A server under test: where it listens, its tokens, and its process."""

    name: str
    url: str
    client_token: str
    admin_token: str
    process: subprocess.Popen[bytes]
    evaluate_token: str = ""
    """The token of its server-side evaluation API (Unleash: a frontend token)."""
    peer_token: str = ""
    """A client token for all projects (Unleash replaces a ``project`` query by the
    projects of a project-bound token); the client token when empty."""


OWN_SESSION = True
"""Start each server and each wrk run in a session of its own (`subprocess` ``start_new_session``).

Linux's scheduler (with autogroup, as on Debian's kernels) shares the CPU fairly among
sessions first, then among a session's tasks, and splits a session's share across the
cores its tasks run on by how busy each is. With the server and wrk in the bench's
own session, the faster a server answers the busier wrk is on its core and the less of
the server's core the session gets: rollsafe's server, runnable but waiting, used 26%
of its core where unleash-server (slower, so wrk idled) used 98%. In sessions of their
own each gets a full share on its core, whatever the other does."""


def pinned(command: list[str], cores: str | None) -> list[str]:
    if cores and shutil.which("taskset"):
        return ["taskset", "-c", cores, *command]
    return command


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- rollsafe ---------------------------------------------------------------------------------


@contextlib.contextmanager
def rollsafe(flags: list[dict[str, Any]], cores: str | None) -> Iterator[Running]:
    with tempfile.TemporaryDirectory(prefix="rollsafe-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        store = SqliteStore(home / "rollsafe.db")
        try:
            admin, record = new_token("bench-admin", TokenScope.ADMIN, created_by="bench")
            store.add_token(record, actor="bench")
            client, record = new_token("bench-client", TokenScope.CLIENT, created_by="bench")
            store.add_token(record, actor="bench")
        finally:
            store.close()
        port = free_port()
        command = [sys.executable, "-m", "rollsafe", "--home", str(home), "server",
                   "--port", str(port), "--log-level", "warning"]  # fmt: skip
        # Its output to a file: a pipe nobody reads would fill up and stall the server.
        log = (Path(tmp) / "server.log").open("wb")
        process = subprocess.Popen(
            pinned(command, cores), stdout=log, stderr=log, start_new_session=OWN_SESSION
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(f"{url}/health", process, 30, "rollsafe server")
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
            ) as api:
                for flag in flags:
                    keys = ("name", "enabled", "strategies", "variants", "project", "tags")
                    definition = {k: flag[k] for k in keys if k in flag}
                    api.put(
                        f"/api/admin/flags/{flag['name']}",
                        json={"definition": definition, "expected_version": 0},
                    ).raise_for_status()
            yield Running("rollsafe", url, client, admin, process, evaluate_token=client)
        finally:
            stop(process)
            log.close()


# -- unleash-server ---------------------------------------------------------------------------


def unleash_available() -> str | None:
    """None when node and npm are there to run unleash-server, else why not."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found" if missing else None


def install_unleash(directory: Path = UNLEASH_DIR) -> Path:
    """unleash-server from npm into ``directory`` (once); the directory."""
    package = directory / "node_modules" / "unleash-server" / "package.json"
    if not package.exists():
        directory.mkdir(parents=True, exist_ok=True)
        print(f"installing unleash-server {UNLEASH_VERSION} into {directory} ...", file=sys.stderr)
        # The arguments on their own lines: a comment after "install" would swallow the
        # rest of its line (the --prefix once was, and npm installed into the cwd).
        command = ["npm", "install", "--prefix", str(directory), "--no-audit", "--no-fund",
                   "--loglevel=error", f"unleash-server@{UNLEASH_VERSION}"]  # fmt: skip
        subprocess.run(command, check=True)
    (directory / "start.js").write_text(_START_JS)
    return directory


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


@contextlib.contextmanager
def unleash(flags: list[dict[str, Any]], cores: str | None) -> Iterator[Running]:
    directory = install_unleash()
    _fresh_database()
    port = free_port()
    admin = "*:*.rollsafe-bench-admin"
    client = f"default:{ENVIRONMENT}.rollsafe-bench-client"
    frontend = f"default:{ENVIRONMENT}.rollsafe-bench-frontend"
    every_project = f"*:{ENVIRONMENT}.rollsafe-bench-peer"
    address = POSTGRES.removeprefix("postgresql://")
    user, _, host_port = address.rpartition("@")
    host, _, db_port = host_port.partition(":")
    env = {
        **os.environ,
        "PORT": str(port),
        "DB_HOST": host,
        "DB_PORT": db_port or "5432",
        "DB_USER": user or "postgres",
        "DB_NAME": DATABASE,
        "INIT_ADMIN_API_TOKENS": admin,
        "INIT_BACKEND_API_TOKENS": f"{client},{every_project}",
        # The delta API (/api/client/delta) is behind this flag in 8.2: on, to compare it.
        "UNLEASH_EXPERIMENTAL_DELTA_API": "true",
        "INIT_FRONTEND_API_TOKENS": frontend,
        "NODE_ENV": "production",
        # Its rate limits (20,000 SDK requests and token checks per minute by default)
        # would answer 429 within seconds: measure the server, not its limiter.
        "SDK_API_RATE_LIMIT_PER_MINUTE": "1000000000",
        "TOKEN_AUTHENTICATION_RATE_LIMIT_PER_MINUTE": "1000000000",
    }
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(
        pinned(["node", "start.js"], cores), cwd=directory, env=env, stdout=log, stderr=log,
        start_new_session=OWN_SESSION,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(f"{url}/health", process, 180, "unleash-server")
        except RuntimeError:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        _load_unleash(url, admin, flags)
        # Unleash serves client features from a cache refreshed on change events: wait for it.
        _wait_for_count(url, client, len(flags))
        yield Running(
            "unleash-server", url, client, admin, process,
            evaluate_token=frontend, peer_token=every_project,
        )  # fmt: skip
    finally:
        stop(process)
        log.close()


def _load_unleash(url: str, admin: str, flags: list[dict[str, Any]]) -> None:
    project = f"{url}/api/admin/projects/default/features"

    def load(flag: dict[str, Any]) -> None:
        with httpx.Client(headers={"Authorization": admin}, timeout=60) as api:
            name = flag["name"]
            api.post(project, json={"name": name, "type": "release"}).raise_for_status()
            for strategy in flag["strategies"]:
                api.post(
                    f"{project}/{name}/environments/{ENVIRONMENT}/strategies", json=strategy
                ).raise_for_status()
            for tag in flag.get("tags", []):
                api.post(f"{url}/api/admin/features/{name}/tags", json=tag).raise_for_status()
            if flag["enabled"]:
                api.post(f"{project}/{name}/environments/{ENVIRONMENT}/on").raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(load, flags))


def _wait_for_count(url: str, token: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{url}/api/client/features", headers={"Authorization": token}, timeout=10
        )
        seen = len(json.loads(response.content).get("features", []))
        if response.status_code == 200 and seen == count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"unleash-server serves {seen} features, not {count}")
