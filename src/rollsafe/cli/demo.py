"""``rollsafe demo``: the main job on the embedded default, with live progress."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rollsafe.cli.exits import Exit, of_demo
from rollsafe.cli.home import home_of
from rollsafe.cli.output import (
    console,
    fail,
    print_entry,
    print_json,
    reported_errors,
)
from rollsafe.demo.choices import FAULTS, METRICS, ROUTERS
from rollsafe.support.redaction import redacted


def demo(
    ctx: typer.Context,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Where releases, data and state go (wiped first).")
    ] = Path(".rollsafe-demo"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary object.")] = False,
    fault: Annotated[
        str, typer.Option("--fault", help=f"Fault built into release 1.1.0: {', '.join(FAULTS)}.")
    ] = "none",
    rate: Annotated[
        float, typer.Option("--rate", help="Requests per second of load.", min=1)
    ] = 100.0,
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            help="Where analysis and guards read metrics: scrape (each instance's /metrics) "
            "or prometheus (PromQL over a Prometheus the demo runs; needs the prometheus "
            "binary).",
        ),
    ] = "scrape",
    router: Annotated[
        str,
        typer.Option(
            "--router",
            help="none (flags split users) or nginx (1.1.0 first runs beside 1.0.0 as a "
            "canary behind an nginx the demo runs; needs the nginx binary).",
        ),
    ] = "none",
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="State store instead of the workdir's SQLite file: a postgresql:// URL "
            "(use a database of its own: the demo switches its flags off first).",
        ),
    ] = None,
    ui: Annotated[
        bool,
        typer.Option(
            "--ui",
            help="Serve the dashboard over the demo's store, print its URL and a sign-in "
            "token, and keep it up after the rollout until Ctrl-C.",
        ),
    ] = False,
    ui_port: Annotated[
        int, typer.Option("--ui-port", help="Loopback port of the dashboard (0: any free one).")
    ] = 8484,
) -> None:
    """Roll out shop 1.1.0 over 1.0.0 under load, gated by canary analysis."""
    from rollsafe.cli.demo_ui import DemoDashboard
    from rollsafe.demo.runner import run_demo

    store = store or home_of(ctx).store_url  # `rollsafe --store URL demo` works too
    if fault not in FAULTS:
        fail(f"--fault: must be one of {', '.join(FAULTS)}, got {fault!r}", Exit.USAGE)
    if metrics not in METRICS:
        fail(f"--metrics: must be one of {', '.join(METRICS)}, got {metrics!r}", Exit.USAGE)
    if router not in ROUTERS:
        fail(f"--router: must be one of {', '.join(ROUTERS)}, got {router!r}", Exit.USAGE)
    if not as_json:
        console.print(
            f"[bold]rollsafe demo[/bold]: shop 1.0.0 → 1.1.0 (fault: {fault}, "
            f"metrics: {metrics}, router: {router}) in {workdir}"
        )
    dashboard = DemoDashboard(workdir, store, ui_port) if ui else None
    with reported_errors(), dashboard or nullcontext():
        try:
            result = run_demo(
                workdir,
                fault=fault,
                rate=rate,
                on_entry=None if as_json else print_entry,
                store_url=store,
                metrics=metrics,
                router=router,
                before_rollout=dashboard.start if dashboard is not None else None,
            )
        except KeyboardInterrupt:
            console.print("[yellow]interrupted; every demo process was stopped[/yellow]")
            raise typer.Exit(Exit.INTERRUPTED) from None
    if as_json:
        print_json(result.to_dict())
    else:
        table = Table("outcome", "rollback level", "rollout", "seconds", "requests sent")
        level = result.rollback["final_level"] if result.rollback else None
        table.add_row(
            result.outcome,
            f"L{level}" if level else "-",
            result.rollout_id,
            f"{result.seconds:.1f}",
            str(result.load.get("sent", "?")),
        )
        console.print(table)
        if result.report is not None:
            console.print(f"incident report: {result.report}")
        where = f"--store {redacted(store)}" if store else f"--home {result.home}"
        console.print(f"journal: rollsafe {where} journal show --rollout {result.rollout_id}")
        if dashboard is not None:
            dashboard.keep_up(result.rollout_id)
    if (code := of_demo(result.outcome)) is not Exit.OK:
        raise typer.Exit(code)
