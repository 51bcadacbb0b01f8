"""``rollsafe service``: run a service outside any rollout, its instances and router together.

- ``up PLAN``: the current release's instances (or ``--release``'s), then the
  router pointed at them; prints the front address, instances, release and health.
- ``down PLAN``: stops the router and every instance; nothing is left running
  (``--forget-router``: plans without ``router:`` no longer bring it back).
- ``status PLAN``: what runs and whether it is healthy (``--json`` for scripts).
- ``restart PLAN``: replaces every instance one at a time; the router is pointed
  at each new instance before the old one stops, so no request fails.

The router is the plan's ``router:``, or the one recorded for the plan's target
root by an earlier plan. Exit codes (every subcommand): 0 healthy (``down``:
everything stopped), 1 running but unhealthy or an action failed, 2 a bad plan
or usage, 3 not running.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import Home, home_of
from rollsafe.cli.output import (
    console,
    fail,
    print_json,
    reported_errors,
)
from rollsafe.store import Store

if TYPE_CHECKING:
    from rollsafe.config import Plan
    from rollsafe.controller.traffic import Traffic
    from rollsafe.routers import NginxRouter
    from rollsafe.targets import ProcessTarget

_ACTOR = "cli:service"

app = typer.Typer(
    help="Start, stop, restart and look at a service outside any rollout. Exit codes: "
    "0 healthy (down: all stopped), 1 unhealthy or failed, 2 bad plan or usage, 3 not running.",
    no_args_is_help=True,
)
PlanArgument = Annotated[Path, typer.Argument(help="Plan YAML file (its target and router).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the status as JSON.")]


@app.command()
def up(
    ctx: typer.Context,
    plan: PlanArgument,
    release: Annotated[
        str | None, typer.Option("--release", help="Run this release (it becomes current).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start the current release's instances and the router in front of them."""
    home = home_of(ctx)
    with reported_errors():
        loaded = _load(plan)
        with home.store() as store:
            target, traffic = _wired(loaded, home, store)
            if release is not None:
                target.deploy(release)
            else:
                target.start()
            if traffic is not None:
                target.announce()  # nothing may have changed: the router still comes up
            _exit_with(status_of(loaded, target, _router(loaded, home, store, target)), as_json)


