"""``rollsafe backup``: take, list, verify and restore the backups a plan declares."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rollsafe.backup import manifest_path, restore_backup, take_backup, verify_backup
from rollsafe.cli.home import home_of
from rollsafe.cli.output import EXIT_FAILED, console, fail, print_json, reported_errors
from rollsafe.config import load_plan
from rollsafe.errors import BackupError
from rollsafe.store import Store

app = typer.Typer(help="Create, list, verify and restore backups.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Argument(help="Plan whose backups: section names the sources.")],
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources.")
    ] = None,
    keep: Annotated[int, typer.Option("--keep", min=1, help="Keep the newest N per source.")] = 5,
) -> None:
    """Back up the plan's sources now (SQLite online backup, files as tar.gz)."""
    home = home_of(ctx)
    with reported_errors():
        loaded = load_plan(plan)
        unknown = set(source or []) - {s.name for s in loaded.backups}
        if unknown:
            fail(f"--source: {', '.join(sorted(unknown))} not declared under backups in {plan}", 2)
        store = home.open_store()
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        for declared in loaded.backups:
            if source and declared.name not in source:
                continue
            record = take_backup(
                declared,
                home.path / "backups" / f"manual-{stamp}",
                store,
                backup_id=f"manual-{stamp}-{declared.name}",
                rollout_id=None,
                actor="cli",
            )
            console.print(
                f"backup [bold]{record.id}[/bold] {record.size} bytes sha256 {record.sha256[:16]}…"
            )
            _apply_retention(store, declared.name, keep)
        store.close()


@app.command("list")
def list_(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List backups, newest first."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        backups = store.list_backups(source)
        store.close()
    if as_json:
        print_json([b.__dict__ for b in backups])
        return
    table = Table("id", "source", "kind", "size", "created", "rollout")
    for b in backups:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created_at))
        table.add_row(b.id, b.source, b.kind, str(b.size), created, b.rollout_id or "-")
    console.print(table)


@app.command()
def verify(ctx: typer.Context, backup_id: Annotated[str, typer.Argument()]) -> None:
    """Check a backup file against its recorded SHA-256 (exit 1 on mismatch)."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        record = store.get_backup(backup_id)
        store.close()
        try:
            verify_backup(Path(record.path), record.sha256)
        except BackupError as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(EXIT_FAILED) from None
    console.print(f"[green]{backup_id}: intact[/green] (sha256 {record.sha256[:16]}…)")


@app.command()
def restore(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument()],
    to: Annotated[
        Path | None, typer.Option("--to", help="Restore here instead of the source.")
    ] = None,
) -> None:
    """Restore a verified backup (stop the service writing to it first)."""
    with reported_errors():
        store = home_of(ctx).open_existing_store()
        record = store.get_backup(backup_id)
        destination = to or Path(record.manifest["from"])
        result = restore_backup(Path(record.path), record.kind, record.sha256, destination)
        store.append(
            "backup.restored",
            {"id": backup_id, **result},
            actor="cli",
            rollout_id=record.rollout_id,
        )
        store.close()
    console.print(f"[green]restored[/green] {backup_id} into {destination}")


def _apply_retention(store: Store, source: str, keep: int) -> None:
    for old in store.list_backups(source)[keep:]:
        if old.rollout_id is not None:
            continue  # a rollout's pre-rollout backup stays while its incident may need it
        Path(old.path).unlink(missing_ok=True)
        manifest_path(Path(old.path)).unlink(missing_ok=True)
        store.delete_backup(old.id, actor="cli", reason=f"retention: keep newest {keep}")
        console.print(f"[dim]removed {old.id} (keeping newest {keep})[/dim]")
