"""``rollsafe backup``: take, list, verify and restore the backups a plan declares."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rollsafe.cli.exits import Exit
from rollsafe.cli.home import home_of
from rollsafe.cli.output import (
    console,
    fail,
    print_json,
    reported_errors,
)
from rollsafe.errors import BackupError
from rollsafe.journal.kinds import Kind
from rollsafe.store import BackupRecord, Store
from rollsafe.support.redaction import is_postgres_url

app = typer.Typer(help="Create, list, verify and restore backups.", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    plan: Annotated[Path, typer.Argument(help="Plan whose backups: section names the sources.")],
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources.")
    ] = None,
    keep: Annotated[int, typer.Option("--keep", min=1, help="Keep the newest N per source.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new backups as JSON.")] = False,
) -> None:
    """Back up the plan's sources now (SQLite online backup, files as tar.gz, PostgreSQL
    with pg_dump)."""
    from rollsafe.backup import take_backup
    from rollsafe.config import load_plan

    home = home_of(ctx)
    with reported_errors():
        loaded = load_plan(plan)
        unknown = set(source or []) - {s.name for s in loaded.backups}
        if unknown:
            fail(
                f"--source: {', '.join(sorted(unknown))} not declared under backups in {plan}",
                Exit.USAGE,
            )
        with home.store() as store:
            taken = []
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
                    home=home.path,
                )
                taken.append(_listed(record, home.path))
                if not as_json:
                    console.print(
                        f"backup [bold]{record.id}[/bold] {record.size} bytes"
                        f" sha256 {record.sha256[:16]}…"
                    )
                _apply_retention(store, declared.name, keep, home.path, quiet=as_json)
    if as_json:
        print_json(taken)


@app.command("list")
def list_(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option("--source")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List backups, newest first."""
    home = home_of(ctx)
    with reported_errors(), home.existing_store() as store:
        backups = store.list_backups(source)
    if as_json:
        print_json([_listed(b, home.path) for b in backups])
        return
    table = Table("id", "source", "kind", "size", "created", "rollout")
    for b in backups:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created_at))
        table.add_row(b.id, b.source, b.kind, str(b.size), created, b.rollout_id or "-")
    console.print(table)


@app.command()
def verify(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a backup file against its recorded SHA-256 (exit 1 on mismatch).

    A PostgreSQL dump must also be readable by the installed pg_restore.
    """
    from rollsafe.backup import verify_backup
    from rollsafe.backup.manifests import backup_file

    home = home_of(ctx)
    with reported_errors():
        with home.existing_store() as store:
            record = store.get_backup(backup_id)
        try:
            checked = verify_backup(backup_file(record.path, home.path), record.sha256, record.kind)
        except BackupError as error:
            if as_json:
                print_json({"id": backup_id, "ok": False, "error": str(error)})
            else:
                console.print(f"[red]{escape(str(error))}[/red]")
            raise typer.Exit(Exit.ERROR) from None
    if as_json:
        print_json({"id": backup_id, "ok": True, **checked})
        return
    readable = (
        f", {checked['entries']} archive entries readable by pg_restore"
        if "entries" in checked
        else ""
    )
    console.print(f"[green]{backup_id}: intact[/green] (sha256 {record.sha256[:16]}…{readable})")


@app.command()
def restore(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument()],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Restore here instead of the source: a path, or for a postgres backup a"
            " postgresql:// URL (give its password by PGPASSWORD, not on the command line).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Restore a verified backup (stop the service writing to it first).

    A postgres backup goes back into the database it was taken from (its URL from
    the source's url_env when that is set, else libpq's PGPASSWORD or ~/.pgpass
    supply the password), and every table's row count and checksum are then
    checked against the backup's manifest (exit 1 on a difference).
    """
    from rollsafe.backup import restore_backup
    from rollsafe.backup.manifests import backup_file

    home = home_of(ctx)
    with reported_errors(), home.existing_store() as store:
        record = store.get_backup(backup_id)
        destination = _destination(record, to)
        result = restore_backup(
            backup_file(record.path, home.path),
            record.kind,
            record.sha256,
            destination,
            manifest=record.manifest,
        )
        store.append(
            Kind.BACKUP_RESTORED,
            {"id": backup_id, "kind": record.kind, **result},
            actor="cli",
            rollout_id=record.rollout_id,
        )
    if as_json:
        print_json({"id": backup_id, **result})
    else:
        console.print(f"[green]restored[/green] {backup_id} into {result['restored']}")


def _destination(record: BackupRecord, to: str | None) -> Path | str:
    """Where ``rollsafe backup restore`` puts ``record``; bad ``--to`` exits 2 first."""
    from rollsafe.backup import redacted_url

    if record.kind != "postgres":
        if to is not None and is_postgres_url(to):
            fail(f"--to: a {record.kind} backup restores to a path, not a database URL", Exit.USAGE)
        return Path(to) if to is not None else Path(record.manifest["from"])
    if to is not None:
        if not is_postgres_url(to):
            fail(
                "--to: a postgres backup restores into a database: give a postgresql:// URL",
                Exit.USAGE,
            )
        return to
    taken_from = str(record.manifest["from"])
    variable = record.manifest.get("url_env")
    url = os.environ.get(variable, "").strip() if variable else ""
    if not url:
        return taken_from
    # The variable may have been pointed elsewhere since; restore where the data came from.
    if redacted_url(url) != taken_from:
        fail(
            f"{variable} now names {redacted_url(url)}, but {record.id} was taken from"
            f" {taken_from}; choose the database with --to",
            Exit.USAGE,
        )
    return url


def _listed(record: BackupRecord, home: Path) -> dict[str, object]:
    """A backup for ``--json``: its file's path resolved against the home."""
    from rollsafe.backup.manifests import backup_file

    return {**record.__dict__, "path": str(backup_file(record.path, home))}


def _apply_retention(store: Store, source: str, keep: int, home: Path, *, quiet: bool) -> None:
    from rollsafe.backup import manifest_path
    from rollsafe.backup.manifests import backup_file

    for old in store.list_backups(source)[keep:]:
        if old.rollout_id is not None:
            continue  # a rollout's pre-rollout backup stays while its incident may need it
        path = backup_file(old.path, home)
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
        store.delete_backup(old.id, actor="cli", reason=f"retention: keep newest {keep}")
        if not quiet:
            console.print(f"[dim]removed {old.id} (keeping newest {keep})[/dim]")
