"""Query templates: ``{arm}`` / ``{release}`` placeholders, and a local PromQL syntax check.

A plan's query templates are checked when it loads, so a typo is refused with
file:line before a rollout starts rather than found as an inconclusive look in
the middle of one. The check is a small recursive-descent parser of PromQL's
grammar (Prometheus 2.x): literals, selectors with matchers, range and subquery
brackets, ``offset`` and ``@``, function calls (names checked against the known
functions), aggregations with ``by``/``without``, binary operators with
``bool``, ``on``/``ignoring`` and ``group_left``/``group_right``. It does not
check types (a range vector where an instant vector is due): Prometheus answers
those with an error at the first look, which is an inconclusive look, never a
pass. tests/config/test_promql.py compares it with a real Prometheus.

Placeholders (:mod:`rollsafe.config.placeholders`) are ``{name}`` with an
identifier inside. In PromQL a brace pair always holds label matchers (``name
op "value"``), never a bare identifier, so the two cannot be confused. They
belong inside double-quoted label values (``release="{release}"``); :func:`fill`
escapes what it substitutes for that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rollsafe.config.placeholders import check_known, mask, substitute

_AGGREGATION_NAMES = """sum min max avg group stddev stdvar count count_values bottomk topk
    quantile limitk limit_ratio"""
_FUNCTION_NAMES = """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil
    changes clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week
    day_of_year days_in_month deg delta deriv double_exponential_smoothing exp floor
    histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev
    histogram_stdvar histogram_sum holt_winters hour idelta increase info irate label_join
    label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time
    minute month pi predict_linear present_over_time quantile_over_time rad rate resets
    round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt
    stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector
    year"""
_KEYWORD_NAMES = "and or unless by without on ignoring group_left group_right bool offset"
AGGREGATIONS = frozenset(_AGGREGATION_NAMES.split())
FUNCTIONS = frozenset(_FUNCTION_NAMES.split())
_KEYWORDS = frozenset(_KEYWORD_NAMES.split())
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
_MASK = "\x00"
_COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![A-Za-z0-9_]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_:]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<op>==|!=|<=|>=|=~|!~|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # duration, number, ident, string, op, end
    text: str
    position: int


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its placeholders filled, escaped for double-quoted PromQL strings."""
    return substitute(template, values, escape_string)


def check_template(template: str) -> str:
    """``template`` if its placeholders are known and it is valid PromQL once they are
    filled; ValueError saying what and where otherwise."""
    # A placeholder is masked by a character valid only inside a string literal, so one
    # left outside quotes (``release={arm}``) is an error at its own position.
    check(mask(check_known(template), _MASK))
    return template


def check(promql: str) -> None:
    """Raise ValueError naming the first syntax error in ``promql`` and its position."""
    parser = _Parser(promql)
    parser.expression(0)
    parser.expect_end()


