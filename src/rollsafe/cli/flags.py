"""``rollsafe flags``: the kill switch and gradual rollout, from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rollsafe.cli.home import home_of
from rollsafe.cli.output import EXIT_INVALID, console, fail, print_json, reported_errors
from rollsafe.flags import rollout_feature

app = typer.Typer(help="Set, list and show feature flags.", no_args_is_help=True)


@app.command("set")
def set_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Flag name.")],
    rollout: Annotated[
        float | None, typer.Option("--rollout", help="Percentage of users (0-100) who get it.")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Turn the flag off for everyone.")] = False,
    actor: Annotated[str, typer.Option("--actor", help="Who is changing it (journaled).")] = "cli",
) -> None:
    """Turn a flag on for a percentage of users, or off."""
    if (rollout is None) == (not off):
        fail("give exactly one of --rollout N or --off", EXIT_INVALID)
    if rollout is not None and not 0 <= rollout <= 100:
        fail(f"--rollout: must be between 0 and 100, got {rollout:g}", EXIT_INVALID)
    definition = rollout_feature(name, rollout or 0, enabled=not off)
    with reported_errors():
        store = home_of(ctx).open_store()
        record = store.put_flag(name, definition, actor=actor)
        store.close()
    state = "off" if off else f"on for {rollout:g}%"
    console.print(f"flag [bold]{name}[/bold] {state} (version {record.version})")


@app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List flags with their state."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        flags = store.list_flags()
        store.close()
    if as_json:
        print_json([{"name": f.name, "version": f.version, **f.definition} for f in flags])
        return
    table = Table("flag", "enabled", "strategies", "version", "updated by")
    for f in flags:
        strategies = ", ".join(
            f"{s.get('name')}({s.get('parameters', {}).get('rollout', '')})"
            for s in f.definition.get("strategies", [])
        )
        table.add_row(
            f.name, str(f.definition.get("enabled")), strategies, str(f.version), f.updated_by
        )
    console.print(table)


@app.command()
def get(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Print one flag's Unleash feature document."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        record = store.get_flag(name)
        store.close()
    print_json({"version": record.version, "updated_by": record.updated_by, **record.definition})
