"""STIX patterns as checks over one event, and which path each live indicator takes.

``classify`` sorts a pattern into one of three:

* **simple**: an OR of positive ``=`` / ``IN`` comparisons on indexed values; the vectorised
  matcher (``detect.indicators``) alone decides, exactly as it always has;
* **compound**: anything else this module can decide on one event (AND, ``!=``, NOT, ports,
  ``<``…, LIKE, MATCHES, ISSUBSET…), provided every event that satisfies it holds one of its
  indexed values: the matcher finds candidate events through those values and the compiled
  ``Check`` confirms them, row by row, on those candidates only;
* **unsupported**, with a reason from a short fixed list: FOLLOWEDBY and the qualifiers
  (WITHIN, REPEATS, START/STOP) need state across events, an object path with no event
  column, a regular expression RE2 cannot run, a pattern with no value to index…

A check reads one event as a dict of ECS column -> value. An object path maps to one or
more columns; a comparison holds when one of its columns holds a value it is true for (STIX
says "some object in the observation"), so a missing or null column never satisfies it,
not even ``!=`` or NOT. The AND / OR of observations (``[A] AND [B]``) is evaluated on the
same event: a single event satisfying both counts. This can only under-match a pattern
whose observations are meant to be separate events, never over-match it.

Regular expressions (MATCHES, and LIKE, translated) run on Google's RE2: linear time in the
text, bounded memory, so no pattern an attacker writes can make matching backtrack.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crownwatch.detect.indicators import FIELDS_BY_KIND
from crownwatch.errors import CrownwatchError
from crownwatch.intel import patterns
from crownwatch.intel.patterns import Comparison, Join, Node, Observation, Qualified
from crownwatch.intel.stixobj import SCO_TYPES

try:
    import re2  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - google-re2 is a dependency
    re2 = None

#: The longest regular expression (MATCHES) or LIKE pattern compiled.
MAX_REGEX = 2048
#: The memory RE2 may use for one compiled expression.
REGEX_MEMORY = 1 << 20

NO_VALUE = "no value to index"
BAD_PATTERN = "bad pattern"

_STATE = "needs state across events"
_KNOWN_TYPES = SCO_TYPES | {"x-ja3"}
_HTTP = "extensions.'http-request-ext'."
_HASHES = {
    "md5": ("hashes.MD5", "hashes.'MD5'"),
    "sha1": ("hashes.'SHA-1'", "hashes.SHA1"),
    "sha256": ("hashes.'SHA-256'", "hashes.SHA256"),
}

#: (object type, path) -> (how values compare, the event columns it is looked for in).
#: Paths the knowledge base indexes use the matcher's columns (FIELDS_BY_KIND), so a
#: comparison true on an event is true on a column the matcher found the event through.
PATHS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("ipv4-addr", "value"): ("ip", FIELDS_BY_KIND["ipv4-addr"]),
    ("ipv6-addr", "value"): ("ip", FIELDS_BY_KIND["ipv6-addr"]),
    ("domain-name", "value"): ("domain", FIELDS_BY_KIND["domain-name"]),
    ("url", "value"): ("text", FIELDS_BY_KIND["url"]),
    ("file", "name"): ("text", FIELDS_BY_KIND["file-name"]),
    ("file", "size"): ("number", ("file.size",)),
    **{
        ("file", path): ("lower", FIELDS_BY_KIND[kind])
        for kind, paths in _HASHES.items()
        for path in paths
    },
    ("network-traffic", "src_ref.value"): ("ip", ("source.ip",)),
    ("network-traffic", "dst_ref.value"): ("ip", ("destination.ip",)),
    ("network-traffic", "src_port"): ("number", ("source.port",)),
    ("network-traffic", "dst_port"): ("number", ("destination.port",)),
    ("network-traffic", "src_byte_count"): ("number", ("source.bytes",)),
    ("network-traffic", "dst_byte_count"): ("number", ("destination.bytes",)),
    ("network-traffic", "protocols[*]"): ("folded", ("network.transport", "network.protocol")),
    ("network-traffic", _HTTP + "request_header.'User-Agent'"): (
        "text",
        FIELDS_BY_KIND["user-agent"],
    ),
    ("network-traffic", _HTTP + "request_method"): ("folded", ("http.request.method",)),
    ("process", "name"): ("text", ("process.name",)),
    ("process", "image_ref.name"): ("text", ("process.name",)),
    ("process", "binary_ref.name"): ("text", ("process.name",)),
    ("process", "command_line"): ("text", ("process.command_line",)),
    ("process", "pid"): ("number", ("process.pid",)),
    ("process", "parent_ref.name"): ("text", ("process.parent.name",)),
    ("user-account", "user_id"): ("text", ("user.name",)),
    ("user-account", "account_login"): ("text", ("user.name",)),
    ("x-ja3", "value"): ("lower", FIELDS_BY_KIND["ja3"]),
}
_INDEX_PATH = re.compile(r"\[\d+\]")


class Unsupported(CrownwatchError):
    """A pattern detection cannot evaluate on one event; ``reason`` is short and fixed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Check:
    """A compiled pattern: ``check(row)`` on an event row, and the columns it reads."""

    columns: frozenset[str]
    test: Callable[[Mapping[str, Any]], bool]

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return self.test(row)