def escape_string(value: str) -> str:
    """``value`` escaped to sit between double quotes in PromQL."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char == _MASK:
                raise ValueError(
                    f"a placeholder outside a quoted string at character {position + 1}: "
                    'write it as a label value, e.g. release="{release}"'
                )
            what = "unterminated string" if char in "\"'`" else f"unexpected character {char!r}"
            raise ValueError(f"{what} at character {position + 1}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    # -- token helpers

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.token
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("op", "ident") and self.token.text in texts

    def expect(self, text: str) -> _Token:
        if not self.at(text):
            self.fail(f"expected {text!r}")
        return self.advance()

    def expect_end(self) -> None:
        if self.token.kind != "end":
            self.fail("expected the end of the query")

    def fail(self, expected: str) -> None:
        token = self.token
        found = "the end of the query" if token.kind == "end" else repr(token.text)
        raise ValueError(
            f"PromQL syntax error at character {token.position + 1}: {expected}, found {found}"
        )

    # -- grammar

    def expression(self, min_precedence: int) -> None:
        self.unary()
        while True:
            token = self.token
            precedence = _PRECEDENCE.get(token.text) if token.kind in ("op", "ident") else None
            if precedence is None or precedence < min_precedence:
                return
            self.advance()
            if token.text in _COMPARISONS and self.at("bool"):
                self.advance()
            if self.at("on", "ignoring"):
                self.advance()
                self.labels()
                if self.at("group_left", "group_right"):
                    self.advance()
                    if self.at("("):
                        self.labels()
            # ^ is right-associative; every other operator is left-associative.
            self.expression(precedence if token.text == "^" else precedence + 1)

    def unary(self) -> None:
        if self.at("+", "-"):
            self.advance()
            self.unary()
            return
        self.primary()
        self.postfix()

    def primary(self) -> None:
        token = self.token
        if token.kind in ("number", "string", "duration"):
            self.advance()
        elif self.at("("):
            self.advance()
            self.expression(0)
            self.expect(")")
        elif self.at("{"):
            self.matchers(named=False)
        elif token.kind == "ident":
            self.identifier(token)
        else:
            self.fail("expected a number, a string, a selector, a function or '('")

    def identifier(self, token: _Token) -> None:
        name = token.text
        if name in AGGREGATIONS and (
            self.peek().text == "(" or self.peek().text in ("by", "without")
        ):
            self.advance()
            grouped = self.at("by", "without")
            if grouped:
                self.advance()
                self.labels()
            self.arguments()
            if not grouped and self.at("by", "without"):
                self.advance()
                self.labels()
            return
        if self.peek().text == "(" and self.peek().kind == "op":
            if name not in FUNCTIONS:
                self.fail("expected a known function or aggregation")
            self.advance()
            self.arguments()
            return
        if name in _KEYWORDS:
            self.fail("expected a metric name or an expression")
        self.advance()
        if name in ("Inf", "NaN", "inf", "nan"):
            return
        if self.at("{"):
            self.matchers(named=True)

    def arguments(self) -> None:
        self.expect("(")
        if self.at(")"):
            self.advance()
            return
        while True:
            self.expression(0)
            if self.at(")"):
                self.advance()
                return
            if not self.at(","):
                self.fail("expected ',' or ')'")
            self.advance()

    def labels(self) -> None:
        self.expect("(")
        while not self.at(")"):
            if self.token.kind not in ("ident", "string") or ":" in self.token.text:
                self.fail("expected a label name")
            self.advance()
            if not self.at(")"):
                self.expect(",")
        self.advance()

    def matchers(self, *, named: bool) -> None:
        self.expect("{")
        count = 0
        while not self.at("}"):
            if self.token.kind == "string" and self.peek().text in (",", "}"):
                self.advance()  # a quoted metric name: {"my.metric"}
            else:
                if self.token.kind not in ("ident", "string") or ":" in self.token.text:
                    self.fail("expected a label name")
                self.advance()
                if self.token.kind != "op" or self.token.text not in _MATCH_OPS:
                    self.fail("expected a label matcher operator (=, !=, =~, !~)")
                self.advance()
                if self.token.kind != "string":
                    self.fail("expected a quoted label value")
                self.advance()
            count += 1
            if not self.at("}"):
                self.expect(",")
        if not named and count == 0:
            self.fail("expected at least one label matcher")
        self.advance()

    def postfix(self) -> None:
        while True:
            if self.at("["):
                self.advance()
                self.duration()
                if self.at(":"):
                    self.advance()
                    if not self.at("]"):
                        self.duration()
                self.expect("]")
            elif self.at("offset"):
                self.advance()
                if self.at("-"):
                    self.advance()
                self.duration()
            elif self.at("@"):
                self.advance()
                if self.at("start", "end"):
                    self.advance()
                    self.expect("(")
                    self.expect(")")
                elif self.token.kind == "number":
                    self.advance()
                else:
                    self.fail("expected a timestamp, start() or end() after @")
            else:
                return

    def duration(self) -> None:
        if self.token.kind != "duration":
            self.fail("expected a duration such as 5m")
        self.advance()
