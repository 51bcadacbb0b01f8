"""An nginx of rollsafe's own that splits traffic between stable and canary instances.

Everything lives in the router's ``home`` directory, never in ``/etc``:
``nginx.conf`` (the configuration in force), ``state.json`` (the split in force,
the one before it, the port), ``nginx.pid``, ``error.log``, ``access.log`` (with
the upstream that served each request), ``requests.log`` (a JSON record of each
request for router metrics, see :mod:`rollsafe.routers.records`) and ``temp/``.

Changing the split (:meth:`NginxRouter.set_weights`) is: render the new
configuration, check it with ``nginx -t`` (refused → RouterError, nothing
changed), move it into place, reload nginx gracefully (``SIGHUP``: new workers
take new connections, old ones finish their requests, none is dropped), wait
until nginx answers with the new configuration and, when servers left the
split, until the old workers have finished their requests (``drain_timeout``:
until then they may still send a request to those servers, so the caller must
not stop them yet), and only then record it in ``state.json``. If nginx does
not take it within ``reload_timeout``, the old file is put back and nginx told
to reload it. A controller that dies midway and calls again converges:
applying the split already in force is a no-op, and one whose file was written
but not confirmed is applied again.

To know which configuration answers, each carries a random id served by a
second virtual server on the same port, ``GET /config`` with ``Host:
rollsafe-router.invalid`` (a reserved name no client uses).

nginx runs as a daemon in its own session: it keeps routing if the controller
stops, and a new :class:`NginxRouter` over the same home adopts it through the
pid file. Started as root, workers run as ``config.user`` (``nobody``); request
and response bodies are buffered in memory (``max_body_bytes``), so workers
need no access to the home directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from rollsafe.config.routers import NginxRouter as NginxRouterConfig
from rollsafe.routers.base import RouterError, Split
from rollsafe.routers.processes import accepting, children, is_nginx, wait_gone
from rollsafe.routers.records import record_directives
from rollsafe.support.http import http_client
from rollsafe.support.ports import free_port

log = logging.getLogger(__name__)

CONTROL_HOST = "rollsafe-router.invalid"
"""The ``Host`` of the router's own virtual server, which says which configuration runs."""
UPSTREAM = "rollsafe_backend"
MAINTENANCE_RETRY_AFTER = 5
"""Seconds the maintenance page tells clients to wait before they retry."""
_UNSAFE_IN_PATHS = set("\"$;{}\\\n\r'#")


