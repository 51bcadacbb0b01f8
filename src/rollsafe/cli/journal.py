"""``rollsafe journal``: read and verify the hash-chained journal."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Annotated

import typer
from rich.markup import escape

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, describe, print_json, reported_errors
from rollsafe.journal.chain import canonical_json

app = typer.Typer(help="Show and verify the journal.", no_args_is_help=True)


@app.command()
def show(
    ctx: typer.Context,
    rollout: Annotated[str | None, typer.Option("--rollout", help="Only this rollout.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line, per entry (JSON lines).")
    ] = False,
) -> None:
    """Print journal entries in order."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        entries = store.journal(rollout)
        store.close()
    if as_json:
        # JSON lines: greppable, and a reader can start on the first entry.
        for entry in entries:
            print(json.dumps(entry.to_dict(), sort_keys=True, default=str))
        return
    for entry in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.ts))
        line = describe(entry) or escape(canonical_json(entry.data)[:160])
        console.print(f"[dim]{entry.seq:>5} {stamp}[/dim] [cyan]{entry.kind}[/cyan] {line}")


@app.command()
def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Exit 0 when every entry is intact; exit 1 naming the first broken entry."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        result = store.verify_journal()
        store.close()
    if as_json:
        print_json(dataclasses.asdict(result))
    elif result.ok:
        console.print(f"[green]journal intact:[/green] {result.entries} entries, chain verified")
    else:
        console.print(f"[red]journal broken at entry {result.broken_seq}:[/red] {result.reason}")
    if not result.ok:
        raise typer.Exit(Exit.ERROR)
