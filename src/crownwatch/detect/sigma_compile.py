"""Compiling a pySigma rule's condition tree into one vectorised predicate over a ``Frame``.

pySigma has already applied the value modifiers when it hands over the condition
tree: ``contains``/``startswith``/``endswith`` are wildcards in a ``SigmaString``,
``windash``/``base64offset`` are ``SigmaExpansion``s, ``|all`` is an AND. What is
left is turned into ``pyarrow.compute`` calls: strings with wildcards become SQL
LIKE patterns over the lower-cased column (Sigma matches case-insensitively unless
``|cased``), regular expressions go to RE2, numbers compare as integers. Anything
else raises ``Unsupported`` with the reason, so the rule is reported, not dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    special_char_mapping,
)

from crownwatch.detect.sigma_frame import ORIGINAL, Frame

#: A compiled condition: a boolean array with one value per row of the frame.
Predicate = Callable[[Frame], pa.Array]

_COMPARE = {
    CompareOperators.LT: pc.less,
    CompareOperators.LTE: pc.less_equal,
    CompareOperators.GT: pc.greater,
    CompareOperators.GTE: pc.greater_equal,
    CompareOperators.NEQ: pc.not_equal,
}
_RE_META = frozenset("\\.^$|?*+()[]{}")
_RE_FLAGS = {
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


class Unsupported(Exception):
    """A rule feature this compiler does not handle; the message says which."""


def compile_rule(rule: SigmaRule) -> tuple[Predicate, frozenset[str]]:
    """The rule's predicate and the field names it reads."""
    names: set[str] = set()
    trees = [c.parsed for c in rule.detection.parsed_condition]
    predicates = [_node(tree, names) for tree in trees if tree is not None]
    if not predicates:
        raise Unsupported("empty condition")
    predicate = _any(predicates)
    return lambda frame: pc.fill_null(predicate(frame), False), frozenset(names)


