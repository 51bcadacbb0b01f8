"""``rollsafe demo --router nginx``: release 1.1.0 first runs beside 1.0.0 behind nginx.

The bundled plan gains a ``router`` and, before its ``deploy`` step, canary steps
that send 20% then 33% of requests to one instance of 1.1.0 and compare the two
releases (33%, not 50%: one canary instance beside two of 1.0.0 then serves no more
requests than each of them; at 50% it served twice as many, and on a busy machine
its queue made its tail slower than the baseline's, which the judge rightly saw);
the rest of the plan (deploy, flag steps, guards, rollback) is as bundled. The demo's
load then goes through nginx, which the demo starts before the rollout (as a team
would run it) and stops at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rollsafe.config import Plan, load_plan
from rollsafe.controller.adapters import build_traffic
from rollsafe.demo.choices import ROUTERS as ROUTERS
from rollsafe.demo.prometheus import write_atomically
from rollsafe.errors import RollsafeError
from rollsafe.targets import Target

ROUTER_SECTION = """\
# --router nginx: rollsafe's own nginx splits requests between the releases.
router:
  type: nginx
"""
CANARY_STEPS = """\
  # 1.1.0 runs beside 1.0.0 first, release compared against release.
  - canary:
      release: 1.1.0
      weight: 20
  - analysis:
      duration: 8s
      arms: release
  - canary:
      release: 1.1.0
      weight: 33
  - analysis:
      duration: 8s
      arms: release
"""
_DEPLOY = "  - deploy:\n"


def use_router(plan_path: Path) -> None:
    """Rewrite the plan file with the router and the canary steps (see the module doc).

    Checked before it is written: every bundled step must still be there, in order,
    after the canary steps, and nothing else may change (RollsafeError otherwise).
    """
    text = plan_path.read_text()
    before = load_plan(plan_path, text)
    if before.router is not None or text.count(_DEPLOY) != 1 or text.count("\nsteps:\n") != 1:
        raise RollsafeError(f"{plan_path}: not the bundled plan the router demo extends")
    routed = text.replace("\nsteps:\n", f"\n{ROUTER_SECTION}steps:\n").replace(
        _DEPLOY, CANARY_STEPS + _DEPLOY
    )
    after = load_plan(plan_path, routed)
    canaries = [step for step in after.steps if step.canary is not None]
    kept = [step for step in after.steps if step.canary is None and not _compares_releases(step)]
    if len(canaries) != 2 or kept != before.steps:
        raise RollsafeError(f"{plan_path}: adding the canary steps would change the others")
    write_atomically(plan_path, routed)


@contextmanager
def entry_points(
    router: str, plan: Plan, home: Path, target: Target, *, keep_running: bool
) -> Iterator[Callable[[], list[str]]]:
    """Where clients send requests: the instances, or the plan's nginx in front of the
    instances running now. nginx stops when the block ends, unless ``keep_running``;
    meanwhile the controller's own view of the router moves it with each deploy.
    """
    traffic = build_traffic(plan, home, target) if router == "nginx" else None
    if traffic is None:
        yield target.endpoints
        return
    nginx = traffic.router
    try:
        traffic.sync()
        url = nginx.url
        yield lambda: [url]
    finally:
        if not keep_running:
            nginx.stop()


def _compares_releases(step: object) -> bool:
    analysis = getattr(step, "analysis", None)
    return analysis is not None and analysis.arms == "release"
