"""Helpers for columnar fast paths: lines read in bulk, values parsed and JSON text
built with ``pyarrow.compute``.

Each helper gives exactly what the line path's Python (``int``, ``float``, ``orjson``)
gives for the same input, or raises ``Fallback`` when it cannot be sure, so that the
caller takes its line path for that block.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

#: Text that ``int()`` and Arrow read the same way, and that fits in an int64.
INT_TEXT = r"^-?[0-9]{1,18}$"
#: Text that ``float()`` and Arrow read the same way (Zeek writes ``%.6f``).
FLOAT_TEXT = r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$"
_ISO_US = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z$"
_TS = pa.timestamp("us", tz="UTC")


class Fallback(Exception):
    """The block is not one the fast path can reproduce exactly."""


def require(condition: Any, why: str) -> None:
    """Raise ``Fallback(why)`` unless ``condition`` (a bool or an Arrow boolean scalar)."""
    if isinstance(condition, pa.Scalar):
        condition = condition.as_py()
    if not condition:
        raise Fallback(why)


def strings(raws: list[bytes]) -> pa.Array | None:
    """Byte strings as one string array built from their joined bytes; None when they
    are not all UTF-8 or too big for 32-bit offsets."""
    data = b"".join(raws)
    if len(data) >= 2**31 - 1:
        return None
    offsets = pa.array(list(accumulate(map(len, raws), initial=0)), pa.int32())
    array = pa.StringArray.from_buffers(len(raws), offsets.buffers()[1], pa.py_buffer(data))
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return array


def all_match(text: pa.Array, pattern: str) -> bool:
    """Whether every non-null value matches ``pattern``."""
    return bool(pc.all(pc.match_substring_regex(text, pattern)).as_py() is not False)


def parse_ints(text: pa.Array) -> pa.Array:
    require(all_match(text, INT_TEXT), "odd integer text")
    return pc.cast(text, pa.int64())


def parse_floats(text: pa.Array) -> pa.Array:
    require(all_match(text, FLOAT_TEXT), "odd number text")
    return pc.cast(text, pa.float64())


def parse_bools(text: pa.Array, true: str = "T", false: str = "F") -> pa.Array:
    is_true = pc.equal(text, true)
    require(pc.all(pc.or_(is_true, pc.equal(text, false))), "odd bool text")
    return is_true


def epoch_micros(seconds: pa.Array) -> pa.Array:
    """``times.from_epoch`` of every value: ``round(seconds * 1e6)``, half to even."""
    require(seconds.null_count == 0, "no ts")
    require(pc.all(pc.less_equal(pc.abs(seconds), 1e11)), "bad epoch")  # false for NaN
    micros = pc.round(pc.multiply(seconds, 1_000_000.0), 0, "half_to_even")
    return pc.cast(micros, pa.int64())


def iso_micros(text: pa.Array) -> pa.Array:
    """``times.from_iso`` of ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` values; others fall back."""
    require(text.null_count == 0, "no ts")
    require(all_match(text, _ISO_US), "odd ISO time")
    return pc.cast(pc.cast(text, _TS), pa.int64())


def quote(text: pa.Array) -> pa.Array:
    """JSON strings of values with no backslash and no control character."""
    return pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '\\"'), '"', "")


def ints_json(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.string())


def bools_json(values: pa.Array) -> pa.Array:
    return pc.if_else(values, "true", "false")


def floats_json(values: pa.Array) -> pa.Array:
    """``orjson.dumps`` of each float: Arrow's shortest form, ``.0`` added; values where
    the two differ in form (exponents, NaN, infinities) are done by orjson itself."""
    text = pc.cast(values, pa.string())
    size = pc.abs(values)
    odd = pc.or_kleene(
        pc.or_kleene(pc.invert(pc.is_finite(values)), pc.greater_equal(size, 1e15)),
        pc.or_kleene(
            pc.and_(pc.less(size, 1e-4), pc.not_equal(values, 0.0)),
            pc.match_substring(text, "e"),
        ),
    )
    odd = pc.fill_null(odd, False)
    plain = pc.if_else(
        pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".0", "")
    )
    if not pc.any(odd).as_py():
        return plain
    exact = [orjson.dumps(v).decode() for v in pc.filter(values, odd).to_pylist()]
    return pc.replace_with_mask(plain, odd, pa.array(exact, pa.string()))


def list_json(text: pa.Array, sep: str, empty: str, element: Any) -> pa.Array:
    """A Zeek set/vector column as JSON arrays: ``empty`` is ``[]``, else the items
    split on ``sep`` and each formatted by ``element`` (an Arrow array -> JSON text)."""
    is_empty = pc.fill_null(pc.equal(text, empty), False)
    items = pc.split_pattern(pc.if_else(is_empty, None, text), sep)
    flat = element(pc.list_flatten(items))
    lists = pa.ListArray.from_arrays(items.offsets, flat, mask=pc.is_null(items))
    joined = pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")
    return pc.if_else(is_empty, "[]", joined)


def json_objects(keys: list[str], values: list[pa.Array]) -> pa.Array:
    """``{"key":value,…}`` per row, leaving out keys whose value is null."""
    pieces = []  # ',"key":value' or "": joining them is much faster than skipping nulls
    for key, value in zip(keys, values, strict=True):
        piece = pc.binary_join_element_wise("," + orjson.dumps(key).decode() + ":", value, "")
        pieces.append(pc.fill_null(piece, "") if piece.null_count else piece)
    body = pc.binary_join_element_wise(*pieces, "")
    return pc.binary_join_element_wise(pc.binary_replace_slice(body, 0, 1, "{"), "}", "")
