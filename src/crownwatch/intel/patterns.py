"""STIX 2.1 patterns: a small, bounded parser that checks the syntax and lists the comparisons.

It understands the whole grammar (observation expressions joined by AND / OR /
FOLLOWEDBY, qualifiers WITHIN / REPEATS / START…STOP, comparisons with = != < <= > >=
IN LIKE MATCHES ISSUBSET ISSUPERSET and NOT), and returns the comparisons so that
the knowledge base can index the values worth matching (``parse``, ``observables``), or the
boolean structure of the pattern (``tree``) for detection to evaluate. It is written for speed on
bulk imports (the ANTLR-based ``stix2-patterns`` validator is far slower).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from crownwatch.errors import CrownwatchError

MAX_PATTERN = 64 * 1024
MAX_DEPTH = 64

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<ts>t'[^']*')
    | (?P<bin>[bh]'[^']*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>!=|<=|>=|=|<|>)
    | (?P<punct>[\[\](),])
    | (?P<path>[a-z0-9][a-z0-9-]*:(?:[A-Za-z0-9_-]+|'(?:[^'\\]|\\.)*'|\[(?:\d+|\*)\]|\.)+)
    | (?P<word>[A-Za-z_]+)
    )""",
    re.VERBOSE,
)
_KEYWORD_OPS = frozenset(("IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"))


class PatternError(CrownwatchError):
    """A pattern that is not valid STIX 2.1 pattern syntax."""


@dataclass(frozen=True)
class Comparison:
    """One comparison, e.g. ``file:hashes.'SHA-256' = 'ab…'``, split into its parts."""

    object_type: str
    path: str
    op: str
    value: str | float | tuple[str | float, ...]
    negated: bool = False


