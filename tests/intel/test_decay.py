"""MISP's decaying model over STIX indicators: the formula, its shapes, sightings, threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crownwatch.errors import ParseError
from crownwatch.intel import decay

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IND = "indicator--6b5b8f42-1f4c-4c8e-9d59-2a64b7c4d001"


def _indicator(**extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": IND,
        "created": "2025-12-20T08:00:00.000Z",
        "modified": "2025-12-20T08:00:00.000Z",
        "pattern": "[ipv4-addr:value = '203.0.113.7']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
        **extra,
    }


def _sighting(n: int, last_seen: str, of: str = IND) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--00000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-02T00:00:00.000Z",
        "modified": "2026-01-02T00:00:00.000Z",
        "sighting_of_ref": of,
        "first_seen": "2026-01-02T00:00:00.000Z",
        "last_seen": last_seen,
    }


def test_at_t0_the_score_is_the_base() -> None:
    terms = decay.explain(_indicator(confidence=80), "ipv4-addr", T0)
    assert terms["score"] == 80 and terms["base"] == 80 and terms["t"] == 0
    assert (terms["tau"], terms["delta"], terms["threshold"]) == (30.0, 1.0, 30.0)
    assert terms["since"] == "valid_from" and terms["start"] == "2026-01-01T00:00:00.000Z"
    assert terms["live"] is True and terms["reason"] == "live"


def test_half_the_lifetime_with_delta_1_halves_the_score() -> None:
    now = T0 + timedelta(days=15)
    assert decay.score(_indicator(confidence=80), "ipv4-addr", now) == pytest.approx(40.0)
    # no confidence: the default base, 50
    assert decay.score(_indicator(), "ipv4-addr", now) == pytest.approx(25.0)
    # a domain lives 90 days: at 45 days it is at half
    assert decay.score(_indicator(), "domain-name", T0 + timedelta(days=45)) == pytest.approx(25)


def test_at_and_after_the_lifetime_the_score_is_zero() -> None:
    for days in (30, 31, 400):
        terms = decay.explain(_indicator(confidence=100), "ipv6-addr", T0 + timedelta(days=days))
        assert terms["score"] == 0 and terms["live"] is False
        assert "past its lifetime of 30 days" in terms["reason"]
    just_before = decay.score(_indicator(confidence=100), "ipv6-addr", T0 + timedelta(days=29))
    assert just_before == pytest.approx(100 / 30)


def test_delta_below_1_holds_then_falls_and_above_1_falls_fast() -> None:
    slow = decay.explain(_indicator(confidence=100), "sha256", T0 + timedelta(days=182.5))
    assert (slow["tau"], slow["delta"]) == (365.0, 0.3)
    assert slow["score"] == pytest.approx(100 * (1 - 0.5 ** (1 / 0.3)))  # ≈ 90.1
    assert slow["score"] > 90
    # an unknown kind takes MISP's NIDS model: 120 days, δ = 2 — fast at first
    fast = decay.explain(_indicator(confidence=100), "user-agent", T0 + timedelta(days=60))
    assert (fast["tau"], fast["delta"]) == (120.0, 2.0)
    assert fast["score"] == pytest.approx(100 * (1 - 0.5**0.5))  # ≈ 29.3
    # the same shapes over a custom model, at the same fraction of the same lifetime
    model = decay.Model(kinds={"a": (10.0, 0.5), "b": (10.0, 1.0), "c": (10.0, 3.0)})
    scores = [decay.score(_indicator(), k, T0 + timedelta(days=2), None, model) for k in "abc"]
    assert scores == pytest.approx([50 * (1 - 0.2**2), 50 * 0.8, 50 * (1 - 0.2 ** (1 / 3))])
    assert scores[0] > scores[1] > scores[2]


def test_valid_until_in_the_past_is_zero_and_in_the_future_changes_nothing() -> None:
    now = T0 + timedelta(days=3)
    gone = _indicator(confidence=90, valid_until="2026-01-03T00:00:00.000Z")
    terms = decay.explain(gone, "domain-name", now)
    assert terms["score"] == 0 and terms["live"] is False
    assert terms["reason"] == "valid_until 2026-01-03T00:00:00.000Z has passed"
    later = _indicator(confidence=90, valid_until="2026-06-01T00:00:00.000000Z")
    assert decay.score(later, "domain-name", now) == pytest.approx(90 * (1 - 3 / 90))


def test_a_sighting_resets_t() -> None:
    ind = _indicator(confidence=80)
    now = T0 + timedelta(days=20)
    assert decay.score(ind, "ipv4-addr", now) == pytest.approx(80 * (1 - 20 / 30))
    assert decay.live(ind, "ipv4-addr", now) is False  # 26.7 < 30
    sightings = [
        _sighting(1, "2026-01-05T00:00:00Z"),
        _sighting(2, "2026-01-19T12:00:00.000Z"),
        _sighting(3, "2026-01-20T00:00:00Z", of="indicator--00000000-0000-4000-8000-000000000999"),
    ]
    seen = decay.last_seen_of(sightings, IND)
    assert seen == datetime(2026, 1, 19, 12, tzinfo=UTC)
    terms = decay.explain(ind, "ipv4-addr", now, seen)
    assert terms["since"] == "last_seen" and terms["start"] == "2026-01-19T12:00:00.000Z"
    assert terms["t"] == pytest.approx(1.5)  # now is 2026-01-21T00:00
    assert terms["score"] == pytest.approx(76.0) and terms["live"] is True
    # a sighting older than valid_from does not make the indicator older
    old = decay.explain(ind, "ipv4-addr", now, datetime(2025, 12, 1, tzinfo=UTC))
    assert old["since"] == "valid_from" and old["t"] == pytest.approx(20)
    assert decay.last_seen_of(sightings, "indicator--00000000-0000-4000-8000-000000000123") is None


def test_threshold_decides_live_but_not_the_score() -> None:
    ind = _indicator(confidence=60)
    # 60 × (1 − t/30) = 30 at t = 15 days: at the threshold still live, just after not
    assert decay.live(ind, "ipv4-addr", T0 + timedelta(days=15)) is True
    after = decay.explain(ind, "ipv4-addr", T0 + timedelta(days=16))
    assert after["score"] == pytest.approx(32.0 * 0.875) and after["live"] is False
    assert after["reason"] == "below the threshold"
    lenient = decay.Model(threshold=10)
    assert decay.live(ind, "ipv4-addr", T0 + timedelta(days=16), None, lenient) is True
    assert decay.score(ind, "ipv4-addr", T0 + timedelta(days=16), None, lenient) == after["score"]
    # a zero threshold still never makes an expired indicator live
    never = decay.Model(threshold=0)
    assert decay.live(ind, "ipv4-addr", T0 + timedelta(days=30), None, never) is False


def test_source_reliability_adjusts_the_base() -> None:
    ind = _indicator(confidence=80, x_opencti_reliability="B - Usually reliable")
    terms = decay.explain(ind, "url", T0)
    assert (terms["reliability"], terms["reliability_factor"], terms["base"]) == ("B", 0.9, 72)
    assert decay.score(ind, "url", T0, reliability="d") == 40
    tagged = _indicator(confidence=80, labels=['admiralty-scale:source-reliability="e"'])
    assert decay.score(tagged, "url", T0) == 20
    # F, "reliability cannot be judged", leaves the confidence as it is
    assert decay.score(_indicator(confidence=80, x_crownwatch_reliability="F"), "url", T0) == 80


def test_revoked_not_yet_valid_and_created_only() -> None:
    assert decay.score(_indicator(revoked=True), "url", T0) == 0
    early = decay.explain(_indicator(), "url", T0 - timedelta(hours=1))
    assert early["score"] == 0 and early["reason"] == "not valid before 2026-01-01T00:00:00.000Z"
    created_only = {k: v for k, v in _indicator().items() if k != "valid_from"}
    terms = decay.explain(created_only, "url", T0)
    assert terms["since"] == "created" and terms["t"] == pytest.approx(11 + 16 / 24)
    # a naive "now" is read as UTC
    assert decay.score(_indicator(), "url", datetime(2026, 1, 31)) == pytest.approx(25)


def test_bad_records_raise_parse_error_with_the_reason() -> None:
    with pytest.raises(ParseError, match="bad valid_until 'next tuesday'"):
        decay.score(_indicator(valid_until="next tuesday"), "url", T0)
    with pytest.raises(ParseError, match="confidence must be an integer 0-100"):
        decay.score(_indicator(confidence=150), "url", T0)
    with pytest.raises(ParseError, match="confidence"):
        decay.score(_indicator(confidence=True), "url", T0)
    with pytest.raises(ParseError, match="without valid_from or created"):
        decay.score({"type": "indicator", "id": IND}, "url", T0)
    with pytest.raises(ValueError, match="τ and δ must be > 0"):
        decay.Model(kinds={"url": (0.0, 1.0)})
