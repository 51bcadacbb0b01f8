"""The process target: N instances of a release as local processes on loopback ports.

The embedded default, like pm2 or systemd on one VM. ``current`` is the
desired state; every operation converges the running instances onto it, one
slot at a time (start the new instance, wait until it is healthy, put it in
the live set, then stop the old one), so at least ``instances - 1`` healthy
instances serve throughout and an interrupted operation is finished by
running it again.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from rollsafe.config import ProcessTarget as ProcessTargetConfig
from rollsafe.errors import HealthCheckError, TargetError
from rollsafe.support.ports import free_port
from rollsafe.targets import health, procs
from rollsafe.targets.discovery import discovery_file, write_targets
from rollsafe.targets.health import HealthReport
from rollsafe.targets.releases import Releases
from rollsafe.targets.state import Entry, Instance, Role, StateFile, locked

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_TAIL_BYTES = 4096
_TAIL_LINES = 20


class ProcessTarget:
    """Run a service's releases as local processes (see the module docstring).

    Reading methods (``instances``, ``endpoints``, ``check_health``, the
    release names) take no lock and are safe from any thread or process.
    Acting methods hold ``<root>/run/lock``, so two controllers never
    interleave their changes. ``store``, the state store's address, reaches each
    instance as ``ROLLSAFE_STORE`` (services reading flags from the store use it).
    """

    def __init__(
        self, config: ProcessTargetConfig, *, service: str, home: Path, store: str | None = None
    ) -> None:
        self.config = config
        self.service = service
        self.home = Path(home).absolute()
        self.store = store
        self.root = Path(config.root).absolute()
        self._releases = Releases(self.root)
        self._state = StateFile(self.root / "run" / "instances.json")
        self.on_change: Callable[[], None] | None = None
        """Called, under the target's lock, whenever the ready instances changed and before
        a replaced one stops: a traffic router re-points at the new set there."""
        self.discovery = discovery_file(self.home, service)
        """The Prometheus ``file_sd`` targets file, rewritten at every change."""
        check = config.health
        per_slot = check.retries * (check.timeout + check.interval) + config.stop_timeout
        slots = config.instances + config.canary_instances
        self._lock_timeout = 2 * slots * per_slot + 30

    # -- reading --------------------------------------------------------------------------

    def releases(self) -> list[str]:
        """Release directories under ``<root>/releases/``, in version order."""
        return self._releases.names()

    def current_release(self) -> str | None:
        """The release the ``current`` link names: the desired, normally live, release."""
        return self._releases.current()

    def previous_release(self) -> str | None:
        """The release ``current`` named before it last changed."""
        return self._releases.previous()

    def instances(self) -> list[Instance]:
        """Live instances that passed readiness, stable and canary, by slot; dead or
        reused pids are left out."""
        return [entry.instance() for entry in self._live() if entry.status == "ready"]

    def stable_instances(self) -> list[Instance]:
        return [instance for instance in self.instances() if instance.role == "stable"]

    def canary_instances(self) -> list[Instance]:
        return [instance for instance in self.instances() if instance.role == "canary"]

    def canary_release(self) -> str | None:
        """The release the canary instances run, None when there is no canary."""
        return next((instance.release for instance in self.canary_instances()), None)

    def endpoints(self) -> list[str]:
        """Base URLs (``http://127.0.0.1:PORT``) of the live instances."""
        return [instance.url for instance in self.instances()]

    def check_health(self) -> HealthReport:
        """One health probe of each live instance; never raises for an unhealthy one.

        While a canary runs, its instances are expected too."""
        instances = self.instances()
        expected = self.config.instances
        if any(instance.role == "canary" for instance in instances):
            expected += self.config.canary_instances
        return health.report(instances, expected, self.config.health)

    # -- acting ---------------------------------------------------------------------------

    @property
    def maintenance_marker(self) -> Path:
        return self.root / procs.MAINTENANCE_MARKER

    def set_maintenance(self, on: bool) -> None:
        """Services that honour it answer 503 (except health) while the marker exists."""
        procs.mark_maintenance(self.maintenance_marker, on)

    def in_maintenance(self) -> bool:
        return self.maintenance_marker.exists()

    def deploy(self, release: str) -> bool:
        """Make ``release`` live by rolling replacement; False when there was nothing to do.

        ``current`` is switched first (it is the desired state). If an instance
        of the new release does not become healthy, it is killed, ``current``
        and ``previous`` are switched back, any slot already replaced returns
        to the old release, and HealthCheckError says why (with the log tail).
        An unknown release raises TargetError and changes nothing.
        """
        self._releases.require(release)
        with self._locked():
            before = self._releases.current(), self._releases.previous()
            switched = self._releases.switch(release)
            try:
                converged = self._converge(release, replace_all=False)
            except TargetError as exc:
                if not switched:
                    raise
                raise self._revert(*before, exc) from exc
            return switched or converged

    def start(self) -> None:
        """Ensure ``instances`` healthy instances of the current release run."""
        self._require_current()
        with self._locked():
            self._converge(self._require_current(), replace_all=False)

    def deploy_canary(self, release: str) -> bool:
        """Run ``config.canary_instances`` instances of ``release`` beside the stable ones;
        False when they already run. ``current`` does not change: the stable instances
        keep serving, and a router decides which share of traffic the canary gets.

        A canary of another release is replaced. If a canary instance does not become
        healthy, every canary instance is stopped and HealthCheckError says why.
        """
        self._releases.require(release)
        with self._locked():
            live = [e for e in self._live() if e.role == "canary"]
            ready = [
                e for e in live
                if e.status == "ready" and e.release == release
                and e.index < self.config.canary_instances
                and health.responds(e.url, self.config.health)
            ]  # fmt: skip
            stale = [e for e in live if not any(e.same_process(r) for r in ready)]
            self._retire(stale)
            taken = {e.index for e in ready}
            missing = [i for i in range(self.config.canary_instances) if i not in taken]
            try:
                for index in missing:
                    self._replace(index, None, release, role="canary")
            except TargetError:
                self._retire([e for e in self._live() if e.role == "canary"])
                raise
            return bool(stale or missing)

    def announce(self) -> None:
        """Tell ``on_change`` (and the Prometheus targets file) the instances ready now, under
        the lock, so no concurrent change lands in between: a router that missed changes
        (moved by a plan without it, or a crash) is put right."""
        with self._locked():
            self._changed()

    def stop_canary(self) -> bool:
        """Stop the canary instances (after a router sent their traffic elsewhere);
        False when there were none."""
        with self._locked():
            canaries = [e for e in self._live() if e.role == "canary"]
            self._retire(canaries)
            return bool(canaries)

    def restart(self) -> None:
        """Replace every instance of the current release, one slot at a time."""
        self._require_current()
        with self._locked():
            self._converge(self._require_current(), replace_all=True)

    def stop(self) -> None:
        """Stop every instance and its process group: SIGTERM, then SIGKILL after
        ``stop_timeout``. Also stops processes of this target that a crashed
        controller never recorded. Idempotent."""
        if not self.root.is_dir():
            procs.stop_groups(set(procs.marked(self.root).values()), self.config.stop_timeout)
            return
        with self._locked():
            try:
                entries = self._state.read()
            except TargetError:
                entries = []  # a corrupt record: the marker sweep below still finds every process
            live = [entry for entry in entries if procs.running(entry.pid, entry.start_ticks)]
            if live:
                self._state.write([replace(entry, status="draining") for entry in live])
                self._changed_if_possible()  # a router shows its maintenance page first
            groups = {entry.pid for entry in live} | set(procs.marked(self.root).values())
            procs.stop_groups(groups, self.config.stop_timeout)
            self._state.write([])
            self._changed_if_possible()

    # -- internals (callers hold the lock) ------------------------------------------------

    def _locked(self) -> AbstractContextManager[None]:
        return locked(self.root / "run" / "lock", self._lock_timeout)

    def _require_current(self) -> str:
        current = self._releases.current()
        if current is None:
            releases = ", ".join(self._releases.names()) or "none"
            raise TargetError(
                f"no release is current under {self.root}; deploy one first (releases: {releases})"
            )
        return current

    def _live(self) -> list[Entry]:
        return [e for e in self._state.read() if procs.running(e.pid, e.start_ticks)]

    def _update(self, change: Callable[[list[Entry]], list[Entry]]) -> None:
        self._state.write(change(self._live()))

    def _converge(self, release: str, *, replace_all: bool) -> bool:
        """Bring every slot to a healthy instance of ``release``; True if anything changed."""
        self._releases.require(release)
        count = self.config.instances
        everything = self._live()
        canaries = [e for e in everything if e.role == "canary"]
        live = [e for e in everything if e.role == "stable"]
        keep: dict[int, Entry] = {}
        for entry in sorted(live, key=lambda e: e.started_at, reverse=True):
            if entry.status == "ready" and entry.index < count and entry.index not in keep:
                keep[entry.index] = entry
        extra = [e for e in live if not any(e.same_process(k) for k in keep.values())]
        changed = any(entry.status == "ready" for entry in extra)
        self._retire(extra)
        known = {entry.pid for entry in [*keep.values(), *canaries]}
        orphans = procs.orphans(self.root, known)
        procs.stop_groups(set(orphans.values()), self.config.stop_timeout)

        slots: list[tuple[int, Entry | None]] = []
        for index in range(count):
            old = keep.get(index)
            if (
                old is None
                or replace_all
                or old.release != release
                or not health.responds(old.url, self.config.health)
            ):
                slots.append((index, old))
        slots.sort(key=lambda slot: slot[1] is not None)  # fill empty slots first
        for index, old in slots:
            self._replace(index, old, release)
        return changed or bool(slots)

    def _retire(self, entries: Iterable[Entry]) -> None:
        """Take entries out of the live set, stop their process groups, forget them."""
        retiring = list(entries)
        if not retiring:
            return

        def among(entry: Entry) -> bool:
            return any(entry.same_process(other) for other in retiring)

        self._update(lambda es: [replace(e, status="draining") if among(e) else e for e in es])
        self._changed()  # traffic leaves them before they stop
        procs.stop_groups({entry.pid for entry in retiring}, self.config.stop_timeout)
        self._update(lambda es: [e for e in es if not among(e)])

    def _replace(
        self, index: int, old: Entry | None, release: str, *, role: Role = "stable"
    ) -> None:
        """Start ``release`` in slot ``index``; once healthy it takes the place of ``old``."""
        port = self._free_port()
        started_at = time.time()
        process, log = self._spawn(index, release, port, role)
        entry: Entry | None = None
        reason: str | None
        try:
            ticks = procs.start_ticks(process.pid)
            if ticks is None:
                reason = f"process {_exit_reason(process) or 'vanished'} before it became healthy"
            else:
                new = Entry(index, process.pid, port, release, started_at, ticks, "starting", role)
                entry = new
                self._update(lambda es: [*es, new])
                reason = health.wait_ready(
                    new.url, self.config.health, lambda: _exit_reason(process)
                )
        except BaseException:
            self._discard(process, entry)
            raise
        if reason is not None or entry is None:
            self._discard(process, entry)
            raise HealthCheckError(
                f"instance {index} of {self.service} {release} (port {port}): {reason}\n"
                f"last lines of {log}:\n{_tail(log)}"
            )
        ready = replace(entry, status="ready")

        def swap(entries: list[Entry]) -> list[Entry]:
            swapped = []
            for e in entries:
                if e.same_process(ready):
                    e = ready
                elif old is not None and e.same_process(old):
                    e = replace(e, status="draining")
                swapped.append(e)
            return swapped

        self._update(swap)  # one write: the new instance takes traffic, the old one stops taking it
        self._changed()
        if old is not None:
            self._retire([old])

    def _changed(self) -> None:
        try:
            write_targets(self.discovery, self.service, self.instances())
        except TargetError as error:  # Prometheus's view is not worth failing a deploy for
            log.warning("%s", error)
        if self.on_change is not None:
            self.on_change()

    def _changed_if_possible(self) -> None:
        """For a stop: a router that cannot follow must not keep the instances running."""
        try:
            self._changed()
        except TargetError as error:
            log.warning("stopping %s without its router following: %s", self.service, error)

    def _spawn(
        self, index: int, release: str, port: int, role: Role
    ) -> tuple[subprocess.Popen[bytes], Path]:
        release_dir = self._releases.path(release)
        values = {
            "python": sys.executable,
            "port": str(port),
            "release": release,
            "release_dir": str(release_dir),
            "instance": str(index),
            "root": str(self.root),
            "home": str(self.home),
        }
        argv = [_fill(arg, values) for arg in self.config.command]
        env = {
            **os.environ,
            **{key: _fill(value, values) for key, value in self.config.env.items()},
            procs.MARKER: str(self.root),
            "ROLLSAFE_SERVICE": self.service,
            "ROLLSAFE_RELEASE": release,
            "ROLLSAFE_INSTANCE": str(index),
            "ROLLSAFE_PORT": str(port),
            "ROLLSAFE_ROLE": role,
        }
        if self.store is not None:
            env["ROLLSAFE_STORE"] = self.store  # where flags live, in the environment: URLs
            # may carry a password, which argv would show to every user of the machine
        name = f"{release}-{index}" if role == "stable" else f"{release}-canary-{index}"
        log = self.home / "logs" / self.service / f"{name}.log"
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        header = (
            f"--- rollsafe {stamp}: {role} instance {index} of {self.service} {release} "
            f"on port {port}: {shlex.join(argv)}\n"
        )
        return procs.spawn(argv, env=env, cwd=release_dir, log=log, header=header), log

    def _discard(self, process: subprocess.Popen[bytes], entry: Entry | None) -> None:
        """Kill a new instance that will not serve, and forget it."""
        if process.poll() is None or procs.group_members(process.pid):
            procs.stop_groups([process.pid], self.config.stop_timeout)
        if entry is not None:
            self._update(lambda es: [e for e in es if not e.same_process(entry)])

    def _revert(self, current: str | None, previous: str | None, cause: TargetError) -> TargetError:
        """After a failed deploy: links back as they were, the old release serving again."""
        self._releases.restore(current, previous)
        try:
            if current is None:
                self._retire(self._live())
                note = "nothing was live before, so nothing runs now and `current` is unset again"
            else:
                self._converge(current, replace_all=False)
                note = f"`current` names {current} again, and {current} is serving"
        except TargetError as again:
            note = f"`current` names {current} again, but returning to it failed: {again}"
        return type(cause)(f"{cause}\n{note}")

    def _free_port(self) -> int:
        """A free loopback port (bind port 0), not one an instance of ours already uses."""
        used = {entry.port for entry in self._state.read()}
        try:
            for _ in range(20):
                port = free_port()
                if port not in used:
                    return port
        except OSError as exc:
            raise TargetError(f"cannot find a free loopback port: {exc}") from exc
        raise TargetError("cannot find a free loopback port that no instance uses")


def _fill(text: str, values: dict[str, str]) -> str:
    """Substitute known ``{placeholders}``; other braces are left as written."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _exit_reason(process: subprocess.Popen[bytes]) -> str | None:
    code = process.poll()
    return None if code is None else procs.describe_exit(code)


def _tail(log: Path) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - _TAIL_BYTES))
            data = handle.read()
    except OSError as exc:
        return f"(cannot read the log: {exc})"
    lines = data.decode(errors="replace").splitlines()[-_TAIL_LINES:]
    return "\n".join(f"  {line}" for line in lines) or "  (empty)"
