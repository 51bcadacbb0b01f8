"""The Unleash client specification (every file of its index.json), one pytest case per test.

The specification (v6.1.0, Apache-2.0, its LICENSE beside it) is vendored in
``tests/flags/data/unleash-client-specification``; set
``ROLLSAFE_CONFORMANCE_DIR`` to use another copy (the ``specifications``
directory, or a directory above it). A missing directory fails, never skips.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from rollsafe.flags import Engine

DEFAULT_DIR = Path(__file__).resolve().parent / "data/unleash-client-specification/specifications"
_BELOW = ("", "specifications", "unleash-client-specification/specifications")


def specification_dir() -> Path | None:
    configured = os.environ.get("ROLLSAFE_CONFORMANCE_DIR")
    base = Path(configured) if configured else DEFAULT_DIR
    for below in _BELOW:
        if (base / below / "index.json").is_file():
            return base / below
    return None


def _cases() -> list[Any]:
    directory = specification_dir()
    if directory is None:
        where = os.environ.get("ROLLSAFE_CONFORMANCE_DIR") or str(DEFAULT_DIR)
        return [pytest.param(None, None, "missing", id=f"missing-specifications:{where}")]
    cases = []
    for file_name in json.loads((directory / "index.json").read_text(encoding="utf-8")):
        path = directory / file_name
        if not path.is_file():
            cases.append(pytest.param(path, None, "missing", id=f"{file_name}:missing"))
            continue
        spec = json.loads(path.read_text(encoding="utf-8"))
        stem = path.stem
        for kind in ("tests", "variantTests"):
            for index, test in enumerate(spec.get(kind, [])):
                case_id = f"{stem}:{kind}[{index}]:{test['description']}"
                cases.append(pytest.param(path, index, kind, id=case_id))
    return cases


@functools.cache
def _load(path: Path) -> tuple[Engine, dict[str, Any]]:
    spec = json.loads(path.read_text(encoding="utf-8"))
    state = spec["state"]
    engine = Engine.from_delta(state) if "events" in state else Engine.from_unleash(state)
    return engine, spec


@pytest.mark.parametrize(("path", "index", "kind"), _cases())
def test_unleash_specification(path: Path | None, index: int | None, kind: str) -> None:
    if kind == "missing":
        pytest.fail(
            "Unleash client specification not found: expected index.json in "
            f"{path or os.environ.get('ROLLSAFE_CONFORMANCE_DIR') or DEFAULT_DIR} "
            "(set ROLLSAFE_CONFORMANCE_DIR to the specifications directory)"
        )
    assert path is not None
    assert index is not None
    engine, spec = _load(path)
    test = spec[kind][index]
    if kind == "tests":
        actual: Any = engine.is_enabled(test["toggleName"], test["context"])
    else:
        actual = engine.get_variant(test["toggleName"], test["context"])
    assert actual == test["expectedResult"], test["description"]


def test_index_lists_every_specification_file() -> None:
    directory = specification_dir()
    assert directory is not None, f"Unleash client specification not found under {DEFAULT_DIR}"
    listed = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    present = sorted(p.name for p in directory.glob("*.json") if p.name != "index.json")
    assert sorted(listed) == present
    assert len(listed) >= 22
