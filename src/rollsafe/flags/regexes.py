"""REGEX constraints: RE2 syntax (what Unleash validates against) run on Python's `re`.

`translate` rewrites an RE2 pattern into an equivalent `re` pattern:

- ``\\d \\w \\s \\b`` and POSIX classes (``[[:alpha:]]``) keep RE2's ASCII meaning;
- flags set mid-pattern (``^(?i)abc$``), which RE2 applies up to the end of the
  enclosing group, become scoped groups, reopened after each ``|``;
- ``$`` outside multi-line mode matches only at the very end, like RE2's (``re``'s
  would also match before a final newline); ``\\z`` becomes ``\\Z``;
- ``\\Q...\\E`` quoting and ``\\x{...}`` code points are expanded.

What RE2 refuses (backreferences, lookaround, atomic groups, possessive
quantifiers, ``(?U)``) and what this translation does not cover (``\\p{...}``
classes, negated POSIX classes) raise `UnsupportedRegexError`; such a constraint never
matches. So do patterns whose backtracking can explode on a crafted value
(``^(a+)+$``): RE2 is linear-time, `re` is not (see `rollsafe.flags.backtracking`).
Known difference: ``\\D \\W \\S`` inside a bracket class use `re`'s Unicode meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rollsafe.errors import UnsupportedRegexError as UnsupportedRegexError
from rollsafe.flags import backtracking

WORD = "0-9A-Za-z_"
_PERL = {"d": "0-9", "s": "\\t\\n\\f\\r ", "w": WORD}
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": WORD,
    "xdigit": "0-9A-Fa-f",
}
_WORD_BOUNDARY = f"(?:(?<=[{WORD}])(?![{WORD}])|(?<![{WORD}])(?=[{WORD}]))"
_NOT_WORD_BOUNDARY = f"(?:(?<=[{WORD}])(?=[{WORD}])|(?<![{WORD}])(?![{WORD}]))"
_CONTROL_ESCAPES = frozenset("afnrtv")
_FLAGS = re.compile(r"([ims]*)(?:-([ims]+))?([:)])")
_REPEAT = re.compile(r"\{\d+(?:,\d*)?\}")
_GROUP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*>")


def compile_re2(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile an RE2 pattern for `re.search`; raises `UnsupportedRegexError`."""
    translated = translate(pattern)
    flags = re.IGNORECASE if ignore_case else 0
    try:
        compiled = re.compile(translated, flags)
    except re.error as error:
        raise UnsupportedRegexError(f"invalid regular expression {pattern!r}: {error}") from None
    try:
        backtracking.check(translated, flags)
    except backtracking.CatastrophicRegexError as error:
        raise UnsupportedRegexError(
            f"regular expression {pattern!r} can take exponential time on a crafted value"
            f" ({error}); rewrite it so that a text can be matched in one way only,"
            " e.g. ^(a+)+$ as ^a+$"
        ) from None
    return compiled


@dataclass
class _Group:
    multiline: bool
    modifiers: list[str] = field(default_factory=list)  # flags set mid-group, as "i" or "i-s"