@app.command()
def down(
    ctx: typer.Context,
    plan: PlanArgument,
    forget_router: Annotated[
        bool,
        typer.Option(
            "--forget-router",
            help="Also forget the router recorded for the target root: plans without "
            "router: no longer start it.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Stop the router and every instance; nothing is left running."""
    from rollsafe.controller.traffic import Traffic
    from rollsafe.targets import procs

    home = home_of(ctx)
    with reported_errors():
        loaded = _load(plan)
        with home.store() as store:
            target = _target(loaded, home, store)
            router = _router(loaded, home, store, target)
            if router is not None:
                Traffic(router, target)  # its maintenance page answers while instances stop
            target.stop()
            if router is not None:
                router.stop()
            status = status_of(loaded, target, router)
            left = [f"instance pid {pid}" for pid in sorted(procs.marked(target.root))]
            if router is not None and router.running():
                left.append(f"the router in {router.home}")
            if left:
                fail(f"still running after the stop: {', '.join(left)}")
            if forget_router:
                store.delete_router(str(target.root), actor=_ACTOR)
            _exit_with(status, as_json, stopped=True)


@app.command()
def status(ctx: typer.Context, plan: PlanArgument, as_json: JsonOption = False) -> None:
    """Show the front address, instances, release and health; changes nothing."""
    home = home_of(ctx)
    with reported_errors():
        loaded = _load(plan)
        with home.store() as store:
            target = _target(loaded, home, store)
            _exit_with(status_of(loaded, target, _router(loaded, home, store, target)), as_json)


@app.command()
def restart(ctx: typer.Context, plan: PlanArgument, as_json: JsonOption = False) -> None:
    """Replace every instance, one at a time, with no request failing through the router."""
    home = home_of(ctx)
    with reported_errors():
        loaded = _load(plan)
        with home.store() as store:
            target, _ = _wired(loaded, home, store)
            target.restart()
            _exit_with(status_of(loaded, target, _router(loaded, home, store, target)), as_json)


def status_of(plan: Plan, target: ProcessTarget, router: NginxRouter | None) -> dict[str, Any]:
    """The service's state (``healthy``, ``unhealthy``, ``down``) and what it rests on."""
    report = target.check_health()
    instances = [
        {
            "index": item.instance.index,
            "role": item.instance.role,
            "release": item.instance.release,
            "url": item.instance.url,
            "pid": item.instance.pid,
            "healthy": item.healthy,
            "reason": item.reason,
        }
        for item in report.instances
    ]
    reasons = report.reasons
    front: dict[str, Any] | None = None
    running = bool(instances)
    if router is not None:
        front = _front(router, target)
        reasons += front["problems"]
        running = running or front["running"]
    healthy = running and report.healthy and not (front and front["problems"])
    return {
        "service": plan.service,
        "state": "healthy" if healthy else "unhealthy" if running else "down",
        "release": target.current_release(),
        "front": front,
        "instances": instances,
        "reasons": [] if healthy or not running else reasons,
        "prometheus_targets": str(target.discovery),
    }


def _front(router: NginxRouter, target: ProcessTarget) -> dict[str, Any]:
    from rollsafe.routers.liveness import front_door_problems

    running = router.running()
    split = router.split
    problems = []
    if not running:
        problems.append(f"the router in {router.home} is not running")
    else:
        health = target.config.health
        problems = front_door_problems(router, health.path, health.timeout)
    return {
        "url": router.url if router.port is not None else None,
        "running": running,
        "maintenance": router.in_maintenance,
        "canary_weight": split.canary_weight if split is not None else None,
        "upstreams": [address for address, _, _ in split.server_weights()] if split else [],
        "problems": problems,
    }


def _exit_with(status: dict[str, Any], as_json: bool, *, stopped: bool = False) -> NoReturn:
    if as_json:
        print_json(status)
    else:
        _print(status)
    if stopped:
        raise typer.Exit(Exit.OK if status["state"] == "down" else Exit.ERROR)
    codes = {"healthy": Exit.OK, "unhealthy": Exit.ERROR, "down": Exit.NOT_RUNNING}
    raise typer.Exit(codes[status["state"]])


def _print(status: dict[str, Any]) -> None:
    colour = {"healthy": "green", "unhealthy": "red"}.get(status["state"], "yellow")
    release = status["release"] or "no release"
    console.print(f"[bold]{status['service']}[/bold] {release}: [{colour}]{status['state']}[/]")
    front = status["front"]
    if front is not None:
        where = front["url"] or "no address yet"
        weight = f"{front['canary_weight'] or 0}% canary"
        state = "maintenance page" if front["maintenance"] else weight
        state = state if front["running"] else "stopped"
        console.print(f"  front door  {where}  (nginx, {state})")
    for item in status["instances"]:
        health = "healthy" if item["healthy"] else f"[red]{escape(item['reason'] or '')}[/red]"
        console.print(
            f"  instance {item['index']}  {item['role']} {item['release']}  {item['url']}"
            f"  pid {item['pid']}  {health}"
        )
    for reason in status["reasons"]:
        console.print(f"  [red]✘[/red] {escape(reason)}")
    console.print(f"  Prometheus targets: {status['prometheus_targets']}")


def _load(path: Path) -> Plan:
    from rollsafe.config import load_plan
    from rollsafe.config.plan import ProcessTarget as ProcessTargetConfig

    plan = load_plan(path)
    if not isinstance(plan.target, ProcessTargetConfig):
        fail(
            f"{path}: rollsafe service runs process targets; a command target's own commands "
            "start and stop it",
            Exit.USAGE,
        )
    return plan


def _target(plan: Plan, home: Home, store: Store) -> ProcessTarget:
    from rollsafe.config.plan import ProcessTarget as ProcessTargetConfig
    from rollsafe.targets import ProcessTarget

    assert isinstance(plan.target, ProcessTargetConfig)
    return ProcessTarget(plan.target, service=plan.service, home=home.path, store=store.address)


def _wired(plan: Plan, home: Home, store: Store) -> tuple[ProcessTarget, Traffic | None]:
    """The target with its router following it (recorded for its root when the plan has one)."""
    from rollsafe.controller.adapters import build_traffic

    target = _target(plan, home, store)
    return target, build_traffic(plan, home.path, target, store, actor=_ACTOR)


def _router(plan: Plan, home: Home, store: Store, target: ProcessTarget) -> NginxRouter | None:
    """The plan's router, else the one recorded for the target's root; changes nothing."""
    from rollsafe.controller.adapters import build_router, router_of

    router = build_router(plan, home.path)
    if router is not None:
        return router
    record = store.get_router(str(target.root))
    return None if record is None else router_of(record)
