from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollsafe.config import Plan, load_plan
from rollsafe.demo.runner import prepare_workdir
from rollsafe.targets import ProcessTarget

STEPS = """\
steps:
  - backup:
  - deploy: {release: 1.1.0}
  - flag: {name: fast-checkout, rollout: 10}
  - pause: {duration: 2s}
  - flag: {name: fast-checkout, rollout: 50}
  - pause: {duration: 2s}
  - flag: {name: fast-checkout, rollout: 100}
  - promote:
"""


@dataclass
class Shop:
    """The real sample shop, 1.0.0 live with two instances, and a plan over it."""

    workdir: Path
    home: Path
    plan_path: Path
    plan: Plan
    target: ProcessTarget
    controllers: list[subprocess.Popen[str]] = field(default_factory=list)

    def rollsafe(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_rollsafe(self, *args: str) -> subprocess.Popen[str]:
        """A CLI process, killed and reaped when the test ends however it ends (one left
        running would be collected in a later test, failing it with a ResourceWarning)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.controllers.append(process)
        return process


def with_steps(plan_text: str, steps: str) -> str:
    return plan_text[: plan_text.index("steps:")] + steps


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    workdir = tmp_path / "demo"
    plan_path = prepare_workdir(workdir, "none")
    plan_path.write_text(with_steps(plan_path.read_text(), STEPS))
    home = workdir / "home"
    plan = load_plan(plan_path)
    target = ProcessTarget(plan.target, service=plan.service, home=home)
    target.deploy("1.0.0")
    shop = Shop(workdir, home, plan_path, plan, target)
    try:
        yield shop
    finally:
        # A controller still running would go on deploying after the stop below.
        for process in shop.controllers:
            if process.poll() is None:
                process.kill()
            process.communicate()
        target.stop()