def _node(node: object, names: set[str]) -> Predicate:
    """A predicate that may give null where a field is missing (Kleene logic: unknown)."""
    if isinstance(node, ConditionAND):
        return _all([_node(arg, names) for arg in node.args])
    if isinstance(node, ConditionOR):
        return _any(_or_args(node.args, names))
    if isinstance(node, ConditionNOT):
        inner = _node(node.args[0], names)
        return lambda frame: pc.invert(pc.fill_null(inner(frame), False))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        names.add(node.field)
        if isinstance(node.value, SigmaFieldReference):
            names.add(node.value.field)
        return _value(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return _keywords([node.value])
    raise Unsupported(f"condition node {type(node).__name__}")


def _all(predicates: list[Predicate]) -> Predicate:
    """AND: the rest is evaluated only on the rows the first operand leaves."""
    if len(predicates) == 1:
        return predicates[0]
    first, rest = predicates[0], _all(predicates[1:])

    def both(frame: Frame) -> pa.Array:
        mask = pc.fill_null(first(frame), False)  # null and false act alike: NOT fills too
        rows = pc.indices_nonzero(mask)
        if len(rows) == frame.length:
            return rest(frame)
        if not len(rows):
            return mask
        positions = rows.cast(pa.int64())
        found = pc.scatter(rest(frame.take(rows)), positions, max_index=frame.length - 1)
        return pc.fill_null(found, False)

    return both


def _any(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]

    def either(frame: Frame) -> pa.Array:
        mask = predicates[0](frame)
        for predicate in predicates[1:]:
            mask = pc.or_kleene(mask, predicate(frame))
        return mask

    return either


def _or_args(args: Sequence[object], names: set[str]) -> list[Predicate]:
    """OR operands; case-insensitive string values of one field merge into one test."""
    strings: dict[str, list[SigmaType]] = {}
    keywords: list[SigmaType] = []
    rest: list[Predicate] = []
    for arg in args:
        if isinstance(arg, ConditionFieldEqualsValueExpression) and _mergeable(arg.value):
            names.add(arg.field)
            strings.setdefault(arg.field, []).append(arg.value)
        elif isinstance(arg, ConditionValueExpression):
            keywords.append(arg.value)
        else:
            rest.append(_node(arg, names))
    merged = [_strings(field, values) for field, values in strings.items()]
    return merged + ([_keywords(keywords)] if keywords else []) + rest


def _keywords(values: Sequence[SigmaType]) -> Predicate:
    """Keywords: each value anywhere in the raw record, case-insensitively (full-text search).

    The raw record of a JSON source escapes ``\\`` and ``"``, so a keyword holding
    them is also looked for in its escaped form.
    """
    shapes: dict[str, list[str]] = {}
    star = SpecialChars.WILDCARD_MULTI
    for value in _flatten(values):
        if isinstance(value, SigmaNumber | SigmaBool):
            value = SigmaString(
                _number_text(value) if isinstance(value, SigmaNumber) else str(value)
            )
        if type(value) is not SigmaString:
            raise Unsupported(f"keyword of type {type(value).__name__}")
        parts = _parts(value, lower=True)
        for variant in (parts, _json_escaped(parts)):
            inner = variant[1 if variant[:1] == [star] else 0 :]
            inner = inner[: -1 if inner[-1:] == [star] else None]
            if not inner:
                return lambda frame: pc.is_valid(frame.raw(ORIGINAL))  # "*": any event
            shape, text = _shape([star, *inner, star])
            shapes.setdefault(shape, [])
            if text not in shapes[shape]:
                shapes[shape].append(text)
    return _any([_on_lower(ORIGINAL, _shape_test(shape, texts)) for shape, texts in shapes.items()])


def _json_escaped(parts: list[str | SpecialChars]) -> list[str | SpecialChars]:
    return [orjson.dumps(p).decode()[1:-1] if isinstance(p, str) else p for p in parts]


def _mergeable(value: SigmaType) -> bool:
    if isinstance(value, SigmaExpansion):
        return all(_mergeable(v) for v in value.values)
    if isinstance(value, SigmaTimestampPart):
        return False
    return type(value) in (SigmaString, SigmaNumber, SigmaBool)


def _strings(field: str, values: Sequence[SigmaType]) -> Predicate:
    """Any of these strings (wildcards allowed), one test per shape.

    Plain values are one set test; prefixes, suffixes and substrings one RE2
    alternation each (RE2 scans for all of them at once); other patterns one
    anchored alternation.
    """
    plain: set[str] = set()
    shapes: dict[str, list[str]] = {}
    for value in _flatten(values):
        if isinstance(value, SigmaNumber):
            plain.add(_number_text(value))
        elif isinstance(value, SigmaBool):
            plain.add("true" if value.boolean else "false")
        elif isinstance(value, SigmaString):
            parts = _parts(value, lower=True)
            shape, text = _shape(parts)
            if shape == "equal":
                plain.add(text)
            else:
                shapes.setdefault(shape, []).append(text)
    tests: list[Predicate] = []
    if len(plain) == 1:
        tests.append(_equal(field, plain.pop()))
    elif plain:
        value_set = pa.array(sorted(plain), pa.string())
        tests.append(lambda frame: pc.is_in(frame.lower(field), value_set=value_set))
    tests.extend(_on_lower(field, _shape_test(shape, texts)) for shape, texts in shapes.items())
    return _any(tests)


def _on_lower(field: str, test: Callable[[pa.Array], pa.Array]) -> Predicate:
    return lambda frame: test(frame.lower(field))


def _shape(parts: list[str | SpecialChars]) -> tuple[str, str]:
    """What kind of test a pattern needs, and its literal text (for "other": its regex)."""
    star = SpecialChars.WILDCARD_MULTI
    texts = [p for p in parts if isinstance(p, str)]
    if len(texts) == len(parts):
        return "equal", "".join(texts)
    if len(parts) == 2 and parts[1] == star and texts:
        return "prefix", texts[0]
    if len(parts) == 2 and parts[0] == star and texts:
        return "suffix", texts[0]
    if len(parts) == 3 and parts[0] == parts[2] == star and texts:
        return "substring", texts[0]
    return "other", regex_text(parts)


def _shape_test(shape: str, texts: list[str]) -> Callable[[pa.Array], pa.Array]:
    """A test of a string array for any of these texts, all of one shape."""
    test: Callable[[pa.Array], pa.Array]
    if len(texts) == 1 and shape != "other":
        text = texts[0]
        function = {"prefix": pc.starts_with, "suffix": pc.ends_with}.get(shape, pc.match_substring)
        test = lambda array: function(array, text)  # noqa: E731
    else:
        if shape != "other":
            texts = [regex_text([t]) for t in texts]
        alternation = "(?:" + "|".join(texts) + ")"
        pattern = {
            "prefix": f"(?s)^{alternation}",
            "suffix": f"(?s){alternation}$",
            "substring": alternation,
            "other": f"(?s)^{alternation}$",
        }[shape]
        test = lambda array: pc.match_substring_regex(array, pattern)  # noqa: E731
    return test


def _flatten(values: Sequence[SigmaType]) -> Iterator[SigmaType]:
    for value in values:
        if isinstance(value, SigmaExpansion):
            yield from _flatten(value.values)
        else:
            yield value


def _text(value: SigmaString) -> str:
    """The string as written, wildcards as ``*``/``?`` (for a regex: its text)."""
    parts = []
    for part in value.s:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, SpecialChars):
            parts.append(special_char_mapping[part])
        else:
            raise Unsupported(
                f"placeholder %{part.name}% has no values: set [detect.placeholders] "
                f'{part.name} = ["…"] in the settings'
            )
    return "".join(parts)