class NginxRouter:
    """A :class:`~rollsafe.routers.TrafficRouter` running nginx from ``home`` (created if missing).

    ``start``, ``stop``, ``set_weights`` and ``restore_previous`` are idempotent
    and serialised across processes by a lock file in ``home``.
    """

    def __init__(self, config: NginxRouterConfig, *, home: Path) -> None:
        self.config = config
        self.home = Path(home).absolute()
        if unsafe := set(str(self.home)) & _UNSAFE_IN_PATHS:
            raise RouterError(
                f"the router's home {self.home} has characters nginx would read as syntax: "
                + " ".join(sorted(map(repr, unsafe)))
            )
        self.conf_file = self.home / "nginx.conf"
        self.pid_file = self.home / "nginx.pid"
        self.error_log = self.home / "error.log"
        self.access_log = self.home / "access.log"
        self.records_log = self.home / "requests.log"
        self.state_file = self.home / "state.json"

    # -- what is in force -----------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The port nginx listens on: the configured one, else the one chosen at first start."""
        port = self.config.listen_port or self._state().get("port")
        return int(port) if port else None

    @property
    def url(self) -> str:
        """``http://host:port`` for clients on this machine; RouterError before the first start."""
        if self.port is None:
            raise RouterError("the router has no port yet: start it first")
        return f"http://{_connect_host(self.config.listen_host)}:{self.port}"

    @property
    def split(self) -> Split | None:
        """The split in force, None before the first :meth:`set_weights`."""
        current = self._state().get("current")
        return None if current is None else Split.from_json(current)

    @property
    def previous(self) -> Split | None:
        """The split :meth:`restore_previous` returns to."""
        previous = self._state().get("previous")
        return None if previous is None else Split.from_json(previous)

    def running(self) -> bool:
        """Whether this home's nginx master process is alive."""
        return self._master_pid() is not None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start nginx with the split in force (503 to every request before the first one).

        A no-op when it already runs. RouterError if nginx is missing, its
        configuration is refused, the port is taken, or it does not answer within
        ``reload_timeout``.
        """
        with self._locked():
            if self._master_pid() is not None:
                return
            state = self._state()
            port = (
                self.config.listen_port
                or state.get("port")
                or free_port(_connect_host(self.config.listen_host))
            )
            state["port"] = port
            state.setdefault("config_id", secrets.token_hex(8))
            current = state.get("current")
            split = None if current is None else Split.from_json(current)
            maintenance = state.get("maintenance")
            self._write_checked(
                self.render(split, state["config_id"], int(port), maintenance=maintenance)
            )
            self._save_state(state)
            self.pid_file.unlink(missing_ok=True)
            self._nginx("-c", str(self.conf_file))
            try:
                self._wait_for_config(state["config_id"], "start")
            except RouterError:
                self._kill_master()
                raise

    def stop(self) -> None:
        """Stop gracefully (``SIGQUIT``: requests in flight finish), then harder; idempotent."""
        with self._locked():
            pid = self._master_pid()
            if pid is None:
                self.pid_file.unlink(missing_ok=True)
                return
            workers = children(pid)
            for sig, seconds in (
                (signal.SIGQUIT, self.config.reload_timeout),
                (signal.SIGTERM, 2.0),
                (signal.SIGKILL, 2.0),
            ):
                if sig == signal.SIGKILL:
                    log.warning("nginx %s ignored SIGQUIT and SIGTERM; killing it", pid)
                    for worker in workers:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(worker, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if wait_gone(pid, seconds):
                    self.pid_file.unlink(missing_ok=True)
                    return
            raise RouterError(f"nginx {pid} did not stop, even on SIGKILL")

    # -- the split ------------------------------------------------------------------------

    def set_weights(self, stable: Sequence[str], canary: Sequence[str], canary_weight: int) -> None:
        """Send ``canary_weight`` percent of new requests to ``canary``, the rest to ``stable``.

        Servers are ``host:port``; each set shares its part equally. Weight 0 leaves
        the canary servers out, 100 the stable ones. Returns once nginx serves the
        new split (when it runs; otherwise the next :meth:`start` does). RouterError
        if the split is invalid, ``nginx -t`` refuses it or the reload does not take:
        the split in force stays.
        """
        split = Split.of(stable, canary, canary_weight)
        with self._locked():
            state = self._state()
            self._apply(state, split, previous=state.get("current"))

    def restore_previous(self) -> None:
        """Return to the split in force before the last change (idempotent).

        RouterError if there was none. Calling it again keeps that split: the
        previous split is remembered until the next :meth:`set_weights`.
        """
        with self._locked():
            state = self._state()
            if state.get("previous") is None:
                raise RouterError("no previous split to restore")
            previous = Split.from_json(state["previous"])
            self._apply(state, previous, previous=state["previous"])

    def set_maintenance(self, retry_after: int = MAINTENANCE_RETRY_AFTER) -> None:
        """Answer every request with ``503`` and ``Retry-After: retry_after`` (idempotent).

        For when no instance serves (stopped for a restore): clients get a clear
        answer to retry, never a 502, whatever the service does with rollsafe's
        maintenance marker. The next :meth:`set_weights` ends it; the split in force
        and the previous one are kept.
        """
        with self._locked():
            state = self._state()
            self._apply(state, self.split, previous=state.get("previous"), maintenance=retry_after)

    @property
    def in_maintenance(self) -> bool:
        """Whether nginx answers 503 to everything (see :meth:`set_maintenance`)."""
        return self._state().get("maintenance") is not None

    def render(
        self, split: Split | None, config_id: str, port: int, *, maintenance: int | None = None
    ) -> str:
        """The nginx configuration serving ``split`` on ``port``, identified by ``config_id``;
        with ``maintenance`` (seconds), the maintenance page instead of the split."""
        config = self.config
        listen = f"{_bracketed(config.listen_host)}:{port}"
        user = ""
        if os.geteuid() == 0:
            name = config.user or "nobody"
            try:
                group = grp.getgrgid(pwd.getpwnam(name).pw_gid).gr_name
            except KeyError as error:
                raise RouterError(f"no user {name!r} to run nginx workers as") from error
            user = f"user {name} {group};\n"
        if maintenance is not None:
            backend = (
                "            default_type text/plain;\n"
                f"            add_header Retry-After {int(maintenance)} always;\n"
                '            return 503 "maintenance: the service is being restored;'
                f' retry in {int(maintenance)} seconds\\n";'
            )
            upstream = ""
        elif split is None:
            backend = (
                "            default_type text/plain;\n"
                '            return 503 "no split set yet\\n";'
            )
            upstream = ""
        else:
            servers = "".join(
                f"        server {address} weight={weight};  # {arm}\n"
                for address, weight, arm in split.server_weights()
            )
            idle = config.upstream_keepalive
            keepalive = f"        keepalive 32;\n        keepalive_timeout {_millis(idle)};\n"
            upstream = f"    upstream {UPSTREAM} {{\n{servers}{keepalive if idle else ''}    }}\n"
            backend = f"            proxy_pass http://{UPSTREAM};"
        temp = self.home / "temp"
        body = config.max_body_bytes
        return f"""# Written by rollsafe ({config_id}); edits are overwritten on the next change.
{user}worker_processes {config.worker_processes};
daemon on;
pid "{self.pid_file}";
error_log "{self.error_log}" warn;
events {{
    worker_connections 1024;
}}
http {{
    log_format rollsafe '$remote_addr [$time_iso8601] "$request" $status '
                        '$body_bytes_sent $request_time upstream=$upstream_addr';
    access_log "{self.access_log}" rollsafe;
{record_directives(self.records_log, config.variant_header)}
    client_body_temp_path "{temp / "body"}";
    proxy_temp_path "{temp / "proxy"}";
    fastcgi_temp_path "{temp / "fastcgi"}";
    uwsgi_temp_path "{temp / "uwsgi"}";
    scgi_temp_path "{temp / "scgi"}";
    keepalive_timeout {_millis(config.client_keepalive) if config.client_keepalive else 0};
    client_max_body_size {body};
    client_body_buffer_size {body};
    proxy_max_temp_file_size 0;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_connect_timeout {_millis(config.connect_timeout)};
    proxy_read_timeout {_millis(config.read_timeout)};
    proxy_send_timeout {_millis(config.read_timeout)};
    proxy_next_upstream error timeout;
{upstream}    server {{
        listen {listen} default_server;
        location / {{
{backend}
        }}
    }}
    server {{
        listen {listen};
        server_name {CONTROL_HOST};
        access_log off;
        location = /config {{
            default_type text/plain;
            return 200 "{config_id}\\n";
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""

    # -- internals ------------------------------------------------------------------------

    def _apply(
        self,
        state: dict[str, Any],
        split: Split | None,
        *,
        previous: Any,
        maintenance: int | None = None,
    ) -> None:
        wanted = None if split is None else split.to_json()
        running = self._master_pid() is not None
        in_force = not running or self._live_id() == state.get("config_id")
        if (wanted, maintenance) == (state.get("current"), state.get("maintenance")) and in_force:
            return  # already in force
        port = self.port
        if port is None:  # never started: the port is chosen now and kept
            port = free_port(_connect_host(self.config.listen_host))
        old_text = self.conf_file.read_text() if self.conf_file.exists() else None
        config_id = secrets.token_hex(8)
        self._write_checked(self.render(split, config_id, port, maintenance=maintenance))
        if running:
            leaving = _servers(state) - _servers({"current": wanted, "maintenance": maintenance})
            try:
                # Not in force: the configuration nginx runs is unknown, so it may name anything.
                self._reload(config_id, drain=bool(leaving) or not in_force)
            except RouterError:
                self._roll_back_file(old_text, state.get("config_id"))
                raise
        state.update(port=port, config_id=config_id, current=wanted, previous=previous)
        state.pop("maintenance", None)
        if maintenance is not None:
            state["maintenance"] = maintenance
            log.info("nginx: maintenance page (Retry-After: %s)", maintenance)
        elif split is not None:
            log.info("nginx split: %s%% to %s", split.canary_weight, ", ".join(split.canary) or "-")
        self._save_state(state)

    def _roll_back_file(self, old_text: str | None, old_id: str | None) -> None:
        if old_text is None:
            self.conf_file.unlink(missing_ok=True)
            return
        self.conf_file.write_text(old_text)
        with contextlib.suppress(RouterError):
            if old_id is not None:
                self._reload(old_id)

    def _write_checked(self, text: str) -> None:
        """Check ``text`` with ``nginx -t``; only if it passes, make it ``nginx.conf``."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "temp").mkdir(exist_ok=True)
        candidate = self.home / "nginx.conf.next"
        candidate.write_text(text)
        try:
            self._nginx("-t", "-q", "-c", str(candidate))
        except RouterError as error:
            candidate.unlink(missing_ok=True)
            raise RouterError(f"nginx refused the configuration: {error}") from error
        os.replace(candidate, self.conf_file)

    def _kill_master(self) -> None:
        pid = self._master_pid()
        if pid is not None:
            for worker in children(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 2.0)
        self.pid_file.unlink(missing_ok=True)

    def _nginx(self, *args: str) -> None:
        """Run nginx with this home as its prefix; RouterError with nginx's messages if it fails."""
        argv = [self._binary(), "-p", f"{self.home}/", "-e", str(self.error_log), *args]
        output = self.home / "nginx.out"
        try:
            with output.open("w+b") as out:
                # The daemon it may fork keeps no pipe of ours open: output goes to a file.
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=self.config.command_timeout,
                    start_new_session=True,
                    check=False,
                )
                out.seek(0)
                text = out.read().decode(errors="replace").strip()
        except subprocess.TimeoutExpired as error:
            raise RouterError(
                f"{' '.join(argv)} took longer than {self.config.command_timeout:g}s"
            ) from error
        except OSError as error:
            raise RouterError(f"cannot run {argv[0]}: {error}") from error
        if result.returncode != 0:
            raise RouterError(text or f"{' '.join(argv)} exited with {result.returncode}")

    def _binary(self) -> str:
        binary = self.config.binary
        if "/" in binary:
            return binary
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin")
        if found is None:
            raise RouterError(f"{binary} not found on PATH nor in /usr/sbin")
        return found

    def _reload(self, config_id: str, *, drain: bool = False) -> None:
        """Until new connections get ``config_id``; with ``drain``, until the workers of
        earlier configurations have also finished their requests (or ``drain_timeout``)."""
        pid = self._master_pid()
        if pid is None:
            raise RouterError("nginx is not running")
        old_workers = children(pid)
        os.kill(pid, signal.SIGHUP)
        self._wait_for_config(config_id, "reload")
        # The master tells the old workers to stop accepting ~100 ms after starting the
        # new ones; until then a new connection may still land on the old configuration.
        deadline = time.monotonic() + self.config.reload_timeout
        while any(accepting(worker) for worker in old_workers):
            if time.monotonic() > deadline:
                raise RouterError(
                    f"nginx's old workers still accept connections {self.config.reload_timeout:g}s"
                    f" after the reload; {self._error_tail()}"
                )
            time.sleep(0.01)
        if drain:
            self._wait_drained(old_workers)

    def _wait_drained(self, old_workers: list[int]) -> None:
        """Until the old workers exit: each does once its last request is answered."""
        deadline = time.monotonic() + self.config.drain_timeout
        while busy := [worker for worker in old_workers if is_nginx(worker)]:
            if time.monotonic() > deadline:
                log.warning(
                    "nginx's old workers %s still serve requests %gs after the reload;"
                    " servers that left the split may still get some",
                    busy,
                    self.config.drain_timeout,
                )
                return
            time.sleep(0.01)

    def _wait_for_config(self, config_id: str, what: str) -> None:
        """Until new connections are served by the configuration ``config_id``."""
        deadline = time.monotonic() + self.config.reload_timeout
        live: str | None = None
        while True:
            live = self._live_id()
            if live == config_id:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        raise RouterError(
            f"nginx did not serve the new configuration within {self.config.reload_timeout:g}s "
            f"after {what} (it answers {live or 'nothing'}); {self._error_tail()}"
        )

    def _live_id(self) -> str | None:
        """The id of the configuration that answers a new connection, None if none does."""
        if self.port is None:
            return None
        # A new connection each time: a kept-alive one may belong to an old configuration's worker.
        try:
            with http_client(timeout=1.0, limits=httpx.Limits(max_keepalive_connections=0)) as c:
                response = c.get(f"{self.url}/config", headers={"Host": CONTROL_HOST})
        except httpx.HTTPError:
            return None
        return response.text.strip() if response.status_code == 200 else None

    def _error_tail(self, lines: int = 5) -> str:
        try:
            tail = self.error_log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "no error log"
        return f"{self.error_log}: " + " | ".join(tail) if tail else "nothing in the error log"

    def _master_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_nginx(pid) else None

    def _state(self) -> dict[str, Any]:
        try:
            state = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise RouterError(f"cannot read {self.state_file}: {error}") from error
        if not isinstance(state, dict):
            raise RouterError(f"{self.state_file} is not a JSON object")
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(temporary, self.state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _servers(state: dict[str, Any]) -> set[str]:
    """The servers the configuration of ``state`` sends requests to."""
    if state.get("maintenance") is not None or state.get("current") is None:
        return set()
    return {address for address, _, _ in Split.from_json(state["current"]).server_weights()}


def _millis(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _connect_host(listen_host: str) -> str:
    """Where a client on this machine reaches a server listening on ``listen_host``."""
    host = listen_host.strip("[]")
    if host in ("0.0.0.0", "*", ""):  # noqa: S104 - mapping a wildcard to loopback
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return _bracketed(host)
