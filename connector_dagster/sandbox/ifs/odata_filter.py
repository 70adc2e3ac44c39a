"""The OData `$filter` language and key predicates, compiled to row predicates.

Comparisons (eq ne gt ge lt le), and/or/not, parentheses, string, number,
date, date-time, null and qualified enum literals, and the string functions
IFS's clients use (startswith, endswith, contains, tolower, toupper, trim,
length). Type errors and unknown properties are 400s the way IFS words them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector_dagster.sandbox.ifs.odata import (
    DATE,
    DATETIME,
    DECIMAL,
    STRING,
    EntityType,
    ODataError,
    Row,
    malformed,
    parse_datetime,
    syntax_error,
)

_BOOLEAN, _NULL = "Edm.Boolean", "null"
Predicate = Callable[[Row], bool]


# -- tokens ------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^']|'')*')
    |(?P<enum>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+'(?:[^']|'')*')
    |(?P<dto>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<ident>[A-Za-z_]\w*)
    |(?P<punct>[(),=])""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise syntax_error(text, pos)
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup or "", m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _literal(token: _Token, source: str) -> tuple[Any, str]:
    """(value, type) of a literal token; enum literals are typed by their qualified name."""
    kind, text = token.kind, token.text
    try:
        if kind == "str":
            return text[1:-1].replace("''", "'"), STRING
        if kind == "num":
            return Decimal(text), DECIMAL
        if kind == "date":
            date.fromisoformat(text)
            return text, DATE
        if kind == "dto":
            return parse_datetime(text), DATETIME
    except ValueError:
        raise syntax_error(source, token.pos) from None
    if kind == "enum":
        type_name, _, quoted = text.partition("'")
        return quoted[:-1].replace("''", "'"), type_name
    if kind == "ident" and text in ("null", "true", "false"):
        return (None, _NULL) if text == "null" else (text == "true", _BOOLEAN)
    raise syntax_error(source, token.pos)


# -- $filter -----------------------------------------------------------------------------------

_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}


def _s(f: Callable[..., Any]) -> Callable[..., Any]:
    """Lift a string function so that a null argument gives null (or False)."""
    return lambda *args: None if any(a is None for a in args) else f(*args)


# name -> (argument types, result type, implementation)
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    "startswith": ((STRING, STRING), _BOOLEAN, _s(str.startswith)),
    "endswith": ((STRING, STRING), _BOOLEAN, _s(str.endswith)),
    "contains": ((STRING, STRING), _BOOLEAN, _s(lambda a, b: b in a)),
    "tolower": ((STRING,), STRING, _s(str.lower)),
    "toupper": ((STRING,), STRING, _s(str.upper)),
    "trim": ((STRING,), STRING, _s(str.strip)),
    "length": ((STRING,), DECIMAL, _s(lambda a: Decimal(len(a)))),
}


Range = tuple[Any, bool, Any, bool]
"""(low, low inclusive, high, high inclusive) of a property; None: unbounded."""
_FLIP = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


@dataclass
class _Node:
    """A typed expression: `fn(row)` gives its value; `const` marks literals, `prop` properties.

    A boolean node also says what any row it accepts must satisfy, for the store to
    look rows up by key, index or range instead of scanning: `equalities` (`Prop eq
    literal` terms it requires), `any_of` (a property whose value must be one of a
    set: `eq` terms joined by `or`) and `ranges` (bounds a property must lie in)."""

    fn: Callable[[Row], Any]
    type: str
    const: bool = False
    prop: str | None = None
    value: Any = None
    equalities: dict[str, Any] | None = None
    any_of: dict[str, frozenset[Any]] | None = None
    ranges: dict[str, Range] | None = None


@dataclass(frozen=True)
class Filter:
    """A compiled `$filter`: the row predicate and what every row it accepts satisfies
    (`Prop eq literal` terms, value sets, ranges), for looking rows up by index."""

    predicate: Predicate
    equalities: dict[str, Any]
    any_of: dict[str, frozenset[Any]] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _tighter(a: Range, b: Range) -> Range:
    """The intersection of two ranges of one property."""
    low, low_in, high, high_in = a
    if b[0] is not None and (low is None or b[0] > low or (b[0] == low and not b[1])):
        low, low_in = b[0], b[1]
    if b[2] is not None and (high is None or b[2] < high or (b[2] == high and not b[3])):
        high, high_in = b[2], b[3]
    return low, low_in, high, high_in


def _and_plans(left: _Node, right: _Node, node: _Node) -> None:
    node.equalities = {**(left.equalities or {}), **(right.equalities or {})}
    any_of = dict(left.any_of or {})
    for name, values in (right.any_of or {}).items():
        any_of[name] = any_of[name] & values if name in any_of else values
    node.any_of = any_of
    ranges = dict(left.ranges or {})
    for name, bounds in (right.ranges or {}).items():
        with contextlib.suppress(TypeError):  # bounds that do not compare: left as they are
            ranges[name] = _tighter(ranges[name], bounds) if name in ranges else bounds
    node.ranges = ranges


def _or_plans(left: _Node, right: _Node, node: _Node) -> None:
    """A row either side accepts has, for a property both sides restrict to a set of
    values, one of the union of those sets."""
    a, b = left.any_of or {}, right.any_of or {}
    node.any_of = {name: a[name] | b[name] for name in a.keys() & b.keys()}


class _FilterParser:
    def __init__(self, text: str, etype: EntityType) -> None:
        self.text = text
        self.etype = etype
        self.tokens = _tokenize(text)
        self.i = 0

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _expect(self, text: str) -> None:
        token = self._take()
        if token.text != text:
            raise syntax_error(self.text, token.pos)

    def _keyword(self, *words: str) -> str | None:
        token = self._peek()
        if token.kind == "ident" and token.text in words:
            self.i += 1
            return token.text
        return None

    def parse(self) -> Filter:
        node = self._or()
        if self._peek().kind != "end":
            raise syntax_error(self.text, self._peek().pos)
        self._need_bool(node)
        return Filter(node.fn, node.equalities or {}, node.any_of or {}, node.ranges or {})

    def _need_bool(self, node: _Node) -> None:
        if node.type not in (_BOOLEAN, _NULL):
            raise malformed(
                "EXPRESSION_TYPE_NOT_BOOLEAN",
                f"The expression of type '{node.type}' is not boolean.",
            )

    def _or(self) -> _Node:
        left = self._and()
        while self._keyword("or"):
            right = self._and()
            self._need_bool(left)
            self._need_bool(right)
            lf, rf = left.fn, right.fn
            node = _Node(lambda r, lf=lf, rf=rf: bool(lf(r)) or bool(rf(r)), _BOOLEAN)
            _or_plans(left, right, node)
            left = node
        return left

    def _and(self) -> _Node:
        left = self._not()
        while self._keyword("and"):
            right = self._not()
            self._need_bool(left)
            self._need_bool(right)
            lf, rf = left.fn, right.fn
            node = _Node(lambda r, lf=lf, rf=rf: bool(lf(r)) and bool(rf(r)), _BOOLEAN)
            _and_plans(left, right, node)
            left = node
        return left

    def _not(self) -> _Node:
        if self._keyword("not"):
            inner = self._not()
            self._need_bool(inner)
            f = inner.fn
            return _Node(lambda r: not f(r), _BOOLEAN)
        return self._compare()

    def _compare(self) -> _Node:
        left = self._operand(rhs=False)
        op = self._keyword(*_COMPARE)
        if op is None:
            return left
        right = self._operand(rhs=True)
        self._check_compatible(op, left, right)
        cmp, lf, rf = _COMPARE[op], left.fn, right.fn
        if right.const:
            value = right.value
            node = _Node(lambda r: cmp(lf(r), value), _BOOLEAN)
        else:
            node = _Node(lambda r: cmp(lf(r), rf(r)), _BOOLEAN)
        for a, b, flipped in ((left, right, False), (right, left, True)):
            if not (a.prop and b.const):
                continue
            if op == "eq":
                node.equalities = {a.prop: b.value}
                if _hashable(b.value):
                    node.any_of = {a.prop: frozenset((b.value,))}
            elif op in _FLIP and b.value is not None:
                side = _FLIP[op] if flipped else op
                low = side in ("gt", "ge")
                inclusive = side in ("ge", "le")
                node.ranges = {
                    a.prop: (b.value, inclusive, None, False)
                    if low
                    else (None, False, b.value, inclusive)
                }
        return node

    def _check_compatible(self, op: str, left: _Node, right: _Node) -> None:
        types = {left.type, right.type}
        if _NULL in types or len(types) == 1:
            enum = any(t not in (STRING, DECIMAL, DATE, DATETIME, _BOOLEAN, _NULL) for t in types)
            if enum and op not in ("eq", "ne"):
                raise malformed(
                    "TYPES_NOT_COMPATIBLE", f"Operator '{op}' is not defined for enums."
                )
            for node in (left, right):
                if node.const and node.type in self._enum_types:
                    members = self._enum_types[node.type]
                    if node.value not in members:
                        raise malformed(
                            "INVALID_ENUM_VALUE",
                            f"'{node.value}' is not a member of enum type '{node.type}'.",
                        )
            return
        a, b = sorted(types)
        raise malformed("TYPES_NOT_COMPATIBLE", f"The types '{a}' and '{b}' are not compatible.")

    @property
    def _enum_types(self) -> dict[str, tuple[str, ...]]:
        return {self.etype.type_of(p): p.members for p in self.etype.properties if p.members}

    def _operand(self, rhs: bool) -> _Node:
        token = self._peek()
        if token.text == "(":
            self.i += 1
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "ident" and token.text not in ("null", "true", "false"):
            self.i += 1
            if self._peek().text == "(":
                return self._call(token)
            if token.text not in self.etype.by_name and rhs:
                # IFS reports an unquoted string as a syntax error, not an unknown property.
                raise syntax_error(self.text, token.pos)
            prop = self.etype.prop(token.text)
            index = self.etype.index[prop.name]
            return _Node(lambda r: r[index], self.etype.type_of(prop), prop=prop.name)
        if token.kind in ("str", "num", "date", "dto", "enum", "ident"):
            self.i += 1
            value, type_ = _literal(token, self.text)
            return _Node(lambda r: value, type_, const=True, value=value)
        raise syntax_error(self.text, token.pos)

    def _call(self, name: _Token) -> _Node:
        if name.text not in _FUNCTIONS:
            raise ODataError(
                501, "ODP_NOT_IMPLEMENTED", f"The function '{name.text}' is not supported."
            )
        arg_types, result, impl = _FUNCTIONS[name.text]
        self._expect("(")
        args: list[_Node] = []
        while True:
            args.append(self._or())
            if self._peek().text != ",":
                break
            self.i += 1
        self._expect(")")
        if len(args) != len(arg_types):
            raise syntax_error(self.text, name.pos)
        for arg, wanted in zip(args, arg_types, strict=True):
            if arg.type not in (wanted, _NULL):
                raise malformed(
                    "TYPES_NOT_COMPATIBLE",
                    f"Function '{name.text}' expects '{wanted}', not '{arg.type}'.",
                )
        fns = [a.fn for a in args]
        return _Node(lambda r: impl(*(f(r) for f in fns)), result)


def parse_filter(text: str, etype: EntityType) -> Filter:
    """Compile a `$filter` expression against `etype`; ODataError (400) if it is not valid."""
    return _FilterParser(text, etype).parse()


def parse_key(text: str, etype: EntityType) -> tuple[Any, ...]:
    """The key predicate inside `Set(...)`: `'X'`, `OrderNo='X'` or `A='1',B=2`."""
    tokens = _tokenize(text)
    values: dict[str, Any] = {}
    i = 0
    while True:
        if tokens[i].kind == "ident" and tokens[i + 1].text == "=":
            name, i = tokens[i].text, i + 2
        elif len(etype.keys) == 1 and not values:
            name = etype.keys[0]
        else:
            raise syntax_error(text, tokens[i].pos)
        value, type_ = _literal(tokens[i], text)
        if name not in etype.keys or name in values:
            raise ODataError(404, "ODP_RESOURCE_NOTFOUND", "Resource not found.")
        if type_ != etype.by_name[name].type:
            raise malformed(
                "INVALID_KEY_VALUE", f"The key value {tokens[i].text} for {name} is invalid."
            )
        values[name] = value
        i += 1
        if tokens[i].kind == "end":
            break
        if tokens[i].text != ",":
            raise syntax_error(text, tokens[i].pos)
        i += 1
    if set(values) != set(etype.keys):
        raise malformed("WRONG_NUMBER_OF_KEY_PROPERTIES", f"The key needs {', '.join(etype.keys)}.")
    return tuple(values[k] for k in etype.keys)