@dataclass(frozen=True)
class Verdict:
    """How detection treats one indicator's pattern."""

    kind: str  # "simple", "compound" or "unsupported"
    check: Check | None = None
    reason: str = ""


SIMPLE = Verdict("simple")


def classify(pattern: Any, pattern_type: str = "stix") -> Verdict:
    """Simple, compound (with its check) or unsupported (with its reason)."""
    if pattern_type != "stix":
        shown = pattern_type if re.fullmatch(r"[a-z0-9-]{1,20}", str(pattern_type)) else "other"
        return Verdict("unsupported", reason=f"pattern type {shown}")
    single = patterns.single(pattern) if isinstance(pattern, str) else None
    if single is not None:  # the common one-comparison pattern, without the parser
        kind = patterns.INDEXED.get(single[:2])
        if kind is not None and FIELDS_BY_KIND.get(kind):
            return SIMPLE
    try:
        node = patterns.tree(pattern)
    except patterns.PatternError:
        return Verdict("unsupported", reason=BAD_PATTERN)
    try:
        return verdict(node)
    except Unsupported as exc:
        return Verdict("unsupported", reason=exc.reason)


def verdict(node: Node) -> Verdict:
    """``classify`` of a parsed pattern; ``Unsupported`` when it cannot be evaluated."""
    leaves = list(_or_leaves(node))
    if leaves and all(_indexed(c) for c in leaves):
        if any(_has_columns(c) for c in leaves):
            return SIMPLE
        raise Unsupported(_no_column(leaves[0]))
    check = compile_node(node)
    if not _anchored(node):
        raise Unsupported(NO_VALUE)
    return Verdict("compound", check)


def compile_pattern(pattern: str) -> Check:
    """The check of a pattern; ``Unsupported`` (or ``PatternError``) when there is none."""
    return compile_node(patterns.tree(pattern))


def compile_node(node: Node) -> Check:
    """The check of a parsed pattern or of part of one."""
    if isinstance(node, Comparison):
        return _comparison(node)
    if isinstance(node, Observation):
        return compile_node(node.expr)
    if isinstance(node, Qualified):
        name = "START/STOP" if node.kind == "START" else node.kind
        raise Unsupported(f"{name} {_STATE}")
    if node.op == "FOLLOWEDBY":
        raise Unsupported(f"FOLLOWEDBY {_STATE}")
    parts = [compile_node(item) for item in node.items]
    tests = [p.test for p in parts]
    columns = frozenset().union(*(p.columns for p in parts))
    if node.op == "AND":
        return Check(columns, lambda row: all(t(row) for t in tests))
    return Check(columns, lambda row: any(t(row) for t in tests))


# -- classification -------------------------------------------------------------------------


def _or_leaves(node: Node) -> Iterable[Comparison]:
    """The comparisons of a pattern that is only ORs; nothing (empty) for any other shape."""
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, Observation):
        yield from _or_leaves(node.expr)
    elif isinstance(node, Join) and node.op == "OR":
        found = [list(_or_leaves(item)) for item in node.items]
        if all(found):
            for leaves in found:
                yield from leaves


def _indexed(c: Comparison) -> bool:
    """A comparison the knowledge base indexes the values of (see ``patterns.observables``)."""
    return not c.negated and c.op in ("=", "IN") and (c.object_type, c.path) in patterns.INDEXED


def _has_columns(c: Comparison) -> bool:
    return bool(FIELDS_BY_KIND.get(patterns.INDEXED[(c.object_type, c.path)]))


def _anchored(node: Node) -> bool:
    """Whether every event the pattern is true of holds one of its indexed values."""
    if isinstance(node, Comparison):
        return _indexed(node) and _has_columns(node) and (node.object_type, node.path) in PATHS
    if isinstance(node, Observation):
        return _anchored(node.expr)
    if isinstance(node, Qualified):
        return False
    if node.op == "AND":
        return any(_anchored(item) for item in node.items)
    return all(_anchored(item) for item in node.items)


def _no_column(c: Comparison) -> str:
    kind = c.object_type if c.object_type in _KNOWN_TYPES else "a custom object"
    path = c.path if len(c.path) <= 60 and kind != "a custom object" else "…"
    return f"no column for {kind}:{path}"


