"""Load YAML documents into models, locating every error as ``file:line: field: message``."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rollsafe.config import reading, slo_files
from rollsafe.config.command_target import CommandTarget
from rollsafe.config.plan import Plan, ProcessTarget
from rollsafe.errors import PlanError

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)


def load_plan(path: str | Path, text: str | None = None, *, on_disk: bool = False) -> Plan:
    """Read and validate a plan file; relative paths in it resolve against its folder.

    ``text`` replaces the file's content: a rollout resumes from the plan text it
    stored when it started, whatever the file says now. ``on_disk`` also checks
    that what the plan names on this machine exists (a process target's root
    and the releases its steps deploy): before a rollout starts, not when it
    resumes from stored text.
    """
    path = Path(path)
    text = read_plan_text(path) if text is None else text
    plan, lines = _validated(text, Plan, source=str(path))
    base = path.resolve().parent
    target = (
        plan.target.resolved(base)
        if isinstance(plan.target, CommandTarget)
        else plan.target.model_copy(update={"root": base / plan.target.root})
    )
    backups = [source.resolved(base) for source in plan.backups]
    plan = plan.model_copy(update={"target": target, "backups": backups})
    plan = slo_files.with_slo_file(plan, base)
    problems = plan.unresolved_references() + (missing_on_disk(plan) if on_disk else [])
    problems += slo_files.problems(plan)
    if problems:
        raise PlanError([_locate(str(path), lines, loc, message) for loc, message in problems])
    return plan


def missing_on_disk(plan: Plan) -> list[tuple[Loc, str]]:
    """A process target's root and the releases its steps deploy, where they do not exist.

    Releases are installed under ``<root>/releases/`` before a rollout (the
    deploy only switches between them), so a missing one is a typo or a build
    that did not run, and is better refused before any change than midway.
    """
    target = plan.target
    if not isinstance(target, ProcessTarget):
        return []
    if not target.root.is_dir():
        return [(("target", "root"), f"{target.root} is not a directory")]
    problems: list[tuple[Loc, str]] = []
    for index, step in enumerate(plan.steps):
        spec = step.deploy or step.canary
        if spec is not None and not (target.root / "releases" / spec.release).is_dir():
            problems.append(
                (
                    ("steps", index, step.kind, "release"),
                    f"release {spec.release!r} is not installed: no directory"
                    f" {target.root / 'releases' / spec.release}",
                )
            )
    return problems


def parse_document(text: str, model: type[ModelT], *, source: str) -> ModelT:
    """Validate YAML ``text`` as ``model``; raise PlanError naming every bad field."""
    return _validated(text, model, source=source)[0]


def _validated(text: str, model: type[ModelT], *, source: str) -> tuple[ModelT, dict[Loc, int]]:
    root = reading.compose(text, source=source)
    if root is None or not isinstance(root, yaml.MappingNode):
        raise PlanError([f"{source}:1: the document must be a mapping of keys to values"])
    lines = _line_map(root)
    duplicates = [
        f"{source}:{line}: {_field_name(loc)}: duplicate key" for loc, line in _duplicate_keys(root)
    ]
    if duplicates:
        raise PlanError(duplicates)
    nul_bytes = [
        f"{source}:{line}: {_field_name(loc)}: contains a NUL byte (\\0)"
        for loc, node, line in _nodes(root, ())
        if isinstance(node, yaml.ScalarNode) and "\x00" in str(node.value)
    ]
    if nul_bytes:
        raise PlanError(nul_bytes)
    data = reading.construct(root, source=source)
    if not isinstance(data, dict):
        raise PlanError([f"{source}:1: the document must be a mapping of keys to values"])
    try:
        return model.model_validate(data), lines
    except ValidationError as error:
        located = [_locate(source, lines, _loc(e, data), _message(e)) for e in error.errors()]
        raise PlanError(located) from None


def read_plan_text(path: Path) -> str:
    """A plan file's text, or PlanError saying why it cannot be read (see `reading`)."""
    return reading.read_text(path)


