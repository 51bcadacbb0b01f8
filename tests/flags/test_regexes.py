"""REGEX constraints follow RE2 where Python's `re` would differ."""

from __future__ import annotations

import time

import pytest

from rollsafe.errors import FlagError
from rollsafe.flags import Engine
from rollsafe.flags.backtracking import MAX_SUBJECT
from rollsafe.flags.regexes import UnsupportedRegexError, compile_re2


def matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    return compile_re2(pattern, ignore_case=ignore_case).search(text) is not None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # A flag set mid-pattern lasts to the end of its group, across alternatives.
        ("a(?i)b|c", "C", True),
        ("a(?i)b|c", "aB", True),
        ("a(?i)b|c", "AB", False),
        ("(x(?i)y)z", "xYz", True),
        ("(x(?i)y)z", "xYZ", False),
        ("^(?s)a.b$", "a\nb", True),
        ("(?m)^b$", "a\nb\nc", True),
        ("^(?m)b$", "a\nb\nc", False),  # this ^ precedes (?m): start of text only
        # RE2's $ (without m) is the very end; re's would match before a final newline.
        ("^abc$", "abc\n", False),
        ("^abc$", "abc", True),
        (r"abc\z", "abc\n", False),
        # ASCII classes and boundaries, as in RE2.
        (r"^\d+$", "١٢٣", False),
        (r"^\w+$", "héllo", False),
        (r"\bcat\b", "a cat b", True),
        (r"\bcat\b", "écat", True),
        (r"\Bcat", "concat", True),
        (r"^[[:digit:][:upper:]]+$", "A1B2", True),
        (r"^[[:punct:]]+$", "[]!", True),
        (r"^[^[:space:]]+$", "a b", False),
        # Quoting, code points, literal braces and brackets.
        (r"^\Qa.b*\E$", "a.b*", True),
        (r"^\Qa.b*\E$", "axbb", False),
        (r"^\x{263A}$", "☺", True),
        ("^a{x$", "a{x", True),
        ("^[]a]+$", "]a]", True),
        ("^[a&&b|~]+$", "&|~", True),
    ],
)
def test_re2_semantics(pattern: str, text: str, expected: bool) -> None:
    assert matches(pattern, text) is expected


def test_constraint_case_insensitivity_applies_to_the_whole_pattern() -> None:
    assert matches("^abc$", "ABC", ignore_case=True)
    assert not matches("^a(?-i:bc)$", "ABC", ignore_case=True)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(a)\1$",  # backreference
        "^(?=a)",  # lookahead
        "(?!a)",
        "(?<=a)b",  # lookbehind
        "(?>a)",  # atomic group
        "a*+",  # possessive quantifiers (re accepts them since 3.11)
        "a{2}+",
        "(?U)a",
        r"\pL",
        r"\Z",
        "[[:^alpha:]]",
        "[[:nope:]]",
        "(a",
        "a)",
        "[a",
        "a\\",
        "*a",
    ],
)
def test_unsupported_or_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedRegexError):
        compile_re2(pattern)


# Each of these took 0.5-6 s on Python's re before they were refused (25-64 characters):
# ^(a+)+$ 1.3 s, ^(a|a)*$ 3.4 s, ^(\w+\s?)*$ 2.8 s, ^(.*a){8}$ 0.5 s, ^(\d+)*$ 1.3 s
# (25 characters, doubling with each more), .*.*.*.*.*.*= 6.1 s (64 characters).
CATASTROPHIC = {
    "^(a+)+$": "a" * 32 + "!",
    "^(a|a)*$": "a" * 32 + "!",
    r"^(\w+\s?)*$": "a" * 32 + "!",
    "^(.*a){8}$": "a" * 32 + "!",
    r"^(\d+)*$": "1" * 32 + "x",
    "(x+x+)+y": "x" * 32,
    ".*.*.*.*.*.*=": "a" * 64,
    r"\d+\d*\d+x": "1" * 64,
    r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}[a-z]{2,3}$": "a" * 32,
}


@pytest.mark.parametrize("pattern", list(CATASTROPHIC))
def test_patterns_that_can_backtrack_exponentially_are_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedRegexError, match="exponential time on a crafted value"):
        compile_re2(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\d+(\.\d+)*$",
        r"^[\w.+-]+@([\w-]+\.)+\w+$",
        r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$",
        "^[a-z]+(-[a-z]+)*$",
        "(foo|fob)*",  # re factors the common prefix out: one way to match
        "^(a|b|c)+$",
        "^(a|ab)*c$",
        "^(http|https)://",
        ".*a.*b.*c",
        "^.*@example\\.com$",
        "^[^@]+@[^@]+$",
    ],
)
def test_common_patterns_are_accepted(pattern: str) -> None:
    compile_re2(pattern)


def regex_flag(pattern: str) -> dict[str, object]:
    constraint = {"contextName": "userId", "operator": "REGEX", "value": pattern}
    strategy = {"name": "default", "constraints": [constraint]}
    return {"name": "f", "enabled": True, "strategies": [strategy]}


def test_a_catastrophic_pattern_is_refused_at_write_time_naming_the_field() -> None:
    document = {"version": 1, "features": [regex_flag("^(a+)+$")]}
    with pytest.raises(FlagError, match=r"strategies\[0\]\.constraints\[0\].*exponential"):
        Engine.from_unleash(document, strict=True)


def test_read_leniently_a_catastrophic_pattern_never_matches_and_costs_nothing() -> None:
    engine = Engine.from_unleash({"version": 1, "features": [regex_flag("^(a+)+$")]})
    started = time.perf_counter()
    assert not engine.is_enabled("f", {"userId": CATASTROPHIC["^(a+)+$"]})
    assert not engine.is_enabled("f", {"userId": "aaa"})
    assert time.perf_counter() - started < 0.5  # was exponential: hours at 40 characters


def test_values_longer_than_the_bound_never_match_a_regex() -> None:
    """What the check lets through can still be cubic (.*a.*b.*c): the value is bounded."""
    engine = Engine.from_unleash({"version": 1, "features": [regex_flag(".*a.*b.*c")]})
    assert engine.is_enabled("f", {"userId": "a" * (MAX_SUBJECT - 2) + "bc"})
    started = time.perf_counter()
    assert not engine.is_enabled("f", {"userId": "a" * 100_000 + "bc"})
    assert not engine.is_enabled("f", {"userId": "a" * MAX_SUBJECT})  # worst case at the bound
    assert time.perf_counter() - started < 1.0
