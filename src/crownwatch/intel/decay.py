"""Indicators that age: MISP's decaying model over STIX indicator dicts.

An indicator's score falls with the time since it was last seen::

    score(t) = base × (1 − (t/τ)^(1/δ))   for 0 ≤ t < τ, else 0

the "Polynomial" formula of MISP's decaying models (MISP 2.4.114+, Mokaddem et al.,
arXiv:1902.03914). ``t`` counts from the newest of the last sighting and ``valid_from``
(``created`` when there is no ``valid_from``); ``τ`` is the lifetime in days and ``δ`` the
decay speed: δ = 1 falls in a straight line, δ > 1 drops fast at first then levels off,
δ < 1 holds its value at first then falls near the end. ``base`` is the indicator's
``confidence`` (default 50) times a factor for the source's reliability (Admiralty scale)
when one is given. Below the threshold an indicator stops matching but stays in the
knowledge base.

Defaults, per kind of value (the kinds ``crownwatch.intel.patterns.INDEXED`` names):

========================  ======  ====  ==================================================
kind                      τ days  δ     why
========================  ======  ====  ==================================================
ipv4-addr, ipv6-addr      30      1     addresses are re-assigned and rotated quickly
url                       60      1     URLs are taken down within weeks
domain-name               90      1     registered names live longer than addresses
md5, sha1, sha256         365     0.3   a hash never stops naming its file; it loses value
                                        only as the malware is rebuilt (slow start)
anything else             120     2     MISP's shipped default, the "NIDS Simple Decaying
                                        Model" (lifetime 120, decay_speed 2, threshold 30)
========================  ======  ====  ==================================================

The threshold, 30, is the one all of MISP's shipped models use. MISP ships one model for
every network type (the NIDS model above) and none for hashes; the per-kind lifetimes are
crownwatch's, shaped like MISP's, so that an address ages faster than a file hash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crownwatch.errors import ParseError

DAY = 86_400.0

#: kind → (τ lifetime in days, δ decay speed); see the module docstring for the reasons.
DEFAULT_KINDS: dict[str, tuple[float, float]] = {
    "ipv4-addr": (30.0, 1.0),
    "ipv6-addr": (30.0, 1.0),
    "url": (60.0, 1.0),
    "domain-name": (90.0, 1.0),
    "md5": (365.0, 0.3),
    "sha1": (365.0, 0.3),
    "sha256": (365.0, 0.3),
}
#: MISP's "NIDS Simple Decaying Model": lifetime 120 days, decay_speed 2.
MISP_DEFAULT = (120.0, 2.0)

#: Admiralty-scale source reliability → factor on the confidence. F ("reliability cannot be
#: judged") leaves the confidence as it is; a worse source can only lower it, never raise it.
RELIABILITY: dict[str, float] = {
    "A": 1.0,
    "B": 0.9,
    "C": 0.75,
    "D": 0.5,
    "E": 0.25,
    "F": 1.0,
}
_ADMIRALTY_TAG = re.compile(r'admiralty-scale:source-reliability="?([a-fA-F])"?')
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


@dataclass
class Model:
    """Per-kind lifetime τ (days) and decay speed δ, the threshold and the base-score inputs."""

    kinds: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_KINDS))
    fallback: tuple[float, float] = MISP_DEFAULT
    threshold: float = 30.0
    default_confidence: int = 50
    reliability: dict[str, float] = field(default_factory=lambda: dict(RELIABILITY))

    def __post_init__(self) -> None:
        for kind, (tau, delta) in [*self.kinds.items(), ("fallback", self.fallback)]:
            if not (tau > 0 and delta > 0):
                raise ValueError(f"decay model for {kind}: τ and δ must be > 0")
        if not 0 <= self.threshold <= 100:
            raise ValueError("the threshold is a score from 0 to 100")
        if not 0 <= self.default_confidence <= 100:
            raise ValueError("the default confidence is from 0 to 100")


def score(
    indicator: dict[str, Any],
    kind: str,
    now: datetime,
    last_seen: datetime | None = None,
    model: Model | None = None,
    reliability: str | None = None,
) -> float:
    """The indicator's score now, 0–100."""
    return float(explain(indicator, kind, now, last_seen, model, reliability)["score"])


