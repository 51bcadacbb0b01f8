"""One error tree (issue 11): every public exception class in src/rollsafe descends from
RollsafeError, and the tree drawn in `rollsafe.errors`'s docstring is the real one.

Only `RollsafeError` itself and private internal signals (``_Name``) may derive from
another exception; the demo shop is a sample application, not rollsafe, and is left out.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import rollsafe
from rollsafe import errors
from rollsafe.errors import RollsafeError

SRC = Path(rollsafe.__file__).parent
_DRAWN = re.compile(r"^ {4}((?:│   |    )*)(?:├── |└── )?([A-Z]\w+)\b")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if "demo" in parts or parts[-1] == "__main__":
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every class defined in src/rollsafe (outside the demo) that is an exception."""
    classes: dict[str, type[BaseException]] = {}
    for name, path in _modules():
        defined = [
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef) and node.bases
        ]
        if not defined:
            continue
        module = importlib.import_module(name)
        for class_name in defined:
            cls = getattr(module, class_name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                classes[f"{name}.{class_name}"] = cls
    return classes


def test_every_public_exception_descends_from_rollsafe_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 20  # the walk found the tree, not an empty package

    outside = sorted(
        qualified
        for qualified, cls in classes.items()
        if not qualified.rpartition(".")[2].startswith("_")
        and cls is not RollsafeError
        and not issubclass(cls, RollsafeError)
    )
    assert outside == []


def _drawing() -> list[tuple[str, str | None]]:
    """(class, parent drawn above it) for each line of the tree in the docstring."""
    doc = errors.__doc__ or ""
    drawing = doc[doc.index("::\n\n") + 4 :].split("\n\n")[0]
    rows: list[tuple[str, str | None]] = []
    stack: list[str] = []
    for line in drawing.splitlines():
        match = _DRAWN.match(line)
        assert match, line
        depth = len(match[1]) // 4 + (1 if "── " in line else 0)
        del stack[depth:]
        rows.append((match[2], stack[-1] if stack else None))
        stack.append(match[2])
    return rows


def test_the_drawn_tree_is_the_real_one() -> None:
    rows = _drawing()
    public = {
        cls.__name__: cls
        for cls in _exception_classes().values()
        if not cls.__name__.startswith("_")
    }
    assert sorted(name for name, _ in rows) == sorted(public)
    for name, parent in rows:
        if parent is not None:
            assert issubclass(public[name], public[parent]), (name, parent)
    starred = {name for name, cls in public.items() if issubclass(cls, errors.TemporaryError)}
    drawn_starred = {
        name
        for name, _ in rows
        if re.search(rf"\b{name} \*", errors.__doc__ or "") or name == "TemporaryError"
    }
    assert starred == drawn_starred


def test_a_busy_lock_is_temporary_and_still_a_target_error() -> None:
    busy = errors.TargetBusyError("held", delay=2.0)
    assert isinstance(busy, errors.TargetError)  # old handlers of target failures still apply
    assert isinstance(busy, errors.TemporaryError)
    assert busy.delay == 2.0
    assert not isinstance(errors.TargetError("x"), errors.TemporaryError)
