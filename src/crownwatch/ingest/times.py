"""Timestamps from the forms logs use, as integer microseconds since the epoch (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from crownwatch.errors import ParseError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def from_epoch(value: float | int | str) -> int:
    """Seconds since the epoch (a Zeek ``ts``) as microseconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"bad epoch timestamp {value!r:.40}") from exc
    if seconds != seconds or abs(seconds) > 1e11:  # NaN or absurd
        raise ParseError(f"bad epoch timestamp {value!r:.40}")
    return round(seconds * 1_000_000)


def from_iso(text: str) -> int:
    """An ISO 8601 / RFC 3339 time; no zone means UTC; fractions past 6 digits are cut."""
    if not isinstance(text, str) or len(text) > 64:
        raise ParseError(f"bad timestamp {text!r:.40}")
    if len(text) == 27 and text[-1] == "Z" and text[19] == ".":  # the common case, fast
        try:
            return to_micros(datetime.fromisoformat(text))
        except ValueError:
            pass
    value = text.strip()
    if value.endswith(" UTC"):
        value = value[:-4]
    value = _FRACTION.sub(r"\1", value, count=1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text!r:.40}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_micros(moment)


def to_micros(moment: datetime) -> int:
    """A datetime as microseconds since the epoch (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_iso(micros: int) -> str:
    """Microseconds since the epoch as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(micros / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
