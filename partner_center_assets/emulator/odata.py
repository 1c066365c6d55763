"""The subset of OData the Referrals API documents: ``$filter`` with ``eq``/``and``/``or``/parentheses,
and ``$orderby`` on the two timestamps.

The filter is tokenized and parsed by recursive descent, so quoting, doubled single quotes and
nesting behave as OData specifies; anything outside the subset is refused with a message saying
where and why, as the real service answers 400 for a query it cannot run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILTER_FIELDS = (
    "status",
    "substatus",
    "direction",
    "type",
    "qualification",
    "engagementId",
    "id",
    "customerProfile/address/country",
)
ORDER_FIELDS = ("createdDateTime", "updatedDateTime")
_COMPARISON_OPERATORS = {"eq", "ne", "gt", "ge", "lt", "le", "has", "in"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<open>\()
  | (?P<close>\))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<other>[^'])
    """,
    re.VERBOSE,
)


class ODataError(ValueError):
    """A query option the emulator (like the service) cannot run; the message is safe to return."""


@dataclass(frozen=True)
class Comparison:
    field: str
    value: str


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


Node = Comparison | And | Or


@dataclass(frozen=True)
class _Token:
    kind: str  # "string" | "open" | "close" | "name" | "other" | "end"
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ODataError(f"$filter: unterminated string literal at position {position}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_keyword(self, word: str) -> bool:
        return self.current.kind == "name" and self.current.text == word

    def parse(self) -> Node:
        node = self.or_expression()
        if self.current.kind != "end":
            raise ODataError(f"$filter: unexpected {self.current.text!r} at position {self.current.position}")
        return node

    def or_expression(self) -> Node:
        parts = [self.and_expression()]
        while self.at_keyword("or"):
            self.advance()
            parts.append(self.and_expression())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expression(self) -> Node:
        parts = [self.primary()]
        while self.at_keyword("and"):
            self.advance()
            parts.append(self.primary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def primary(self) -> Node:
        token = self.current
        if token.kind == "open":
            self.advance()
            node = self.or_expression()
            if self.current.kind != "close":
                raise ODataError(f"$filter: expected ')' at position {self.current.position}")
            self.advance()
            return node
        if token.kind == "name":
            return self.comparison()
        if token.kind == "end":
            raise ODataError("$filter: the expression ends too early")
        raise ODataError(f"$filter: unexpected {token.text!r} at position {token.position}")

    def comparison(self) -> Comparison:
        name = self.advance()
        if name.text in ("not", "and", "or"):
            raise ODataError(f"$filter: unexpected operator {name.text!r} at position {name.position}")
        if self.current.kind == "open" or "/any" in name.text or "/all" in name.text:
            raise ODataError(
                f"$filter: functions and lambda operators ({name.text!r} at position {name.position}) "
                "are not supported"
            )
        if name.text not in FILTER_FIELDS:
            raise ODataError(
                f"$filter: could not find a filterable property named {name.text!r}; "
                f"supported: {', '.join(FILTER_FIELDS)}"
            )
        operator = self.advance()
        if operator.kind != "name" or operator.text != "eq":
            if operator.kind == "name" and operator.text in _COMPARISON_OPERATORS:
                raise ODataError(f"$filter: operator {operator.text!r} is not supported; use 'eq'")
            raise ODataError(f"$filter: expected 'eq' after {name.text!r} at position {operator.position}")
        literal = self.advance()
        if literal.kind != "string":
            raise ODataError(
                f"$filter: expected a quoted string after '{name.text} eq' at position {literal.position}"
            )
        return Comparison(name.text, literal.text[1:-1].replace("''", "'"))


def parse_filter(text: str) -> Node:
    """Parse a ``$filter`` expression; raises ``ODataError`` with a useful message."""
    if not text.strip():
        raise ODataError("$filter is empty")
    return _Parser(text).parse()


def quote(value: str) -> str:
    """An OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def parse_orderby(text: str) -> tuple[tuple[str, bool], ...]:
    """``$orderby`` as ``((field, descending), ...)``."""
    keys: list[tuple[str, bool]] = []
    for item in text.split(","):
        words = item.split()
        if not words or len(words) > 2:
            raise ODataError(f"$orderby: cannot read {item.strip()!r}; expected '<field> [asc|desc]'")
        name = words[0]
        if name not in ORDER_FIELDS:
            raise ODataError(f"$orderby: cannot order by {name!r}; supported: {', '.join(ORDER_FIELDS)}")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError(f"$orderby: direction must be 'asc' or 'desc', got {words[1]!r}")
        keys.append((name, direction == "desc"))
    return tuple(keys)
