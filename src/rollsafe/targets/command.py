"""The command target: releases deployed by running commands, as on a VM by hand.

The runbooks' ``git checkout TAG && install && restart``, then ``curl /health``,
as a program: ``deploy`` steps (argv lists, never a shell) run one after the
other, each within ``timeout``; then every endpoint must pass its health check
within its retries; then the ``verify`` steps run. Going back to the previous
release runs the ``rollback`` steps instead.

``<state_dir>/state.json`` records ``current`` (the release last deployed or
being deployed), ``previous`` (what ``current`` named before it last changed),
the ``status`` of ``current`` (``deploying``, ``live``, ``failed``,
``stopped``), and the command running now. A failed deploy leaves ``current``
naming the failed release (the host may be half way), so going back to
``previous`` always runs the rollback steps. ``deploy`` of the current release
does nothing only when it is ``live`` and its endpoints answer; after a crash or
a failure it runs every step again, so steps must be idempotent, as ``git
checkout`` and ``supervisorctl restart`` are. A command left running by a
controller that died is stopped by the next acting call.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from rollsafe.config.command_target import CommandTarget as CommandTargetConfig
from rollsafe.errors import HealthCheckError, TargetError
from rollsafe.targets import health, procs
from rollsafe.targets.execute import CommandResult, run_command
from rollsafe.targets.health import HealthReport
from rollsafe.targets.state import Instance, locked

Status = Literal["deploying", "live", "failed", "stopped"]
_FORMAT = 1
_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
"""Release names (as in plans): never an option (``-x``) or a path once templated."""


class CommandError(TargetError):
    """A command failed (non-zero exit, timeout, could not start); ``result`` says how."""

    def __init__(self, message: str, result: CommandResult, results: Sequence[CommandResult]):
        super().__init__(message)
        self.result = result
        self.results = tuple(results)
        """Every command this operation ran, the failed one last."""


class CommandHealthError(HealthCheckError):
    """The commands succeeded but an endpoint did not become healthy, or a verify step failed."""

    def __init__(
        self, message: str, results: Sequence[CommandResult], result: CommandResult | None = None
    ):
        super().__init__(message)
        self.result = result
        """The failed verify command; None when an endpoint's health check failed."""
        self.results = tuple(results)


@dataclass(frozen=True)
class _Running:
    pid: int
    start_ticks: int
    argv: list[str]


@dataclass(frozen=True)
class _State:
    current: str | None = None
    previous: str | None = None
    status: Status | None = None
    action: str | None = None
    """The steps that made ``current`` (``deploy``, ``rollback`` or ``start``)."""
    running: _Running | None = None
    updated_at: float = field(default_factory=time.time)


