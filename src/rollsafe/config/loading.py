"""Load YAML documents into models, locating every error as ``file:line: field: message``."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rollsafe.config.command_target import CommandTarget
from rollsafe.config.plan import Plan
from rollsafe.errors import PlanError

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)


def load_plan(path: str | Path, text: str | None = None) -> Plan:
    """Read and validate a plan file; relative paths in it resolve against its folder.

    ``text`` replaces the file's content: a rollout resumes from the plan text it
    stored when it started, whatever the file says now.
    """
    path = Path(path)
    text = read_plan_text(path) if text is None else text
    plan = parse_document(text, Plan, source=str(path))
    problems = [
        _locate(str(path), _line_map(text), loc, message)
        for loc, message in plan.unresolved_references()
    ]
    if problems:
        raise PlanError(problems)
    base = path.resolve().parent
    target = (
        plan.target.resolved(base)
        if isinstance(plan.target, CommandTarget)
        else plan.target.model_copy(update={"root": base / plan.target.root})
    )
    backups = [source.resolved(base) for source in plan.backups]
    return plan.model_copy(update={"target": target, "backups": backups})


def parse_document(text: str, model: type[ModelT], *, source: str) -> ModelT:
    """Validate YAML ``text`` as ``model``; raise PlanError naming every bad field."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise PlanError([f"{source}:{line}: invalid YAML: {error.problem or error}"]) from None
    except yaml.YAMLError as error:
        raise PlanError([f"{source}: invalid YAML: {error}"]) from None
    lines = _line_map(text)
    duplicates = [
        f"{source}:{line}: {_field_name(loc)}: duplicate key" for loc, line in _duplicate_keys(text)
    ]
    if duplicates:
        raise PlanError(duplicates)
    if not isinstance(data, dict):
        raise PlanError([f"{source}:1: the document must be a mapping of keys to values"])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise PlanError(
            [_locate(source, lines, _loc(detail), _message(detail)) for detail in error.errors()]
        ) from None


def read_plan_text(path: Path) -> str:
    """A plan file's text, or PlanError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise PlanError([f"{path}: is a directory, not a plan file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PlanError([f"{path}: cannot read: {error}"]) from None


# Discriminated unions put the chosen kind into error locations; plans never spell it there.
_UNION_TAGS = {
    "process",
    "command",
    "scrape",
    "prometheus",
    "http",
    "router",
    "sqlite",
    "files",
    "postgres",
}


def _loc(detail: Any) -> Loc:
    # Pydantic also puts model and validator names ("ScrapeMetrics",
    # "function-after[...]") into the location; drop those too.
    kept: list[str | int] = []
    for part in detail["loc"]:
        if isinstance(part, str) and not _is_key(part):
            continue
        if part in _UNION_TAGS and _is_union_slot(kept):
            continue
        kept.append(part)
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
    if message == "unknown key" and isinstance(loc[-1], str):
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


def _line_map(text: str) -> dict[Loc, int]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if root is None:
        return {}
    lines: dict[Loc, int] = {(): root.start_mark.line + 1}
    for loc, _node, line in _nodes(root, ()):
        lines.setdefault(loc, line)
    return lines


def _duplicate_keys(text: str) -> list[tuple[Loc, int]]:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return []
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