def _number_text(value: SigmaNumber) -> str:
    number = value.number
    return str(int(number)) if float(number).is_integer() else str(number)


def _equal(field: str, value: str) -> Predicate:
    scalar = pa.scalar(value, pa.string())
    return lambda frame: pc.equal(frame.lower(field), scalar)


def _value(field: str, value: SigmaType) -> Predicate:
    if _mergeable(value):
        return _strings(field, [value])
    if isinstance(value, SigmaCasedString):
        return _cased(field, value)
    if isinstance(value, SigmaExpansion):
        return _any([_value(field, v) for v in value.values])
    if isinstance(value, SigmaRegularExpression):
        return _regex(field, value)
    if isinstance(value, SigmaCompareExpression):
        return _compare(field, value)
    if isinstance(value, SigmaExists):
        test = pc.is_valid if value.exists else pc.is_null
        return lambda frame: test(frame.raw(field))
    if isinstance(value, SigmaNull):
        empty = pa.scalar("", pa.string())
        return lambda frame: pc.fill_null(pc.equal(frame.raw(field), empty), True)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr(field, value)
    if isinstance(value, SigmaFieldReference):
        return _field_equal(field, value)
    raise Unsupported(f"value type {type(value).__name__} on {field}")


def _cased(field: str, value: SigmaCasedString) -> Predicate:
    shape, text = _shape(_parts(value, lower=False))
    if shape == "equal":
        scalar = pa.scalar(text, pa.string())
        return lambda frame: pc.equal(frame.raw(field), scalar)
    test = _shape_test(shape, [text])
    return lambda frame: test(frame.raw(field))


def _parts(value: SigmaString, lower: bool) -> list[str | SpecialChars]:
    """The string's literal runs (lower-cased if asked) and wildcards, runs merged."""
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, str):
            text = part.lower() if lower else part
            if parts and isinstance(parts[-1], str):
                parts[-1] += text
            elif text:
                parts.append(text)
        elif isinstance(part, SpecialChars):
            parts.append(part)
        else:
            raise Unsupported(
                f"placeholder %{part.name}% has no values: set [detect.placeholders] "
                f'{part.name} = ["…"] in the settings'
            )
    return parts


def regex_text(parts: list[str | SpecialChars]) -> str:
    """An RE2 pattern for a Sigma string: ``*`` -> ``.*``, ``?`` -> ``.``, the rest literal."""
    out = []
    for part in parts:
        if part == SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part == SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append("".join("\\" + c if c in _RE_META else c for c in str(part)))
    return "".join(out)


def _regex(field: str, value: SigmaRegularExpression) -> Predicate:
    flags = "".join(sorted(f for k, f in _RE_FLAGS.items() if k in value.flags))
    pattern = (f"(?{flags})" if flags else "") + _text(value.regexp)
    ignore_case = SigmaRegularExpressionFlag.IGNORECASE in value.flags
    try:  # RE2 has no look-around or back-references: find out now, not per batch
        pc.match_substring_regex(pa.array([""]), pattern, ignore_case=ignore_case)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Unsupported(f"regular expression not supported by RE2: {exc}") from exc
    return lambda frame: pc.match_substring_regex(
        frame.raw(field), pattern, ignore_case=ignore_case
    )


def _compare(field: str, value: SigmaCompareExpression) -> Predicate:
    number = value.number.number
    if not float(number).is_integer():
        raise Unsupported(f"non-integer comparison with {number}")
    op = _COMPARE[value.op]
    scalar = pa.scalar(int(number), pa.int64())
    return lambda frame: op(frame.number(field), scalar)


def _field_equal(field: str, value: SigmaFieldReference) -> Predicate:
    if value.starts_with or value.ends_with:
        raise Unsupported(f"field reference with wildcards on {field}")
    other = value.field
    return lambda frame: pc.equal(frame.lower(field), frame.lower(other))


def _cidr(field: str, value: SigmaCIDRExpression) -> Predicate:
    network = value.network

    def inside(text: str | None) -> bool:
        try:
            return text is not None and ipaddress.ip_address(text.strip("[]")) in network
        except ValueError:
            return False

    def matches(frame: Frame) -> pa.Array:
        encoded = pc.dictionary_encode(frame.raw(field))
        found = pa.array([inside(v) for v in encoded.dictionary.to_pylist()], pa.bool_())
        return pc.take(found, encoded.indices)

    return matches