# -- comparisons ----------------------------------------------------------------------------


def _comparison(c: Comparison) -> Check:
    path = _INDEX_PATH.sub("[*]", c.path)
    found = PATHS.get((c.object_type, path))
    if found is None:
        raise Unsupported(_no_column(c))
    how, columns = found
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    if any(isinstance(v, str) and v[:2] in ("b'", "h'") for v in values):
        raise Unsupported("binary value")
    test = _predicate(c.op, how, values)
    negated = c.negated

    def check(row: Mapping[str, Any]) -> bool:
        for column in columns:
            value = row.get(column)
            if value is not None and test(value) != negated:
                return True
        return False

    return Check(frozenset(columns), check)


def _predicate(op: str, how: str, values: tuple[str | float, ...]) -> Callable[[Any], bool]:
    """A test of one event value for ``op`` against the pattern's values."""
    if op in ("LIKE", "MATCHES"):
        if how == "number":
            raise Unsupported(f"{op} on a number")
        text = str(values[0])
        regex = _regex(_like(text) if op == "LIKE" else text, op)
        if op == "LIKE":
            return lambda v: regex.fullmatch(_text(v)) is not None
        return lambda v: regex.search(_text(v)) is not None
    if op in ("ISSUBSET", "ISSUPERSET"):
        if how != "ip":
            raise Unsupported(f"{op} on a path that is not an address")
        return _subnet(op, str(values[0]))
    if how == "number":
        numbers = frozenset(_number(v) for v in values)
        return _ordered(op, numbers, _event_number)
    norm = _NORMALISE[how]
    wanted = frozenset(norm(str(v)) for v in values)
    if how == "domain" and op in ("=", "!=", "IN"):
        equal = _under(wanted)
        return equal if op != "!=" else (lambda v: not equal(v))
    return _ordered(op, wanted, lambda v: norm(_text(v)))


def _ordered(op: str, wanted: frozenset[Any], read: Callable[[Any], Any]) -> Callable[[Any], bool]:
    if op in ("=", "IN"):
        return lambda v: read(v) in wanted
    if op == "!=":
        return lambda v: read(v) not in wanted
    if len(wanted) != 1:
        raise Unsupported(f"{op} with several values")
    [bound] = wanted
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: bool(a < b),
        "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b),
        ">=": lambda a, b: bool(a >= b),
    }
    if op not in compare:
        raise Unsupported(f"operator {op}")
    cmp = compare[op]

    def test(v: Any) -> bool:
        value = read(v)
        return value is not None and cmp(value, bound)

    return test


def _under(wanted: frozenset[str]) -> Callable[[Any], bool]:
    """A domain equal to one of ``wanted`` or below it (the matcher's parent look-up)."""

    def test(v: Any) -> bool:
        name = _domain(_text(v))
        while True:
            if name in wanted:
                return True
            _, dot, name = name.partition(".")
            if not dot:
                return False

    return test


def _subnet(op: str, text: str) -> Callable[[Any], bool]:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise Unsupported(f"{op} with a value that is not a network") from exc

    def test(v: Any) -> bool:
        try:
            own = ipaddress.ip_network(_text(v).strip(), strict=False)
        except ValueError:
            return False
        if own.version != network.version:
            return False
        if op == "ISSUBSET":
            return own.subnet_of(network)  # type: ignore[arg-type]
        return own.supernet_of(network)  # type: ignore[arg-type]

    return test


def _regex(text: str, op: str) -> Any:
    if re2 is None:  # pragma: no cover - google-re2 is a dependency
        raise Unsupported(f"{op} needs google-re2")
    if len(text) > MAX_REGEX:
        raise Unsupported(f"{op} pattern longer than {MAX_REGEX}")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = REGEX_MEMORY
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        raise Unsupported(f"{op} expression RE2 cannot run") from exc


def _like(text: str) -> str:
    """A SQL LIKE pattern (% and _) as a regular expression."""
    out = []
    for char in text:
        out.append("(?s:.*)" if char == "%" else "(?s:.)" if char == "_" else re.escape(char))
    return "".join(out)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _number(value: str | float) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise Unsupported("text compared with a number") from exc


def _event_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(_text(value))
    except ValueError:
        return None


def _ip(text: str) -> str:
    text = text.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower()


def _domain(text: str) -> str:
    return text.strip().lower().rstrip(".")


_NORMALISE: dict[str, Callable[[str], str]] = {
    "ip": _ip,
    "domain": _domain,
    "lower": lambda t: t.strip().lower(),
    "folded": lambda t: t.strip().lower(),
    "text": lambda t: t.strip(),
}
