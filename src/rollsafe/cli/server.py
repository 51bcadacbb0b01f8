"""``rollsafe server``: run the flag service; ``server token`` and ``server env`` manage it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rollsafe.cli.home import home_of
from rollsafe.cli.output import EXIT_INVALID, console, fail, print_json, reported_errors
from rollsafe.store.records import TokenScope

app = typer.Typer(
    help="Run the flag service (HTTP API, SSE stream, OpenAPI at /openapi.json).",
    invoke_without_command=True,
)
tokens = typer.Typer(help="API tokens: client (read flags) or admin (read and write).")
environments = typer.Typer(help="Flag environments.")
app.add_typer(tokens, name="token")
app.add_typer(environments, name="env")


@app.callback()
def server(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 4242,
    heartbeat: Annotated[
        float, typer.Option("--heartbeat", help="Seconds between SSE heartbeats.")
    ] = 15.0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between checks of the store.")
    ] = 0.05,
    max_streams: Annotated[
        int,
        typer.Option(
            "--max-streams",
            help="Open SSE streams at most (fewer if ulimit -n affords fewer).",
        ),
    ] = 10_000,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    access_log: Annotated[
        bool,
        typer.Option("--access-log", help="Log one line per request to standard error."),
    ] = False,
    access_log_file: Annotated[
        Path | None,
        typer.Option(
            "--access-log-file", help="Append the access log to this file (implies --access-log)."
        ),
    ] = None,
) -> None:
    """Serve flags from this home's store until interrupted (Ctrl-C)."""
    if ctx.invoked_subcommand is not None:
        return
    if not 0 < port < 65536:
        fail(f"--port: must be 1-65535, got {port}", EXIT_INVALID)
    for option, value in (("--heartbeat", heartbeat), ("--poll-interval", poll_interval)):
        if not value > 0:
            fail(f"{option}: must be positive, got {value:g}", EXIT_INVALID)
    if max_streams < 1:
        fail(f"--max-streams: must be at least 1, got {max_streams}", EXIT_INVALID)
    if access_log_file is not None:
        try:  # refused now, naming the option, rather than when the server starts
            with access_log_file.open("a", encoding="utf-8"):
                pass
        except OSError as error:
            fail(f"--access-log-file: cannot append to {access_log_file}: {error.strerror}",
                 EXIT_INVALID)  # fmt: skip
    # Imported here: the web stack is not needed by the other commands.
    from rollsafe.server import ServerSettings, serve

    home = home_of(ctx)
    with reported_errors(), home.store() as store:  # create and migrate the store before serving
        where = store.where
    log_target = str(access_log_file) if access_log_file is not None else "-"
    settings = ServerSettings(
        heartbeat=heartbeat,
        poll_interval=poll_interval,
        max_streams=max_streams,
        access_log=log_target if access_log or access_log_file is not None else None,
    )
    console.print(f"flag service on http://{host}:{port} (store {where})")
    started = serve(
        home.store_address, host=host, port=port, settings=settings, log_level=log_level
    )
    if not started:
        fail(f"the flag service could not start on {host}:{port}")


@tokens.command("create")
def create_token(
    ctx: typer.Context,
    scope: Annotated[TokenScope, typer.Option("--scope", help="client or admin.")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses it.")] = "cli",
    env: Annotated[
        str, typer.Option("--env", help="The only environment it may use, or * for all.")
    ] = "*",
    actor: Annotated[str, typer.Option("--actor", help="Who creates it (journaled).")] = "cli",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token; its secret is printed once and stored only as a SHA-256 digest."""
    from rollsafe.server.tokens import new_token

    if not name.strip():
        fail("--name: must not be empty", EXIT_INVALID)
    secret, record = new_token(name, scope, environment=env, created_by=actor)
    with reported_errors(), home_of(ctx).store() as store:
        store.add_token(record, actor=actor)
    if as_json:
        print_json({"id": record.id, "name": name, "scope": scope, "env": env, "token": secret})
        return
    console.print(f"{scope.value} token {record.id} ({name}, environment {env}):")
    print(secret)
    console.print("[yellow]keep it now: it is not shown again[/yellow]")


@tokens.command("list")
def list_tokens(ctx: typer.Context) -> None:
    """List tokens (never their secrets)."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        records = store.list_tokens()
    table = Table("id", "name", "scope", "environment", "created", "revoked")
    for r in records:
        revoked = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r.revoked_at)) if r.revoked_at else ""
        )
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        table.add_row(r.id, r.name, r.scope.value, r.environment, created, revoked)
    console.print(table)


@tokens.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (see 'token list').")],
    actor: Annotated[str, typer.Option("--actor", help="Who revokes it (journaled).")] = "cli",
) -> None:
    """Revoke a token; servers refuse it within a few seconds."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        store.revoke_token(token_id, actor=actor)
    console.print(f"token {token_id} revoked")


@environments.command("create")
def create_environment(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="1-64 of a-z, 0-9, '-', '_', '.'.")],
    actor: Annotated[str, typer.Option("--actor", help="Who creates it (journaled).")] = "cli",
) -> None:
    """Create an environment (``default`` always exists)."""
    with reported_errors(), home_of(ctx).store() as store:
        store.create_environment(name, actor=actor)
    console.print(f"environment {name} created")


@environments.command("list")
def list_environments(ctx: typer.Context) -> None:
    """List environments."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        names = [e.name for e in store.list_environments()]
    for name in names:
        print(name)