def live(
    indicator: dict[str, Any],
    kind: str,
    now: datetime,
    last_seen: datetime | None = None,
    model: Model | None = None,
    reliability: str | None = None,
) -> bool:
    """Whether the indicator still matches: its score is above 0 and at least the threshold."""
    return bool(explain(indicator, kind, now, last_seen, model, reliability)["live"])


def explain(
    indicator: dict[str, Any],
    kind: str,
    now: datetime,
    last_seen: datetime | None = None,
    model: Model | None = None,
    reliability: str | None = None,
) -> dict[str, Any]:
    """The score with every term of its formula, and why it is what it is.

    ``reliability`` (an Admiralty letter A–F) overrides the one the indicator carries
    (``x_crownwatch_reliability``, ``x_opencti_reliability`` or a MISP
    ``admiralty-scale:source-reliability`` label). Raises ``ParseError`` for an indicator
    whose timestamps or confidence cannot be read.
    """
    model = model or Model()
    now = _utc(now)
    tau, delta = model.kinds.get(kind, model.fallback)
    confidence = _confidence(indicator, model.default_confidence)
    letter = (reliability or _reliability(indicator) or "").upper() or None
    factor = model.reliability.get(letter, 1.0) if letter else 1.0
    base = confidence * factor
    since = "valid_from" if indicator.get("valid_from") is not None else "created"
    begins = _when(indicator, since)
    if begins is None:
        raise ParseError("indicator without valid_from or created")
    start = begins
    if last_seen is not None and _utc(last_seen) > start:
        since, start = "last_seen", _utc(last_seen)
    t = max(0.0, (now - start).total_seconds() / DAY)
    valid_until = _when(indicator, "valid_until")
    value, reason = 0.0, ""
    if indicator.get("revoked") is True:
        reason = "revoked"
    elif valid_until is not None and now >= valid_until:
        reason = f"valid_until {_stamp(valid_until)} has passed"
    elif now < begins:
        reason = f"not valid before {_stamp(begins)}"
    elif t >= tau:
        reason = f"{t:.1f} days since {since}: past its lifetime of {tau:g} days"
    else:
        value = base * (1.0 - (t / tau) ** (1.0 / delta))
        reason = "below the threshold" if value < model.threshold else "live"
    return {
        "kind": kind,
        "confidence": confidence,
        "reliability": letter,
        "reliability_factor": factor,
        "base": base,
        "since": since,
        "start": _stamp(start),
        "t": t,
        "tau": tau,
        "delta": delta,
        "score": value,
        "threshold": model.threshold,
        "live": value > 0 and value >= model.threshold,
        "reason": reason,
    }


def last_seen_of(sightings: Iterable[dict[str, Any]], indicator_id: str) -> datetime | None:
    """The newest time any of these STIX sightings saw the indicator (None if never)."""
    newest: datetime | None = None
    for sighting in sightings:
        if sighting.get("type") != "sighting" or sighting.get("sighting_of_ref") != indicator_id:
            continue
        when = (
            _when(sighting, "last_seen")
            or _when(sighting, "first_seen")
            or _when(sighting, "created")
        )
        if when is not None and (newest is None or when > newest):
            newest = when
    return newest


def _confidence(indicator: dict[str, Any], default: int) -> int:
    value = indicator.get("confidence")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ParseError(f"confidence must be an integer 0-100, not {value!r:.20}")
    return value


def _reliability(indicator: dict[str, Any]) -> str | None:
    for prop in ("x_crownwatch_reliability", "x_opencti_reliability"):
        value = indicator.get(prop)
        if isinstance(value, str) and value[:1].upper() in RELIABILITY:
            return value[:1].upper()
    for label in indicator.get("labels") or ():
        match = _ADMIRALTY_TAG.fullmatch(label) if isinstance(label, str) else None
        if match:
            return match.group(1).upper()
    return None


def _when(obj: dict[str, Any], prop: str) -> datetime | None:
    """A STIX timestamp property as an aware datetime; ``ParseError`` when it is not one."""
    value = obj.get(prop)
    if value is None:
        return None
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ParseError(f"bad {prop} {value!r:.40}")
    whole, fraction, zone = match.groups()
    text = f"{whole}.{(fraction or '0')[:6]:0<6}{'+00:00' if zone == 'Z' else zone}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:
        raise ParseError(f"bad {prop} {value!r:.40}: {exc}") from exc


def _utc(when: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
