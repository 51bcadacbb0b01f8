"""``rollsafe journal``: read and verify the hash-chained journal."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import home_of
from rollsafe.cli.output import console, describe, fail, print_json, reported_errors
from rollsafe.journal import Anchor, VerifyResult, anchor_of, check_anchor, read_anchor
from rollsafe.journal.chain import JournalEntry, canonical_json
from rollsafe.journal.keys import configured_key

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
    with reported_errors(), home_of(ctx).existing_store() as store:
        entries = store.journal(rollout)
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Exit 0 when every entry is intact; exit 1 naming the first broken entry.

    With ROLLSAFE_JOURNAL_KEY_FILE set, keyed entries are checked with the key and
    plain ones beyond --unkeyed are refused (see docs/journal.md).
    """
    with reported_errors():
        anchored = read_anchor(anchor) if anchor is not None else None
        with home_of(ctx).existing_store() as store:
            result = store.verify_journal()
            entries = store.journal() if anchored is not None and result.ok else []
    problem = _problem(result, unkeyed, entries, anchored)
    if as_json:
        print_json({**dataclasses.asdict(result), "ok": problem is None, "problem": problem})
    elif problem is not None:
        console.print(f"[red]{escape(problem)}[/red]")
    else:
        keyed = f", {result.entries - result.unkeyed} keyed" if configured_key() else ""
        held = f", anchored entry {anchored.seq} holds" if anchored is not None else ""
        console.print(
            f"[green]journal intact:[/green] {result.entries} entries, chain verified{keyed}{held}"
        )
    if problem is not None:
        raise typer.Exit(Exit.ERROR)


def _problem(
    result: VerifyResult, unkeyed: int, entries: list[JournalEntry], anchored: Anchor | None
) -> str | None:
    """What is wrong with the journal (the chain, its keying, the anchor), or None."""
    if not result.ok:
        return f"journal broken at entry {result.broken_seq}: {result.reason}"
    if result.unkeyed > unkeyed:
        return (
            f"journal not keyed: entries 1-{result.unkeyed} have plain hashes although a journal"
            " key is set, so anyone who can write to the store could have rewritten them; if"
            f" they were written before the key was set, pass --unkeyed {result.unkeyed}"
        )
    mismatch = check_anchor(entries, anchored) if anchored is not None else None
    return None if mismatch is None else f"journal does not match the anchor: {mismatch}"


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
    with reported_errors(), home_of(ctx).existing_store() as store:
        result = store.verify_journal()
        entries = store.journal() if result.ok else []
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