#: A clause of what a row must hold for a rule to be able to match it: at least one
#: of these (field, literal) pairs, the literal a substring of the field's lower-cased
#: value (``Frame.lower``, the very column the predicate tests).
Needs = frozenset[tuple[str, str]]

#: The clauses kept per rule (the most selective): each one more costs automaton hits.
MAX_CLAUSES = 3
#: A clause past the first is kept only if its literals are this long (short ones are in
#: most values: they cost hits and rule out little).
MIN_LITERAL = 4


def needs(rule: SigmaRule) -> tuple[Needs, ...]:
    """Clauses a row must all meet for ``rule`` to match it (see ``Needs``); () if none.

    Derived from the same condition tree ``compile_rule`` compiles and mirroring it:
    an AND needs what each of its operands needs, an OR one clause: the union of each
    operand's best clause. A NOT, a regex, a cased or numeric comparison, a field that
    need only exist… need nothing we can look for (an OR with one of them: no clause).
    """
    trees = [c.parsed for c in rule.detection.parsed_condition]
    clauses = sorted(
        _either([_needs(tree) for tree in trees if tree is not None]), key=_selective, reverse=True
    )
    kept = clauses[:1] + [c for c in clauses[1:] if _selective(c)[1] >= MIN_LITERAL]
    return tuple(kept[:MAX_CLAUSES])


def _selective(clause: Needs) -> tuple[bool, int, int]:
    """How selective a clause likely is: not on the raw record, long literals, few."""
    return (
        all(f != ORIGINAL for f, _ in clause),
        min(len(text) for _, text in clause),
        -len(clause),
    )


def _either(parts: Sequence[list[Needs]]) -> list[Needs]:
    """An OR: one clause, the union of each operand's best; none if one has none."""
    if not parts or any(not p for p in parts):
        return []
    if len(parts) == 1:
        return list(parts[0])
    return [frozenset().union(*(max(p, key=_selective) for p in parts))]


def _needs(node: object) -> list[Needs]:
    if isinstance(node, ConditionAND):
        clauses: list[Needs] = []
        for arg in node.args:
            clauses.extend(c for c in _needs(arg) if c not in clauses)
        return clauses
    if isinstance(node, ConditionOR):
        return _either([_needs(arg) for arg in node.args])
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _clause(_value_needs(node.field, node.value))
    if isinstance(node, ConditionValueExpression):
        return _clause(_keyword_needs([node.value]))
    return []  # NOT, and anything compile_rule would not take


def _clause(needs: Needs | None) -> list[Needs]:
    return [needs] if needs else []


def _union(parts: Sequence[Needs | None]) -> Needs | None:
    if not parts or any(p is None for p in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]


def _value_needs(field: str, value: SigmaType) -> Needs | None:
    if _mergeable(value):  # as _strings: numbers, booleans, strings on the lower-cased column
        found: set[tuple[str, str]] = set()
        for item in _flatten([value]):
            if isinstance(item, SigmaNumber):
                text = _number_text(item)
            elif isinstance(item, SigmaBool):
                text = "true" if item.boolean else "false"
            elif isinstance(item, SigmaString):
                text = _longest(_parts(item, lower=True))
            else:
                return None
            if not text:
                return None
            found.add((field, text))
        return frozenset(found)
    if isinstance(value, SigmaExpansion):
        return _union([_value_needs(field, v) for v in value.values])
    return None


def _keyword_needs(values: Sequence[SigmaType]) -> Needs | None:
    """As ``_keywords``: each value, plain or JSON-escaped, in the lower-cased raw record."""
    found: set[tuple[str, str]] = set()
    star = SpecialChars.WILDCARD_MULTI
    for value in _flatten(values):
        if isinstance(value, SigmaNumber | SigmaBool):
            value = SigmaString(
                _number_text(value) if isinstance(value, SigmaNumber) else str(value)
            )
        if type(value) is not SigmaString:
            return None
        parts = _parts(value, lower=True)
        for variant in (parts, _json_escaped(parts)):
            inner = variant[1 if variant[:1] == [star] else 0 :]
            inner = inner[: -1 if inner[-1:] == [star] else None]
            text = _longest(inner)
            if not text:
                return None
            found.add((ORIGINAL, text))
    return frozenset(found)


def _longest(parts: Sequence[str | SpecialChars]) -> str:
    """The longest literal run of a pattern: every match holds it."""
    return max((p for p in parts if isinstance(p, str)), key=len, default="")
