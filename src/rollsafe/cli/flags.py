"""``rollsafe flags``: list, show, set, kill, import and export flags, from the terminal.

Commands work on the state store directly (no server needed); a running
``rollsafe server`` notices the changes within its poll interval and streams them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rollsafe.cli.flag_usage import flag_usage_summary
from rollsafe.cli.home import home_of
from rollsafe.cli.output import EXIT_INVALID, console, fail, print_json, reported_errors
from rollsafe.errors import ConflictError, FlagError
from rollsafe.flags import Engine, rollout_feature
from rollsafe.store.flagwrites import put_flag_if_changed
from rollsafe.store.protocol import Store
from rollsafe.store.records import DEFAULT_ENVIRONMENT, FlagRecord

app = typer.Typer(
    help="List, show, set, kill, import and export feature flags.", no_args_is_help=True
)

Env = Annotated[str, typer.Option("--env", help="Environment of the flags.")]
Actor = Annotated[str, typer.Option("--actor", help="Who is changing it (journaled).")]
KILL_ATTEMPTS = 20


@app.command("set")
def set_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Flag name.")],
    rollout: Annotated[
        float | None, typer.Option("--rollout", help="Percentage of users (0-100) who get it.")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Turn the flag off for everyone.")] = False,
    actor: Actor = "cli",
    env: Env = DEFAULT_ENVIRONMENT,
) -> None:
    """Turn a flag on for a percentage of users, or off."""
    if (rollout is None) == (not off):
        fail("give exactly one of --rollout N or --off", EXIT_INVALID)
    if rollout is not None and not 0 <= rollout <= 100:
        fail(f"--rollout: must be between 0 and 100, got {rollout:g}", EXIT_INVALID)
    definition = rollout_feature(name, rollout or 0, enabled=not off)
    with reported_errors(), home_of(ctx).store() as store:
        record, changed = put_flag_if_changed(store, name, definition, actor=actor, environment=env)
    state = "off" if off else f"on for {rollout:g}%"
    if changed:
        console.print(f"flag [bold]{name}[/bold] {state} (version {record.version}){_in(env)}")
    else:
        console.print(
            f"flag [bold]{name}[/bold] unchanged: already {state} "
            f"(version {record.version}){_in(env)}"
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    env: Env = DEFAULT_ENVIRONMENT,
) -> None:
    """List flags with their state."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        flags = store.list_flags(env)
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
def get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    env: Env = DEFAULT_ENVIRONMENT,
    as_json: Annotated[bool, typer.Option("--json", help="The same JSON (always JSON).")] = False,
) -> None:
    """Print one flag's Unleash feature document, with what SDKs reported about it (``usage``)."""
    del as_json
    with reported_errors(), home_of(ctx).existing_store() as store:
        record = store.get_flag(name, env)
        usage = flag_usage_summary(store, name, env)
    shown = {"version": record.version, "updated_by": record.updated_by, **record.definition}
    if usage is not None:
        shown["usage"] = usage
    print_json(shown)


@app.command()
def kill(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Flag name.")],
    actor: Actor = "cli",
    env: Env = DEFAULT_ENVIRONMENT,
) -> None:
    """Turn a flag off for everyone now, keeping its strategies for turning it back on."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        record, changed = _kill(store, name, actor, env)
    if changed:
        console.print(
            f"flag [bold]{name}[/bold] killed: off for everyone (version {record.version})"
        )
    else:
        console.print(f"flag [bold]{name}[/bold] was already off (version {record.version})")


def _kill(store: Store, name: str, actor: str, env: str) -> tuple[FlagRecord, bool]:
    for _ in range(KILL_ATTEMPTS):
        record = store.get_flag(name, env)
        if record.definition.get("enabled") is False:
            return record, False
        off = {**record.definition, "enabled": False}
        try:
            return (
                store.put_flag(
                    name, off, actor=actor, expected_version=record.version, environment=env
                ),
                True,
            )
        except ConflictError:
            continue  # changed meanwhile: kill the new version, never overwrite it
    raise ConflictError(f"flag {name!r} kept changing; run the kill again")


@app.command("import")
def import_(
    ctx: typer.Context,
    from_unleash: Annotated[
        Path,
        typer.Option(
            "--from-unleash",
            help="An Unleash /api/client/features document (JSON), as exported by a server.",
            dir_okay=False,
        ),
    ],
    actor: Actor = "cli",
    env: Env = DEFAULT_ENVIRONMENT,
) -> None:
    """Import every flag of an Unleash document at once (all or nothing).

    Segments are inlined into the strategies that use them; every flag is
    checked strictly first, so an invalid document changes nothing.
    """
    try:
        document = json.loads(from_unleash.read_text(encoding="utf-8"))
    except OSError as error:
        fail(f"{from_unleash}: cannot read it: {error.strerror or error}", EXIT_INVALID)
    except ValueError as error:
        fail(f"{from_unleash}: not JSON: {error}", EXIT_INVALID)
    try:
        features = unleash_features(document)
    except FlagError as error:
        fail(f"{from_unleash}: {error}", EXIT_INVALID)
    with reported_errors(), home_of(ctx).store() as store:
        records = store.put_flags(features, actor=actor, environment=env)
    console.print(f"imported {len(records)} flags from {from_unleash}{_in(env)}")


@app.command()
def export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    env: Env = DEFAULT_ENVIRONMENT,
) -> None:
    """Print the flags as an Unleash /api/client/features document."""
    with reported_errors(), home_of(ctx).existing_store() as store:
        flags = store.list_flags(env)
    document = {
        "version": 1,
        "features": [{**f.definition, "name": f.name} for f in flags],
        "segments": [],
    }
    text = json.dumps(document, indent=2, sort_keys=True)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"exported {len(flags)} flags to {output}")


def unleash_features(document: Any) -> dict[str, dict[str, Any]]:
    """Name to feature of an Unleash document, segments inlined, each checked strictly.

    Raises `FlagError` naming the feature and field of the first problem.
    """
    Engine.from_unleash(document, strict=True)  # the whole document, segments included
    segments = {s["id"]: s for s in document.get("segments") or []}
    features: dict[str, dict[str, Any]] = {}
    for feature in document["features"]:
        feature = dict(feature)
        strategies = []
        for strategy in feature.get("strategies") or []:
            strategy = dict(strategy)
            ids = strategy.pop("segments", None) or []
            constraints = list(strategy.get("constraints") or [])
            for segment_id in ids:
                if segment_id not in segments:
                    raise FlagError(
                        f"feature {feature['name']!r}: strategies: unknown segment {segment_id}"
                    )
                constraints.extend(segments[segment_id].get("constraints") or [])
            strategy["constraints"] = constraints
            strategies.append(strategy)
        if "strategies" in feature:
            feature["strategies"] = strategies
        Engine.from_unleash({"version": 1, "features": [feature]}, strict=True)
        features[feature["name"]] = feature
    return features


def _in(env: str) -> str:
    return "" if env == DEFAULT_ENVIRONMENT else f" in {env}"