def translate(pattern: str) -> str:
    """The `re` pattern equivalent to the RE2 ``pattern``; raises `UnsupportedRegexError`."""
    return _Translator(pattern).run()


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.pos = 0
        self.out: list[str] = []
        self.groups = [_Group(multiline=False)]
        self.after_quantifier = False

    def reject(self, what: str) -> UnsupportedRegexError:
        return UnsupportedRegexError(f"{what} in {self.pattern!r} is not supported")

    def run(self) -> str:
        pattern = self.pattern
        while self.pos < len(pattern):
            char = pattern[self.pos]
            quantifier = False
            if char == "\\":
                self.out.append(self.escape(in_class=False))
            elif char == "[":
                self.out.append(self.bracket_class())
                continue
            elif char == "(":
                self.open_group()
                continue
            elif char == ")":
                self.close_group()
            elif char == "|":
                modifiers = self.groups[-1].modifiers
                reopen = "".join(f"(?{spec}:" for spec in modifiers)
                self.out.append(")" * len(modifiers) + "|" + reopen)
            elif char == "$":
                self.out.append("$" if self.groups[-1].multiline else "\\Z")
            elif char in "*+?":
                if char == "+" and self.after_quantifier:
                    raise self.reject("possessive quantifier")
                self.out.append(char)
                # `?` right after a quantifier makes it lazy; nothing may follow that.
                quantifier = not (char == "?" and self.after_quantifier)
            elif char == "{" and (repeat := _REPEAT.match(pattern, self.pos)):
                self.out.append(repeat.group())
                self.pos = repeat.end()
                self.after_quantifier = True
                continue
            elif char in "{}":
                self.out.append("\\" + char)
            else:
                self.out.append(char)
            self.after_quantifier = quantifier
            self.pos += 1
        if len(self.groups) != 1:
            raise UnsupportedRegexError(f"missing ) in {pattern!r}")
        self.out.append(")" * len(self.groups[0].modifiers))
        return "".join(self.out)

    def open_group(self) -> None:
        pattern, start = self.pattern, self.pos
        self.after_quantifier = False
        multiline = self.groups[-1].multiline
        if not pattern.startswith("(?", start):
            self.out.append("(")
            self.groups.append(_Group(multiline))
            self.pos = start + 1
            return
        rest = start + 2
        if pattern.startswith(("P<", "<"), rest):
            name_start = rest + (2 if pattern[rest] == "P" else 1)
            name = _GROUP_NAME.match(pattern, name_start)
            if name is None:
                raise self.reject("lookbehind or bad group name")
            self.out.append("(?P<" + name.group())
            self.groups.append(_Group(multiline))
            self.pos = name.end()
            return
        flags = _FLAGS.match(pattern, rest)
        if flags is None or (not flags.group(1) and not flags.group(2) and flags.group(3) == ")"):
            raise self.reject("lookaround, backreference, atomic group or unknown flag")
        on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
        if "m" in on:
            multiline = True
        elif "m" in off:
            multiline = False
        spec = on + ("-" + off if off else "")
        self.pos = flags.end()
        if end == ":":
            self.out.append(f"(?{spec}:" if spec else "(?:")
            self.groups.append(_Group(multiline))
            return
        # (?i) mid-group: applies to the rest of the enclosing group.
        group = self.groups[-1]
        group.multiline = multiline
        group.modifiers.append(spec)
        self.out.append(f"(?{spec}:")

    def close_group(self) -> None:
        if len(self.groups) == 1:
            raise UnsupportedRegexError(f"unexpected ) in {self.pattern!r}")
        group = self.groups.pop()
        self.out.append(")" * len(group.modifiers) + ")")

    def escape(self, *, in_class: bool) -> str:
        """Translate the escape at ``self.pos`` and step past all but its last character."""
        pattern = self.pattern
        if self.pos + 1 >= len(pattern):
            raise UnsupportedRegexError(f"trailing \\ in {pattern!r}")
        self.pos += 1
        char = pattern[self.pos]
        lower = char.lower()
        if lower in _PERL:
            if in_class:
                return _PERL[char] if char.islower() else "\\" + char
            return f"[{_PERL[char]}]" if char.islower() else f"[^{_PERL[lower]}]"
        if char in "bB" and not in_class:
            return _WORD_BOUNDARY if char == "b" else _NOT_WORD_BOUNDARY
        if char == "A" and not in_class:
            return "\\A"
        if char == "z" and not in_class:
            return "\\Z"
        if char == "Q":
            end = pattern.find("\\E", self.pos + 1)
            literal = pattern[self.pos + 1 :] if end < 0 else pattern[self.pos + 1 : end]
            self.pos = len(pattern) - 1 if end < 0 else end + 1
            return re.escape(literal)
        if char == "x" and pattern.startswith("x{", self.pos):
            end = pattern.find("}", self.pos)
            try:
                code = int(pattern[self.pos + 2 : end], 16) if end > 0 else -1
            except ValueError:
                code = -1
            if not 0 <= code <= 0x10FFFF:
                raise UnsupportedRegexError(f"bad \\x{{...}} escape in {pattern!r}")
            self.pos = end
            return re.escape(chr(code))
        if char == "x" or char in _CONTROL_ESCAPES:
            return "\\" + char
        if char == "0":
            return "\\0"
        if char.isdigit():
            raise self.reject("backreference")
        if char.isascii() and char.isalnum():
            raise self.reject(f"escape \\{char}")
        return "\\" + char

    def bracket_class(self) -> str:
        """Translate the ``[...]`` class at ``self.pos`` and step past it."""
        pattern = self.pattern
        self.after_quantifier = False
        pos = self.pos + 1
        parts = ["["]
        if pattern.startswith("^", pos):
            parts.append("^")
            pos += 1
        first = True
        while True:
            if pos >= len(pattern):
                raise UnsupportedRegexError(f"missing ] in {pattern!r}")
            char = pattern[pos]
            if char == "]" and not first:
                break
            if pattern.startswith("[:", pos):
                end = pattern.find(":]", pos + 2)
                name = pattern[pos + 2 : end] if end > 0 else ""
                if name not in _POSIX:
                    raise self.reject(f"character class [:{name}:]")
                parts.append(_POSIX[name])
                pos = end + 2
            elif char == "\\":
                self.pos = pos
                parts.append(self.escape(in_class=True))
                pos = self.pos + 1
            elif char in "[]&~|" or (char == "-" and pattern[pos - 1] == "-"):
                # Escaped so that `re` reads them literally, as RE2 does, without FutureWarning.
                parts.append("\\" + char)
                pos += 1
            else:
                parts.append(char)
                pos += 1
            first = False
        parts.append("]")
        self.pos = pos + 1
        return "".join(parts)