# Discriminated unions put the chosen kind into error locations; plans never spell it there.
_UNION_TAGS = {
    "process",
    "command",
    "scrape",
    "prometheus",
    "http",
    "router",
    "unleash",
    "sqlite",
    "files",
    "postgres",
}


def _loc(detail: Any, data: Any) -> Loc:
    """The plan's field of a pydantic error: the keys and indexes that exist in ``data``.

    Pydantic also puts union tags, model and validator names ("ScrapeMetrics",
    "function-after[...]") into the location; they are dropped, and so is any other
    part that is not a key of the document (a misspelt ``Steps:`` stays a key).
    """
    kept: list[str | int] = []
    parts = list(detail["loc"])
    node = data
    tagged = -1  # the slot (its depth in ``kept``) whose union tag was dropped
    for position, part in enumerate(parts):
        if part in _UNION_TAGS and _is_union_slot(kept) and tagged != len(kept):
            tagged = len(kept)  # one tag per slot: ``target.command`` may follow it
            continue
        last = position == len(parts) - 1
        if isinstance(part, int):
            kept.append(part)
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            kept.append(part)
            node = node[part]
        elif last and _is_key(part):
            kept.append(part)  # a required key that is missing
    return tuple(kept)


def _is_union_slot(loc: list[str | int]) -> bool:
    """``target``, ``metrics`` and each ``backups[i]`` hold a union of kinds."""
    if loc and loc[-1] in ("target", "metrics"):
        return True
    return len(loc) >= 2 and isinstance(loc[-1], int) and loc[-2] == "backups"


def _is_key(part: str) -> bool:
    return not (part[:1].isupper() or "[" in part or part.startswith("function-"))


def _message(detail: Any) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required field is missing"
    message = str(detail["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    # A whole mapping is not echoed: it may hold a secret (a database URL) and the
    # file:line already shows where it is.
    if kind not in {"value_error", "assertion_error"}:
        message = f"{message[:1].lower()}{message[1:]}"
        if "input" in detail and not isinstance(detail["input"], dict | list):
            message = f"{message}, got {detail['input']!r}"
    return message


def _locate(source: str, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    line = 1
    for depth in range(len(loc), -1, -1):
        if loc[:depth] in lines:
            line = lines[loc[:depth]]
            break
    field = _field_name(loc)
    if message == "unknown key" and loc and isinstance(loc[-1], str):
        message = f"unknown key{_suggest(loc[-1])}"
    return f"{source}:{line}: {field}: {message}" if field else f"{source}:{line}: {message}"


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, _ALL_FIELD_NAMES, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_name(loc: Loc) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def _nodes(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, yaml.Node, int]]:
    """Every (location, node, line of its key) in a composed YAML tree."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, str(key.value))
            yield child, value, key.start_mark.line + 1
            yield from _nodes(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            child = (*loc, index)
            yield child, value, value.start_mark.line + 1
            yield from _nodes(value, child)


def _line_map(root: yaml.Node) -> dict[Loc, int]:
    lines: dict[Loc, int] = {(): root.start_mark.line + 1}
    for loc, _node, line in _nodes(root, ()):
        lines.setdefault(loc, line)
    return lines


def _duplicate_keys(root: yaml.Node) -> list[tuple[Loc, int]]:
    seen: set[Loc] = set()
    duplicates = []
    for loc, _node, line in _nodes(root, ()):
        if loc in seen and isinstance(loc[-1], str):
            duplicates.append((loc, line))
        seen.add(loc)
    return duplicates


def _field_names(annotation: Any, into: set[str]) -> set[str]:
    """Every field name of every model reachable from ``annotation`` (unions, lists, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if name not in into:
                into.add(info.alias or name)
                _field_names(info.annotation, into)
        return into
    for argument in get_args(annotation):
        _field_names(argument, into)
    return into


_ALL_FIELD_NAMES = sorted(_field_names(Plan, set()))