def _tokens(pattern: str) -> list[tuple[str, str]]:
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    out: list[tuple[str, str]] = []
    pos, end = 0, len(pattern.rstrip())
    while pos < end:
        match = _TOKEN.match(pattern, pos)
        if match is None or match.end() == pos:
            raise PatternError(f"unexpected text at {pos}: {pattern[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


@dataclass(frozen=True)
class Join:
    """Expressions joined by one operator: AND / OR (of comparisons or of observations) or
    FOLLOWEDBY (of observations). ``observations`` tells the two AND / OR levels apart."""

    op: str
    items: tuple[Node, ...]
    observations: bool = False


@dataclass(frozen=True)
class Observation:
    """``[ … ]``: the comparisons one observed object set must satisfy."""

    expr: Comparison | Join


@dataclass(frozen=True)
class Qualified:
    """An observation expression with a qualifier: ``WITHIN n SECONDS``, ``REPEATS n TIMES``
    or ``START t'…' STOP t'…'`` (``kind`` is WITHIN, REPEATS or START)."""

    node: Node
    kind: str
    args: tuple[str, ...]


#: A node of a pattern's tree.
Node = Comparison | Join | Observation | Qualified


def _joined(op: str, items: list[Node], observations: bool) -> Node:
    return items[0] if len(items) == 1 else Join(op, tuple(items), observations)


class _Parser:
    """Recursive descent with STIX precedence: FOLLOWEDBY < OR < AND, for observations and
    (OR < AND) for comparisons."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.i = tokens, 0
        self.found: list[Comparison] = []
        self.depth = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1].upper() != value):
            raise PatternError(f"expected {value or 'more'} but found {token[1] or 'the end'!r}")
        self.i += 1
        return token

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise PatternError(f"nested deeper than {MAX_DEPTH}")

    def pattern(self) -> Node:
        tree = self.observations()
        if self.peek()[0] != "end":
            raise PatternError(f"unexpected {self.peek()[1]!r} after the pattern")
        if not self.found:
            raise PatternError("no comparison in the pattern")
        return tree

    def _chain(self, op: str, part: Callable[[], Node], observations: bool) -> Node:
        items = [part()]
        while self.peek()[1].upper() == op:
            self.take()
            items.append(part())
        return _joined(op, items, observations)

    def observations(self) -> Node:
        return self._chain("FOLLOWEDBY", self._observation_or, True)

    def _observation_or(self) -> Node:
        return self._chain("OR", self._observation_and, True)

    def _observation_and(self) -> Node:
        return self._chain("AND", self.observation, True)

    def observation(self) -> Node:
        self.nested()
        node: Node
        if self.peek()[1] == "(":
            self.take("(")
            node = self.observations()
            self.take(")")
        else:
            self.take("[")
            node = Observation(self.comparisons())
            self.take("]")
        node = self.qualifiers(node)
        self.depth -= 1
        return node

    def qualifiers(self, node: Node) -> Node:
        while True:
            word = self.peek()[1].upper()
            if word == "WITHIN":
                self.take()
                node = Qualified(node, word, (self._number(),))
                self.take("SECONDS")
            elif word == "REPEATS":
                self.take()
                node = Qualified(node, word, (self._number(),))
                self.take("TIMES")
            elif word == "START":
                self.take()
                start = self._timestamp()
                self.take("STOP")
                node = Qualified(node, word, (start, self._timestamp()))
            else:
                return node

    def _number(self) -> str:
        kind, text = self.take()
        if kind != "num":
            raise PatternError("a qualifier needs a number")
        return text

    def _timestamp(self) -> str:
        kind, text = self.take()
        if kind != "ts":
            raise PatternError("START and STOP need t'…' timestamps")
        return text

    def comparisons(self) -> Comparison | Join:
        node = self._chain("OR", self._comparison_and, False)
        assert isinstance(node, Comparison | Join)
        return node

    def _comparison_and(self) -> Node:
        return self._chain("AND", self.comparison, False)

    def comparison(self) -> Node:
        self.nested()
        if self.peek()[1] == "(":
            self.take("(")
            node = self.comparisons()
            self.take(")")
            self.depth -= 1
            return node
        kind, path = self.take()
        if kind != "path":
            raise PatternError(f"expected an object path, found {path!r}")
        negated = False
        if self.peek()[1].upper() == "NOT":
            self.take()
            negated = True
        op_kind, op = self.take()
        op = op.upper()
        if op_kind != "op" and op not in _KEYWORD_OPS:
            raise PatternError(f"unknown comparison operator {op!r}")
        value = self._set() if op == "IN" else self._value()
        object_type, _, prop = path.partition(":")
        found = Comparison(object_type, prop, op, value, negated)
        self.found.append(found)
        self.depth -= 1
        return found

    def _set(self) -> tuple[str | float, ...]:
        self.take("(")
        values = [self._value()]
        while self.peek()[1] == ",":
            self.take(",")
            values.append(self._value())
        self.take(")")
        return tuple(values)

    def _value(self) -> str | float:
        kind, text = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "num":
            return float(text)
        if kind in ("ts", "bin"):
            return text
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower()
        raise PatternError(f"expected a value, found {text!r}")


def parse(pattern: str) -> list[Comparison]:
    """The comparisons of a STIX pattern; ``PatternError`` when it is not valid."""
    if not isinstance(pattern, str):
        raise PatternError("a pattern is a string")
    parser = _Parser(_tokens(pattern))
    parser.pattern()
    return parser.found


def tree(pattern: str) -> Node:
    """The boolean structure of a STIX pattern; ``PatternError`` when it is not valid."""
    if not isinstance(pattern, str):
        raise PatternError("a pattern is a string")
    return _Parser(_tokens(pattern)).pattern()


#: (object type, path) of the comparisons worth indexing, and the kind they index as.
INDEXED = {
    ("ipv4-addr", "value"): "ipv4-addr",
    ("ipv6-addr", "value"): "ipv6-addr",
    ("domain-name", "value"): "domain-name",
    ("url", "value"): "url",
    ("email-addr", "value"): "email-addr",
    ("file", "hashes.MD5"): "md5",
    ("file", "hashes.'MD5'"): "md5",
    ("file", "hashes.'SHA-1'"): "sha1",
    ("file", "hashes.SHA1"): "sha1",
    ("file", "hashes.'SHA-256'"): "sha256",
    ("file", "hashes.SHA256"): "sha256",
    ("file", "name"): "file-name",
    ("network-traffic", "extensions.'http-request-ext'.request_header.'User-Agent'"): "user-agent",
    ("x509-certificate", "hashes.'SHA-1'"): "sha1",
    ("x-ja3", "value"): "ja3",
}


_SIMPLE = re.compile(r"\[\s*([a-z0-9-]+):([A-Za-z0-9_.'-]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*\]")


def single(pattern: str) -> tuple[str, str, str] | None:
    """(object type, path, value) of a one-comparison ``[type:path = 'value']`` pattern."""
    simple = _SIMPLE.fullmatch(pattern.strip())
    if simple is None:
        return None
    object_type, path, value = simple.groups()
    if "\\" in value:
        value = re.sub(r"\\(.)", r"\1", value)
    return object_type, path, value


def observables(pattern: str) -> list[tuple[str, str]]:
    """The (kind, value) pairs a pattern's positive ``=``/``IN`` comparisons name."""
    simple = single(pattern) if isinstance(pattern, str) else None
    if simple:  # the common one-comparison pattern, without the parser
        object_type, path, value = simple
        kind = INDEXED.get((object_type, path))
        return [(kind, normalise_value(kind, value))] if kind else []
    pairs: list[tuple[str, str]] = []
    for c in parse(pattern):
        kind = INDEXED.get((c.object_type, c.path))
        if kind is None or c.negated or c.op not in ("=", "IN"):
            continue
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        pairs.extend((kind, normalise_value(kind, str(v))) for v in values)
    return pairs


def normalise_value(kind: str, value: str) -> str:
    """The form values are indexed and matched in: lower-case where case carries no meaning."""
    value = value.strip()
    if kind in ("domain-name", "email-addr", "md5", "sha1", "sha256", "ja3"):
        return value.lower().rstrip(".") if kind == "domain-name" else value.lower()
    if kind == "ipv6-addr":
        import ipaddress

        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value.lower()
    return value
