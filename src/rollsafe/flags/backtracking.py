"""Refusing regular expressions whose backtracking explodes on a crafted value.

REGEX constraints run on Python's `re`, which backtracks: where RE2 is linear,
``^(a+)+$`` takes seconds on 25 characters and doubles with each one more. The
time explodes where one string can be matched in many ways that the engine tries
one by one. `check` refuses the patterns where that happens inside a repetition
(exponential), and two unbounded repetitions of overlapping characters in a row
(``.*.*``, polynomial):

- a repetition inside a repeated group, when what may follow it (the rest of the
  group, then the group again) can start with a character it repeats:
  ``(a+)+``, ``(\\w+\\s?)*``, ``(.*a){8}``; not ``(\\.\\d+)*`` or ``([a-z]+\\.)+``;
- alternatives inside a repeated group that can start with the same character:
  ``(a|a)*``, ``(a|ab)*``;
- an unbounded repetition of one character followed at once by another of the
  same character: ``\\d+\\d*``, ``.*.*``.

It reads the pattern as `re` parsed it (the translated RE2 pattern; `re` factors
common prefixes out of alternatives, so ``(foo|fob)*`` is not ambiguous). Sets of
characters are compared on a sample: ASCII and a few others, in either case.
What remains (``.*a.*b.*c`` is cubic) is bounded by `MAX_SUBJECT`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollsafe.errors import CatastrophicRegexError as CatastrophicRegexError

# `re`'s own parser (no stubs; the public sre_parse alias is deprecated). Its tree is
# what `re` compiles, so the check sees the pattern exactly as it will run.
sre_parse: Any = importlib.import_module("re._parser")
sre: Any = importlib.import_module("re._constants")

MAX_SUBJECT = 512
"""Characters of a context value a REGEX constraint reads at most; longer values never match.

Ids, emails, versions and most user agents are shorter; with the patterns `check`
lets through, a worst-case value of this length takes milliseconds.
"""

_SAMPLE = frozenset([chr(code) for code in range(128)] + list("\u00e9\u00c9\u0661\u263a\u00a0"))
_ANY = frozenset(_SAMPLE)
_ZERO_WIDTH = frozenset({sre.AT, sre.ASSERT, sre.ASSERT_NOT})
_ONE_CHARACTER = frozenset({sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN})
_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT})
_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sre.CATEGORY_DIGIT: str.isdecimal,
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
}
_NEGATED_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
    sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
    sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
}

Items = Any
"""A parsed (sub)pattern: `re`'s list of ``(opcode, argument)`` pairs."""


@dataclass(frozen=True)
class _Again:
    """Where a repeated group's body ends: the group again, starting with ``first``."""

    first: frozenset[str]


def check(translated: str, flags: int = 0) -> None:
    """Raise `CatastrophicRegexError` if ``translated`` (a `re` pattern) can backtrack a lot."""
    _walk(list(sre_parse.parse(translated, flags)), [], loops=0)


def _walk(items: Items, rest: list[Any], *, loops: int) -> None:
    """Check ``items``, followed by ``rest`` (sequences and `_Again` markers)."""
    for index, (op, av) in enumerate(items):
        after = [items[index + 1 :], *rest]
        if op in _REPEATS:
            _, high, body = av
            first, _ = _first([body])
            if high > 1 and loops and first & _first(after)[0]:
                raise CatastrophicRegexError(
                    "a repetition inside a repeated group can end where the rest of the"
                    " group or its next round begins"
                )
            if (
                high == sre.MAXREPEAT
                and _one_character(body)
                and _overlaps_next_repetition(first, after)
            ):
                raise CatastrophicRegexError(
                    "two unbounded repetitions of the same characters in a row"
                )
            if high > 1:
                _walk(body, [_Again(first)], loops=loops + 1)
            else:
                _walk(body, after, loops=loops)
        elif op is sre.SUBPATTERN:
            _walk(av[-1], after, loops=loops)
        elif op is sre.BRANCH:
            branches = av[1]
            if loops:
                seen: frozenset[str] = frozenset()
                for branch in branches:
                    begins, _ = _first([branch, *after])
                    if seen & begins:
                        raise CatastrophicRegexError(
                            "alternatives inside a repeated group can begin alike"
                        )
                    seen |= begins
            for branch in branches:
                _walk(branch, after, loops=loops)


def _overlaps_next_repetition(first: frozenset[str], after: list[Any]) -> bool:
    """Whether the next item is an unbounded repetition of one of ``first``'s characters.

    Only for repetitions of one character (``.*``, ``\\d+``): a longer body ends with
    something else than it begins with (``([a-z]+\\.)+\\w+`` is fine).
    """
    for sequence in after:
        if isinstance(sequence, _Again):
            return False
        for op, av in sequence:
            if op in _ZERO_WIDTH:
                continue
            return bool(
                op in _REPEATS
                and av[1] == sre.MAXREPEAT
                and _one_character(av[2])
                and first & _first([av[2]])[0]
            )
    return False


def _one_character(items: Items) -> bool:
    return len(items) == 1 and items[0][0] in _ONE_CHARACTER


def _first(sequences: list[Any]) -> tuple[frozenset[str], bool]:
    """What the concatenation of ``sequences`` can begin with, and whether it can be empty."""
    found: set[str] = set()
    for sequence in sequences:
        if isinstance(sequence, _Again):
            return frozenset(found | sequence.first), False
        for op, av in sequence:
            if op in _ZERO_WIDTH:
                continue
            if op in _ONE_CHARACTER:
                return frozenset(found | {c for c in _SAMPLE if _accepts(op, av, c)}), False
            if op is sre.SUBPATTERN:
                first, empty = _first([av[-1]])
            elif op in _REPEATS:
                first, empty = _first([av[2]])
                empty = empty or av[0] == 0
            elif op is sre.BRANCH:
                parts = [_first([branch]) for branch in av[1]]
                first = frozenset().union(*(part for part, _ in parts))
                empty = any(can_be_empty for _, can_be_empty in parts)
            else:  # nothing the RE2 translation produces: assume the worst
                return _ANY, False
            found |= first
            if not empty:
                return frozenset(found), False
    return frozenset(found), True


def _accepts(op: Any, av: Any, char: str) -> bool:
    """Whether the one-character item ``(op, av)`` matches ``char`` in some letter case."""
    return any(_accepts_exactly(op, av, c) for c in {char, char.lower(), char.upper()})


def _accepts_exactly(op: Any, av: Any, char: str) -> bool:
    if op is sre.ANY:
        return True
    if op is sre.LITERAL:
        return bool(ord(char) == av)
    if op is sre.NOT_LITERAL:
        return bool(ord(char) != av)
    negated = bool(av) and av[0][0] is sre.NEGATE
    members = av[1:] if negated else av
    return negated != any(_in_class(kind, value, char) for kind, value in members)


def _in_class(kind: Any, value: Any, char: str) -> bool:
    if kind is sre.LITERAL:
        return bool(ord(char) == value)
    if kind is sre.RANGE:
        return bool(value[0] <= ord(char) <= value[1])
    if kind is sre.CATEGORY:
        if value in _NEGATED_CATEGORIES:
            return not _CATEGORIES[_NEGATED_CATEGORIES[value]](char)
        test = _CATEGORIES.get(value)
        return test(char) if test is not None else True
    return True
