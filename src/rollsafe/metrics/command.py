"""Observations from a command: an argv (no shell) that prints one arm's observation as JSON.

For backends that cannot run here (Datadog, CloudWatch, New Relic): a small
script queries them and prints DESIGN.md's observation. One look runs the
command once per arm, ``{arm}``/``{release}`` filled in its argv and
``ROLLSAFE_ARM`` (``canary`` or ``baseline``) in its environment.

The command runs in a session of its own, so a timeout kills its whole process
group (a shell script's children included), and rollsafe waits for nothing it
did not bound. A look fails with a MetricsError naming the reason, and changes
no total, when a command cannot start, exits non-zero, outlives the timeout, or
prints anything but one observation (:mod:`rollsafe.metrics.readings`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable

from rollsafe.config.metric_sources import CommandMetrics
from rollsafe.config.placeholders import substitute
from rollsafe.errors import MetricsError
from rollsafe.metrics.arms import ARMS, arm_values, missing_release
from rollsafe.metrics.readings import ArmReadings, Reading, parse_reading
from rollsafe.typing import Arm, Observation

MAX_OUTPUT = 1024 * 1024
"""Bytes of stdout read at most: one observation is a few hundred."""
_REAP_TIMEOUT = 2.0
"""How long to wait for a killed group's pipes to close (a child that left the group
may hold them)."""


class CommandSource:
    """A :class:`rollsafe.typing.MetricSource` over a command run once per arm and look."""

    def __init__(self, config: CommandMetrics, current_release: Callable[[], str | None]) -> None:
        self.config = config
        self.current_release = current_release
        self._readings = ArmReadings()

    def observe(self, t: float) -> list[Observation]:
        """One look: cumulative observations for ``canary`` then ``baseline`` at time ``t``."""
        # Both arms are read before any total moves: a failed look changes nothing.
        return self._readings.look(t, {arm: self._run(arm) for arm in ARMS})

    def close(self) -> None:
        pass

    def _run(self, arm: Arm) -> Reading:
        values = arm_values(self.config, arm, self.current_release)
        try:
            argv = [substitute(part, values) for part in self.config.argv]
        except KeyError as error:
            raise missing_release(error) from None
        name = f"metrics command {argv[0]!r} ({arm})"
        stdout = _run_bounded(
            argv, {**self.config.env, "ROLLSAFE_ARM": arm}, self.config.timeout, name
        )
        try:
            data = json.loads(stdout)
        except ValueError:
            shown = stdout[:120].decode(errors="replace")
            raise MetricsError(f"{name} did not print JSON: {shown!r}") from None
        try:
            return parse_reading(data)
        except MetricsError as error:
            raise MetricsError(f"{name} printed a bad observation: {error}") from None


def _run_bounded(argv: list[str], env: dict[str, str], timeout: float, name: str) -> bytes:
    """The stdout of ``argv``, or MetricsError; its process group is killed on timeout."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            start_new_session=True,
        )
    except OSError as error:
        raise MetricsError(f"cannot run {name}: {error.strerror or error}") from error
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise MetricsError(
            f"{name} did not finish within {timeout:g}s; its process group was killed"
        ) from None
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no stderr"]
        raise MetricsError(f"{name} exited with {process.returncode}: {detail[0][:200]}")
    if len(stdout) > MAX_OUTPUT:
        raise MetricsError(f"{name} printed more than {MAX_OUTPUT} bytes")
    return stdout


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=_REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # A descendant that left the group still holds the pipes: stop reading them.
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait(timeout=_REAP_TIMEOUT)
