"""Read plan files and compose their YAML within bounds, so a hostile file is refused.

A plan is a small hand-written file. Anything else handed to ``rollsafe`` as
one (a FIFO that never ends, ``/dev/zero``, a 50 MB file, a document nested
thousands deep, a kilobyte of aliases expanding to billions of nodes) must be
refused quickly with a located message, never hang, exhaust memory or blow
the stack. The bounds are far above any real plan.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError

from rollsafe.errors import PlanError

MAX_BYTES = 256 * 1024
"""A plan, flag or analysis file larger than this is refused (real ones are a few KB).

PyYAML's pure-Python parser (needed for the depth bound) reads about 100 KB a
second on a busy two-core machine, so this also bounds the time to a refusal."""
MAX_DEPTH = 64
"""Nesting deeper than this is refused (a plan needs about 6 levels)."""
MAX_NODES = 20_000
"""Values in the document, and with every alias expanded (a plan has a few hundred)."""


def read_text(path: Path) -> str:
    """A regular file's UTF-8 text, or PlanError saying why it is refused.

    The file is opened without blocking and checked on the opened descriptor, so
    a FIFO or device is refused without reading it and cannot be swapped in.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PlanError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise PlanError([f"{path}: is a directory, not a plan file"]) from None
    except OSError as error:
        raise PlanError([f"{path}: cannot read: {error.strerror or error}"]) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PlanError([f"{path}: is a directory, not a plan file"])
        raise PlanError([f"{path}: not a regular file ({_kind(mode)}); give a plan file"])
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_BYTES + 1)
        except OSError as error:
            raise PlanError([f"{path}: cannot read: {error.strerror or error}"]) from None
    if len(data) > MAX_BYTES:
        raise PlanError([f"{path}: larger than {MAX_BYTES // 1024} KiB; a plan is a small file"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise PlanError([f"{path}:{line}: not UTF-8 text"]) from None


def compose(text: str, *, source: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (None when empty), within the module's bounds."""
    if len(text) > MAX_BYTES:
        raise PlanError([f"{source}: larger than {MAX_BYTES // 1024} KiB; a plan is a small file"])
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise PlanError([f"{source}:{line}: contains a NUL byte"])
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expanded_size(root, source)
        return root
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise PlanError([f"{source}:{line}: invalid YAML: {error.problem or error}"]) from None
    except yaml.YAMLError as error:
        raise PlanError([f"{source}: invalid YAML: {error}"]) from None
    finally:
        loader.dispose()


def construct(root: yaml.Node, *, source: str) -> Any:
    """Python values of a tree from `compose` (shared by aliases, never copied)."""
    loader = _BoundedLoader("")
    try:
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise PlanError([f"{source}:{line}: invalid YAML: {error.problem or error}"]) from None
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's composer recurses once per level: stop it at ``MAX_DEPTH`` with a mark,
    and at ``MAX_NODES`` values, before parsing the rest (the parser is slow)."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._nodes += 1
        if self._depth >= MAX_DEPTH or self._nodes > MAX_NODES:
            problem = (
                f"nested deeper than {MAX_DEPTH} levels; a plan needs far fewer"
                if self._depth >= MAX_DEPTH
                else f"more than {MAX_NODES:,} values; a plan is far smaller"
            )
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise ComposerError(None, None, problem, mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Refuse a tree whose aliases expand beyond ``MAX_NODES`` (a "billion laughs").

    Sizes are memoised per node, so this costs one visit per distinct node
    however often aliases repeat it; the depth bound keeps the recursion short.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise PlanError(
                [f"{source}:{node.start_mark.line + 1}: invalid YAML: an alias refers to itself"]
            )
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(key_node) + size(value) for key_node, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        visiting.discard(key)
        if total > MAX_NODES:
            raise PlanError(
                [
                    f"{source}:{node.start_mark.line + 1}: its aliases expand to more than"
                    f" {MAX_NODES:,} values; a plan is far smaller"
                ]
            )
        sizes[key] = total
        return total

    size(root)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
