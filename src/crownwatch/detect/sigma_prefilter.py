"""Which rows each Sigma rule can match at all: Aho-Corasick over the batch, not per rule.

A rule's ``needs`` (see ``sigma_compile.needs``) are clauses of (field, literal) pairs:
for the rule to match a row, each clause must have a literal in the lower-cased value of
its field. ``build`` puts the literals into one automaton per field and set of routes;
``hits`` runs each automaton once per batch over the lower-cased column of the rows of
its routes (the values back to back, as Arrow stores them) and gives the rows holding
each pair; ``candidates`` the rows meeting all of a rule's clauses. The rule's full
predicate then runs on those rows only: usually none. A literal found across the
boundary of two values only adds a candidate, never loses one.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
import pyarrow as pa
import pyarrow.compute as pc

from crownwatch.detect.sigma_compile import Needs, regex_text
from crownwatch.detect.sigma_frame import Frame
from crownwatch.detect.sigma_route import Route

#: The routes of a rule: its automata run over the rows of these routes only.
Routes = tuple[Route, ...]

#: A text longer than this (the raw records, under keyword rules) is first tested for
#: any of the literals with one RE2 alternation; the automaton then reads only the rows
#: that hold one (RE2 scans big texts far faster than the automaton's Python iteration).
LARGE_TEXT = 1 << 21


#: Up to this many matches in a column are grouped by literal in Python; more by Arrow.
FEW_MATCHES = 2000


@dataclass
class Automaton:
    """The literals of the rules of some routes in one field: literal -> pair number.

    The Aho-Corasick automaton and the RE2 pattern are built on first use: a batch
    reaches the automata of the routes it has rows on only.
    """

    routes: Routes
    field: str
    literals: dict[str, int]
    _automaton: Any = None
    _pattern: str = ""

    @property
    def automaton(self) -> Any:
        if self._automaton is None:
            automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
            for literal, number in self.literals.items():
                automaton.add_word(_bytes_text(literal), number)
            automaton.make_automaton()
            self._automaton = automaton
        return self._automaton

    @property
    def pattern(self) -> str:
        """Any of the literals, as an RE2 pattern."""
        if not self._pattern:
            texts = (regex_text([t]) for t in sorted(self.literals))
            self._pattern = "(?:" + "|".join(texts) + ")"
        return self._pattern


@dataclass(frozen=True)
class Prefilter:
    """The automata, and each rule's pair numbers."""

    automata: list[Automaton] = field(default_factory=list)
    #: id(rule) -> its clauses' pair numbers; a rule not here has no needs: every row is
    #: a candidate.
    pairs: dict[int, tuple[tuple[int, ...], ...]] = field(default_factory=dict)


def build(rules: Iterable[tuple[int, Routes, tuple[Needs, ...]]]) -> Prefilter:
    """The prefilter of (id(rule), rule.routes, rule.needs) triples."""
    numbers: dict[tuple[Routes, str, str], int] = {}
    pairs: dict[int, tuple[tuple[int, ...], ...]] = {}
    for key, routes, clauses in rules:
        if not clauses:
            continue
        pairs[key] = tuple(
            tuple(
                numbers.setdefault((routes, name, literal), len(numbers))
                for name, literal in sorted(clause)
            )
            for clause in clauses
        )
    words: dict[tuple[Routes, str], dict[str, int]] = {}
    for (routes, name, literal), number in numbers.items():
        words.setdefault((routes, name), {})[literal] = number
    automata = [Automaton(routes, name, literals) for (routes, name), literals in words.items()]
    return Prefilter(automata, pairs)


def hits(prefilter: Prefilter, frame: Frame, masks: dict[Route, pa.Array]) -> dict[int, set[int]]:
    """Pair number -> the rows of ``frame`` whose field holds its literal (lower-cased).

    ``masks`` gives the rows of each route (a boolean per row of the frame).
    """
    subsets: dict[Routes, tuple[Frame, pa.Array | None] | None] = {}
    plan: list[tuple[Automaton, Frame, pa.Array | None]] = []
    for each in prefilter.automata:
        if each.routes not in subsets:
            subsets[each.routes] = _subset(frame, each.routes, masks)
        subset = subsets[each.routes]
        if subset is not None:
            plan.append((each, *subset))
    large = _large(frame, [(each, rows) for each, _, rows in plan], masks)
    found: dict[int, set[int]] = {}
    for each, sub, rows in plan:
        if each.field in large:
            held, lowered = large[each.field]
            if rows is not None:
                keep = pc.is_in(held, value_set=rows)
                held, lowered = held.filter(keep), lowered.filter(keep)
            column, rows = lowered, held
        else:
            column = sub.lower(each.field)
        if column.null_count == len(column):
            continue
        for number, more in _scan(each.automaton, column, rows).items():
            found.setdefault(number, set()).update(more)
    return found


def _subset(
    frame: Frame, routes: Routes, masks: dict[Route, pa.Array]
) -> tuple[Frame, pa.Array | None] | None:
    """The frame over the rows of some routes, and those rows (None: all of them)."""
    mask = _either(routes, masks)
    if mask is None:
        return None
    rows = pc.indices_nonzero(mask)
    if not len(rows):
        return None
    if len(rows) == frame.length:
        return frame, None
    return frame.take(rows), rows