class CommandTarget:
    """Deploy releases by running the plan's commands (see the module docstring).

    Reading methods take no lock. Acting methods (``deploy``, ``rollback``,
    ``start``, ``stop``) hold ``<state_dir>/lock``, so two controllers never
    interleave their commands. ``on_result`` is called with each finished
    command (the controller journals it: `rollsafe.controller.commands`);
    ``last_results`` holds those of the last acting call.
    """

    def __init__(
        self,
        config: CommandTargetConfig,
        *,
        service: str,
        home: Path | None = None,
        on_result: Callable[[CommandResult], None] | None = None,
    ) -> None:
        del home  # accepted for the same signature as ProcessTarget; commands keep no logs
        self.config = config
        self.service = service
        self.state_dir = Path(config.state_dir).absolute()
        self.cwd = Path(config.cwd).absolute()
        self.on_result = on_result
        self.last_results: tuple[CommandResult, ...] = ()
        self._results: list[CommandResult] = []
        check = config.health
        lists = (config.deploy, config.rollback or [], config.start or [], config.stop)
        steps = max(len(steps) for steps in lists) + len(config.verify)
        health_time = check.retries * (check.timeout + check.interval)
        slowest = 2 * (steps * config.timeout + health_time) + 30
        self._lock_timeout = config.lock_wait or slowest

    # -- reading --------------------------------------------------------------------------

    def current_release(self) -> str | None:
        """The release last deployed (or being deployed); ``status()`` says whether it is live."""
        return self._read().current

    def previous_release(self) -> str | None:
        """The release ``current`` named before it last changed."""
        return self._read().previous

    def status(self) -> Status | None:
        """``deploying``, ``live``, ``failed`` or ``stopped``; None before the first deploy."""
        return self._read().status

    def endpoints(self) -> list[str]:
        """The configured base URLs, placeholders filled in."""
        values = self._values(release="", previous="")
        return [url.format_map(values) for url in self.config.endpoints]

    def instances(self) -> list[Instance]:
        """One per endpoint. Their pids are not known here: ``pid`` is 0."""
        state = self._read()
        return [
            Instance(index, 0, urlsplit(url).port or 0, state.current or "", url, state.updated_at)
            for index, url in enumerate(self.endpoints())
        ]

    def check_health(self) -> HealthReport:
        """One health probe of each endpoint; never raises for an unhealthy one."""
        instances = self.instances()
        return health.report(instances, len(instances), self.config.health)

    @property
    def maintenance_marker(self) -> Path:
        return self.state_dir / procs.MAINTENANCE_MARKER

    def set_maintenance(self, on: bool) -> None:
        """Create or remove ``<state_dir>/maintenance``; a service may honour it."""
        procs.mark_maintenance(self.maintenance_marker, on)

    def in_maintenance(self) -> bool:
        return self.maintenance_marker.exists()

    # -- acting ---------------------------------------------------------------------------

    def deploy(self, release: str) -> bool:
        """Make ``release`` live; False when it already is and its endpoints answer.

        Going back to ``previous`` runs the ``rollback`` steps. Raises
        CommandError when a command fails (later steps do not run) and
        CommandHealthError when the endpoints or ``verify`` fail afterwards;
        either way ``current`` names ``release`` with status ``failed``.
        """
        if not _RELEASE.match(release):
            raise TargetError(f"invalid release name {release!r} (letters, digits, '.', '_', '-')")
        with self._acting() as state:
            if state.current == release and state.status == "live" and self._responds():
                return False
            if state.current == release:  # again, after a failure, a crash or a stop
                previous = state.previous
                action = "rollback" if state.action == "rollback" else "deploy"
            else:
                previous = state.current
                action = "rollback" if release == state.previous else "deploy"
            steps = self.config.deploy
            if action == "rollback" and self.config.rollback is not None:
                steps = self.config.rollback
            self._write(_State(release, previous, "deploying", action))
            self._converge(release, previous, action, steps)
            return True

    def rollback(self) -> bool:
        """Deploy the previous release with the ``rollback`` steps; TargetError if there is none."""
        previous = self.previous_release()
        if previous is None:
            raise TargetError(f"{self.service}: no previous release to roll back to")
        return self.deploy(previous)

    def start(self) -> None:
        """Make the current release serve again: the ``start`` steps (else ``deploy``) unless it
        is live and answering."""
        with self._acting() as state:
            if state.current is None:
                raise TargetError(f"{self.service}: no release is current; deploy one first")
            if state.status == "live" and self._responds():
                return
            steps = self.config.start if self.config.start is not None else self.config.deploy
            self._write(replace(state, status="deploying", action="start", running=None))
            self._converge(state.current, state.previous, "start", steps)

    def stop(self) -> None:
        """Run the ``stop`` steps (nothing when there are none or nothing was deployed)."""
        with self._acting() as state:
            if not self.config.stop or state.current is None:
                return
            values = self._values(state.current, state.previous or "")
            self._run("stop", self.config.stop, values)
            self._write(replace(self._read(), status="stopped", running=None))

    # -- internals ------------------------------------------------------------------------

    @contextmanager
    def _acting(self) -> Iterator[_State]:
        """Hold the lock, stop a leftover command, collect this call's command results."""
        with locked(self.state_dir / "lock", self._lock_timeout):
            self._results = []
            try:
                yield self._reap_leftover(self._read())
            finally:
                self.last_results = tuple(self._results)

    def _converge(
        self, release: str, previous: str | None, action: str, steps: Sequence[Sequence[str]]
    ) -> None:
        """Run ``steps`` for ``release``, then health and verify; record live or failed."""
        values = self._values(release, previous or "")
        try:
            self._run(action, steps, values)
            self._wait_healthy(release, values)
        except TargetError:
            self._write(replace(self._read(), status="failed", running=None))
            raise
        self._write(replace(self._read(), status="live", running=None))

    def _run(self, step: str, steps: Sequence[Sequence[str]], values: dict[str, str]) -> None:
        env = {
            **os.environ,
            **{key: value.format_map(values) for key, value in self.config.env.items()},
            "ROLLSAFE_SERVICE": self.service,
            "ROLLSAFE_RELEASE": values["release"],
            "ROLLSAFE_PREVIOUS": values["previous"],
        }
        for number, template in enumerate(steps, start=1):
            argv = [arg.format_map(values) for arg in template]
            result = run_command(
                argv,
                step=step,
                cwd=self.cwd,
                env=env,
                timeout=self.config.timeout,
                on_start=self._record_running(argv),
            )
            self._results.append(result)
            if self.on_result is not None:
                self.on_result(result)
            if not result.ok:
                raise CommandError(
                    f"{self.service}: {step} step {number} of {len(steps)}, "
                    f"`{result.command}`, {result.describe()}\n{result.tail()}",
                    result,
                    self._results,
                )

    def _record_running(self, argv: list[str]) -> Callable[[int], None]:
        def record(pid: int) -> None:
            ticks = procs.start_ticks(pid)
            if ticks is not None:
                self._write(replace(self._read(), running=_Running(pid, ticks, argv)))

        return record

    def _wait_healthy(self, release: str, values: dict[str, str]) -> None:
        check = self.config.health
        urls = self.endpoints()
        with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
            reasons = list(pool.map(lambda url: health.wait_ready(url, check, _alive), urls))
        failing = [f"{url}: {reason}" for url, reason in zip(urls, reasons, strict=True) if reason]
        if failing:
            raise CommandHealthError(
                f"{self.service} {release}: {len(failing)} of {len(urls)} endpoints unhealthy "
                "after the commands succeeded:\n" + "\n".join(f"  {line}" for line in failing),
                self._results,
            )
        try:
            self._run("verify", self.config.verify, values)
        except CommandError as exc:
            raise CommandHealthError(str(exc), exc.results, exc.result) from exc

    def _responds(self) -> bool:
        urls = self.endpoints()
        with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
            return all(pool.map(lambda url: health.responds(url, self.config.health), urls))

    def _values(self, release: str, previous: str) -> dict[str, str]:
        return {
            "release": release,
            "previous": previous,
            "cwd": str(self.cwd),
            "state_dir": str(self.state_dir),
            "service": self.service,
            "python": sys.executable,
        }

    def _reap_leftover(self, state: _State) -> _State:
        """Stop the command a dead controller left running (same pid and start time)."""
        running = state.running
        if running is None:
            return state
        if procs.running(running.pid, running.start_ticks):
            procs.stop_groups([running.pid], 2.0)
        state = replace(state, running=None)
        self._write(state)
        return state

    # -- the state file -------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    def _read(self) -> _State:
        try:
            text = self._state_file.read_text()
        except FileNotFoundError:
            return _State(updated_at=0.0)
        except OSError as exc:
            raise TargetError(f"cannot read {self._state_file}: {exc}") from exc
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            if data["status"] not in (None, *get_args(Status)):
                raise ValueError(f"unknown status {data['status']!r}")
            running = data.get("running")
            return _State(
                current=_opt(data["current"]),
                previous=_opt(data["previous"]),
                status=data["status"],
                action=_opt(data.get("action")),
                running=None
                if running is None
                else _Running(int(running["pid"]), int(running["start_ticks"]), running["argv"]),
                updated_at=float(data["updated_at"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TargetError(f"{self._state_file} is corrupt: {exc}") from exc

    def _write(self, state: _State) -> None:
        """Atomically: a temp file, fsync, rename over the old one, fsync the directory."""
        document = {"format": _FORMAT, **asdict(replace(state, updated_at=time.time()))}
        path = self._state_file
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as out:
                json.dump(document, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            directory = os.open(self.state_dir, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise TargetError(f"cannot write {path}: {exc}") from exc


def _alive() -> str | None:
    return None  # a command target does not own the service's processes


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
