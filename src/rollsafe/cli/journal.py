"""``rollsafe journal``: read and verify the hash-chained journal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rollsafe.cli.home import home_of
from rollsafe.cli.output import (
    EXIT_FAILED,
    console,
    describe,
    fail,
    print_json,
    reported_errors,
)
from rollsafe.journal import anchor_of, check_anchor, read_anchor
from rollsafe.journal.chain import canonical_json
from rollsafe.journal.keys import configured_key

app = typer.Typer(help="Show and verify the journal.", no_args_is_help=True)


@app.command()
def show(
    ctx: typer.Context,
    rollout: Annotated[str | None, typer.Option("--rollout", help="Only this rollout.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
) -> None:
    """Print journal entries in order."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        entries = store.journal(rollout)
        store.close()
    if as_json:
        print_json([entry.to_dict() for entry in entries])
        return
    for entry in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.ts))
        line = describe(entry) or escape(canonical_json(entry.data)[:160])
        console.print(f"[dim]{entry.seq:>5} {stamp}[/dim] [cyan]{entry.kind}[/cyan] {line}")


@app.command()
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="Also check that the journal still holds the entry this file (from"
            " 'journal anchor') names: detects a rewrite of the whole chain up to it.",
        ),
    ] = None,
    unkeyed: Annotated[
        int,
        typer.Option(
            "--unkeyed",
            min=0,
            help="With a journal key: how many entries at the start may have plain hashes"
            " (written before the key was set).",
        ),
    ] = 0,
) -> None:
    """Exit 0 when every entry is intact; exit 1 naming the first broken entry.

    With ROLLSAFE_JOURNAL_KEY_FILE set, keyed entries are checked with the key and
    plain ones beyond --unkeyed are refused (see docs/journal.md).
    """
    with reported_errors():
        anchored = read_anchor(anchor) if anchor is not None else None
        store = home_of(ctx).open_existing_store()
        try:
            result = store.verify_journal()
            entries = store.journal() if anchored is not None and result.ok else []
        finally:
            store.close()
    if not result.ok:
        console.print(f"[red]journal broken at entry {result.broken_seq}:[/red] {result.reason}")
        raise typer.Exit(EXIT_FAILED)
    if result.unkeyed > unkeyed:
        console.print(
            f"[red]journal not keyed:[/red] entries 1-{result.unkeyed} have plain hashes although"
            " a journal key is set, so anyone who can write to the store could have rewritten"
            f" them; if they were written before the key was set, pass --unkeyed {result.unkeyed}"
        )
        raise typer.Exit(EXIT_FAILED)
    problem = check_anchor(entries, anchored) if anchored is not None else None
    if problem is not None:
        console.print(f"[red]journal does not match the anchor {anchor}:[/red] {problem}")
        raise typer.Exit(EXIT_FAILED)
    keyed = f", {result.entries - result.unkeyed} keyed" if configured_key() else ""
    held = f", anchored entry {anchored.seq} holds" if anchored is not None else ""
    console.print(
        f"[green]journal intact:[/green] {result.entries} entries, chain verified{keyed}{held}"
    )


@app.command()
def anchor(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(help="Where to write the anchor; - prints it (to send elsewhere)."),
    ],
) -> None:
    """Export the journal's head (entry number and hash) to keep outside the store.

    Keep the anchor where whoever can write to the store cannot (another machine, a
    ticket); 'journal verify --anchor FILE' later detects a rewrite of every entry
    up to it, even a consistent one.
    """
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        try:
            result = store.verify_journal()
            entries = store.journal() if result.ok else []
        finally:
            store.close()
    if not result.ok:
        fail(f"journal broken at entry {result.broken_seq}: {result.reason}; not anchoring it")
    if not entries:
        fail("the journal is empty: nothing to anchor yet")
    taken = anchor_of(entries[-1])
    if str(file) == "-":
        print(taken.to_json(), end="")
        return
    partial = file.with_name(file.name + ".partial")
    try:
        partial.write_text(taken.to_json(), encoding="utf-8")
        partial.replace(file)
    except OSError as error:
        fail(f"cannot write the anchor to {file}: {error.strerror or error}")
    console.print(
        f"anchored entry {taken.seq} ({taken.hash[-16:]}) in {file}; keep a copy away from"
        " the store"
    )