def _either(routes: Iterable[Route], masks: dict[Route, pa.Array]) -> pa.Array | None:
    mask = None
    for route in routes:
        more = masks.get(route)
        if more is not None:
            mask = more if mask is None else pc.or_(mask, more)
    return mask


def _large(
    frame: Frame, plan: list[tuple[Automaton, pa.Array | None]], masks: dict[Route, pa.Array]
) -> dict[str, tuple[pa.Array, pa.Array]]:
    """Field -> the rows whose (large) value holds a literal of any automaton on it, and
    those values lower-cased: one RE2 pass per large field over the rows it is read on."""
    by_field: dict[str, list[Automaton]] = {}
    for each, _ in plan:
        by_field.setdefault(each.field, []).append(each)
    out: dict[str, tuple[pa.Array, pa.Array]] = {}
    for name, automata in by_field.items():
        raw = frame.raw(name)
        if raw.nbytes <= LARGE_TEXT:
            continue
        mask = _either({route for each in automata for route in each.routes}, masks)
        rows = None if mask is None or pc.all(mask).as_py() else pc.indices_nonzero(mask)
        if rows is not None:
            raw = raw.take(rows)
        pattern = "|".join(sorted({each.pattern for each in automata}))
        positions, lowered = _holding(raw, pattern)
        out[name] = (positions if rows is None else rows.take(positions), lowered)
    return out


def _holding(raw: pa.Array, pattern: str) -> tuple[pa.Array, pa.Array]:
    """The positions of the values that hold any of the literals, and those values
    lower-cased.

    RE2 finds them all at once: case-insensitively in the ASCII values (for ASCII text
    that is exactly a test of the lower-cased value, and nothing needs lowering), on
    the lower-cased value in the others.
    """
    try:
        ascii_ = pc.fill_null(pc.string_is_ascii(raw), True)
        anywhere = pc.match_substring_regex(raw, pattern, ignore_case=True)
        found = pc.indices_nonzero(pc.and_(ascii_, pc.fill_null(anywhere, False)))
        others = pc.indices_nonzero(pc.invert(ascii_))
        if len(others):
            lowered = pc.utf8_lower(raw.take(others))
            held = pc.fill_null(pc.match_substring_regex(lowered, pattern), False)
            both = pa.concat_arrays([found, others.filter(held)])
            found = both.take(pc.sort_indices(both))
    except pa.ArrowException:  # a pattern too large for RE2: the automaton reads everything
        found = pc.indices_nonzero(pc.is_valid(raw))
    return found, pc.utf8_lower(raw.take(found))


def _scan(automaton: Any, column: pa.Array, rows: pa.Array | None) -> dict[int, list[int]]:
    """Pair number -> the rows (``rows[i]`` for value ``i``; ``i`` if None) of a lower-cased
    column holding its literal (a row may repeat).

    The automaton reads the column's UTF-8 bytes back to back, each byte one character
    (Latin-1), as its literals are: a match is a byte match, and its end is a byte offset
    whose value Arrow finds for all matches at once.
    """
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    _, offsets_buffer, data = column.buffers()
    if data is None or not len(column):
        return {}
    offsets = pa.Array.from_buffers(
        pa.int32(), len(column) + 1, [None, offsets_buffer], offset=column.offset
    )
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    text = memoryview(data)[first:last].tobytes().decode("latin-1")
    ends, numbers = array("q"), array("q")  # no tuple kept per match: no work for the GC
    add_end, add_number = ends.append, numbers.append
    for end, number in automaton.iter(text):
        add_end(end)
        add_number(number)
    if not ends:
        return {}
    starts = pc.subtract(offsets, pa.scalar(first, pa.int32()))
    lists = pa.ListArray.from_arrays(starts, pa.nulls(last - first, pa.int8()))
    owner = pc.list_parent_indices(lists).take(_int64s(ends))
    if rows is not None:
        owner = rows.take(owner)
    if len(ends) < FEW_MATCHES:
        found: dict[int, list[int]] = {}
        for number, row in zip(numbers, owner.to_pylist(), strict=True):
            found.setdefault(number, []).append(row)
        return found
    table = pa.table({"number": _int64s(numbers), "row": owner.cast(pa.int64())})
    grouped = table.group_by("number").aggregate([("row", "distinct")]).to_pydict()
    return dict(zip(grouped["number"], grouped["row_distinct"], strict=True))


def _int64s(values: array[int]) -> pa.Array:
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _bytes_text(text: str) -> str:
    """A text as its UTF-8 bytes, one character each (how ``_scan`` reads a column)."""
    return text.encode("utf-8").decode("latin-1")


def candidates(prefilter: Prefilter, found: dict[int, set[int]], rule_key: int) -> list[int] | None:
    """The sorted rows a rule can match (all its clauses met); ``None`` when it has no
    clauses (every row)."""
    clauses = prefilter.pairs.get(rule_key)
    if clauses is None:
        return None
    rows: set[int] | None = None
    for numbers in clauses:
        met: set[int] = set()
        for number in numbers:
            more = found.get(number)
            if more:
                met |= more
        rows = met if rows is None else rows & met
        if not rows:
            return []
    return sorted(rows or ())
