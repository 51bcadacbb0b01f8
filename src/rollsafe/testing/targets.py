"""A target in memory: releases, instances and health you can break, every call recorded.

It implements :class:`~rollsafe.targets.CanaryTarget` as the process target
does (a deploy replaces the stable instances, a canary runs beside them, the
router hears each change through ``on_change``) but starts nothing, so a
rollout over it runs in milliseconds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

from rollsafe.errors import TargetError
from rollsafe.targets import HealthReport, Instance, InstanceHealth
from rollsafe.targets.state import Role

_PORTS = itertools.count(42000)
"""Fake ports, unique across targets so addresses in a router's split never clash."""


class FakeTarget:
    """Where releases "run": ``release`` is live on ``instances`` healthy instances.

    ``releases`` limits what can be deployed (a deploy of another one raises
    TargetError, as a missing release directory does); None allows any.
    """

    def __init__(
        self,
        release: str | None = "1.0.0",
        *,
        instances: int = 2,
        canary_instances: int = 1,
        releases: Iterable[str] | None = None,
    ) -> None:
        self.instance_count = instances
        self.canary_count = canary_instances
        self.releases = set(releases) if releases is not None else None
        self.release = release
        self.previous: str | None = None
        self.canary: str | None = None
        self.maintenance = False
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        """Every call of the target protocol, in order: ``(method, arguments)``."""
        self.on_change: Callable[[], None] | None = None
        self.on_call: Callable[[str, tuple[Any, ...]], None] | None = None
        """Called with each call as it is recorded, before it acts (unless it fails): a
        test's hook to make something happen "during" a deploy (a pause request, a crash)."""
        self._unhealthy: set[str] = set()
        self._failing: dict[str, BaseException] = {}
        self._stable = self._start(release, instances, "stable") if release else []
        self._canary: list[Instance] = []

    # -- breaking it on demand ------------------------------------------------

    def break_health(self, release: str | None = None) -> None:
        """Instances of ``release`` (default: the live one) fail health checks from now on."""
        self._unhealthy.add(release or self.release or "")

    def heal(self) -> None:
        """Every release answers its health checks again."""
        self._unhealthy.clear()

    def fail(self, method: str, error: BaseException | None = None) -> None:
        """Make every call of ``method`` (``deploy``, ``stop``...) raise ``error``
        (a TargetError by default) until :meth:`repair`; a BaseException that nothing
        catches stands for the controller process dying there."""
        self._failing[method] = error or TargetError(f"{method} failed (FakeTarget.fail)")

    def repair(self) -> None:
        """Calls stop failing."""
        self._failing.clear()

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of each call of ``method``, in order."""
        return [arguments for name, arguments in self.calls if name == method]

    # -- the Target protocol ---------------------------------------------------

    def current_release(self) -> str | None:
        return self.release

    def previous_release(self) -> str | None:
        return self.previous

    def deploy(self, release: str) -> bool:
        """Replace the stable instances with ``release``'s; False when they already run it."""
        self._record("deploy", release)
        self._check_installed(release)
        if release == self.release and self._stable:
            return False
        if release != self.release:
            self.previous = self.release
        self.release = release
        self._replace(stable=self._start(release, self.instance_count, "stable"))
        return True

    def endpoints(self) -> list[str]:
        return [instance.url for instance in self._stable]

    def check_health(self) -> HealthReport:
        self._record("check_health")
        running = [*self._stable, *self._canary]
        expected = self.instance_count + (self.canary_count if self._canary else 0)
        return HealthReport(
            expected,
            tuple(
                InstanceHealth(i, i.release not in self._unhealthy, self._reason(i))
                for i in running
            ),
        )

    def stop(self) -> None:
        self._record("stop")
        self._replace(stable=[], canary=[])
        self.canary = None

    def set_maintenance(self, on: bool) -> None:
        self._record("set_maintenance", on)
        self.maintenance = on

    # -- the CanaryTarget protocol ----------------------------------------------

    def stable_instances(self) -> list[Instance]:
        return list(self._stable)

    def canary_instances(self) -> list[Instance]:
        return list(self._canary)

    def canary_release(self) -> str | None:
        return self.canary

    def deploy_canary(self, release: str) -> bool:
        self._record("deploy_canary", release)
        self._check_installed(release)
        if release == self.canary:
            return False
        self.canary = release
        self._replace(canary=self._start(release, self.canary_count, "canary"))
        return True

    def stop_canary(self) -> bool:
        self._record("stop_canary")
        if self.canary is None:
            return False
        self.canary = None
        self._replace(canary=[])
        return True

    def announce(self) -> None:
        self._record("announce")
        if self.on_change is not None:
            self.on_change()

    def problems_at(self, addresses: Iterable[str]) -> list[str]:
        """Why each of ``addresses`` (``127.0.0.1:port``) would not serve: stopped or unhealthy."""
        by_address = {f"127.0.0.1:{i.port}": i for i in [*self._stable, *self._canary]}
        problems = []
        for address in addresses:
            instance = by_address.get(address)
            if instance is None:
                problems.append(f"upstream {address} is down (no instance)")
            elif (reason := self._reason(instance)) is not None:
                problems.append(f"upstream {address} is unhealthy ({reason})")
        return problems

    # -- internals -------------------------------------------------------------

    def _record(self, method: str, *arguments: Any) -> None:
        self.calls.append((method, arguments))
        if method in self._failing:
            raise self._failing[method]
        if self.on_call is not None:
            self.on_call(method, arguments)

    def _check_installed(self, release: str) -> None:
        if self.releases is not None and release not in self.releases:
            raise TargetError(f"release {release} is not installed")

    def _reason(self, instance: Instance) -> str | None:
        return "broken by FakeTarget.break_health" if instance.release in self._unhealthy else None

    def _replace(
        self, *, stable: list[Instance] | None = None, canary: list[Instance] | None = None
    ) -> None:
        """New instances in, the router told (before the old ones "stop", as the real one)."""
        if stable is not None:
            self._stable = stable
        if canary is not None:
            self._canary = canary
        if self.on_change is not None:
            self.on_change()

    @staticmethod
    def _start(release: str, count: int, role: Role) -> list[Instance]:
        now = time.time()
        instances = []
        for index in range(count):
            port = next(_PORTS)
            url = f"http://127.0.0.1:{port}"
            instances.append(Instance(index, 0, port, release, url, now, role))
        return instances
