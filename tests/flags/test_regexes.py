"""REGEX constraints follow RE2 where Python's `re` would differ."""

from __future__ import annotations

import pytest

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
