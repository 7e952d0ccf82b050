"""Detection over the demo scenario's lake: alerts step by step, incremental runs, retro-hunts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from crownwatch import config, demo, lake, pipeline
from crownwatch.cli import app
from crownwatch.errors import UsageError
from crownwatch.intel import importers, kb, stixfiles
from crownwatch.risk import assets
from crownwatch.store import Store
from crownwatch.store import alerts as alerts_store
from crownwatch.store import assets as assets_store

#: An address of the intrusion's second C2 server that the vendor's bundle does not carry.
LATE_C2 = "149.28.71.205"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, small_scenario: Path) -> Iterator[Path]:
    """The small scenario ingested, the vendor's bundle imported, detection run once."""
    home = tmp_path_factory.mktemp("detect") / "home"
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        ingested = pipeline.ingest_files(
            [str(small_scenario / d) for d in ("windows", "zeek", "syslog")], settings, store
        )
        assert ingested.exit_code == 0
        importers.bundled(store)  # ATT&CK and the MISP galaxy, as `intel init`
        bundle = stixfiles.read(small_scenario / "report" / "apt41-bundle.json")
        assert kb.import_objects(store, bundle, "vendor-report").rejected == 0
        inventory = assets.read_inventory(small_scenario / "inventory" / "assets.csv")
        assets_store.replace(store, inventory)
        summary = pipeline.detect_lake(settings, store)
        assert summary.events == ingested.added and summary.added > 0
    finally:
        store.close()
    yield home


def _alerts(home: Path, min_severity: str = "informational") -> list[dict[str, Any]]:
    store = Store.open(config.load(home=home, environ={}))
    try:
        return alerts_store.listing(store, limit=0, min_severity=min_severity)
    finally:
        store.close()


def test_the_intrusion_is_detected_step_by_step(home: Path, small_scenario: Path) -> None:
    settings = config.load(home=home, environ={})
    measured = demo.quality(settings, small_scenario, _alerts(home, "low"))
    apt41 = measured["incidents"]["apt41"]
    missed = [step for step, titles in apt41["per_step"].items() if not titles]
    print(f"APT41: {apt41['alerted']} of {apt41['steps']} steps alerted; missed {missed}")
    print(f"false alerts: {measured['false_alerts']} ({measured['false_per_10k']} per 10k)")
    assert apt41["alerted"] >= 0.9 * apt41["steps"], missed
    # every kind of detector contributes to the intrusion's picture
    kinds = {t.split(":")[0] for titles in apt41["per_step"].values() for t in titles}
    assert kinds == {"sigma", "indicator", "analytic"}
    assert measured["false_per_10k"] < 1


def test_a_second_run_reads_only_new_events_even_after_compaction(
    home: Path, small_scenario: Path, tmp_path: Path
) -> None:
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        assert pipeline.detect_lake(settings, store).events == 0
        # one more connection of a day the lake holds: a second file in that partition
        conn_log = (small_scenario / "zeek" / "2026-10-08" / "conn.log").read_text()
        header = [line for line in conn_log.splitlines() if line.startswith("#")]
        first = next(line for line in conn_log.splitlines() if not line.startswith("#"))
        fields = first.split("\t")
        fields[1] = "CnewconnectionX1"
        (tmp_path / "conn.log").write_text("\n".join([*header[:-1], "\t".join(fields)]) + "\n")
        assert pipeline.ingest_files([str(tmp_path / "conn.log")], settings, store).added == 1
        assert pipeline.detect_lake(settings, store).events == 1
        before = _alerts(home)
        partitions, _ = lake.compact(settings.lake_dir)
        assert partitions >= 1
        again = pipeline.detect_lake(settings, store)
        assert (again.events, again.added, again.updated) == (0, 0, 0)
    finally:
        store.close()
    assert _alerts(home) == before


def test_a_retro_hunt_finds_a_new_indicator_in_the_past(home: Path) -> None:
    settings = config.load(home=home, environ={})
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--5a1a7f2e-9a38-4b89-9f34-0c8f7b1a2e01",
        "created": "2026-10-20T00:00:00.000Z",
        "modified": "2026-10-20T00:00:00.000Z",
        "name": "late C2 address",
        "pattern": f"[ipv4-addr:value = '{LATE_C2}']",
        "pattern_type": "stix",
        "valid_from": "2026-10-01T00:00:00Z",
        "confidence": 90,
    }
    store = Store.open(settings)
    try:
        kb.import_objects(store, [indicator], "late-feed")
        # live detection has read every event already: only a sweep of the past finds it
        assert pipeline.detect_lake(settings, store).events == 0
        since = datetime(2026, 10, 1, tzinfo=UTC)
        first = pipeline.hunt_retro(settings, store, since)
        assert first.added >= 1 and first.by_kind["indicator"] > 0
        again = pipeline.hunt_retro(settings, store, since)
        assert again.added == 0 and again.updated >= 1
        seen = kb.sightings(store, [indicator["id"]])[indicator["id"]]
        assert seen["count"] > 0
    finally:
        store.close()
    late = [a for a in _alerts(home) if a["rule"] == indicator["id"]]
    assert late and all(a["retro"] for a in late)
    assert all(LATE_C2 in a["entities"]["ip"] for a in late)
    assert "late C2 address" in late[0]["explanation"]


def test_the_alerts_command_lists_them_as_json(home: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(home), "alerts", "--json", "--limit", "0"])
    assert result.exit_code == 0, result.output
    listed = orjson.loads(result.stdout)
    assert listed and {"id", "kind", "severity", "title", "entities", "explanation"} <= set(
        listed[0]
    )
    severities = [a["severity"] for a in listed]
    assert "informational" not in severities
    bad = CliRunner().invoke(app, ["--home", str(home), "alerts", "--min-severity", "bogus"])
    assert isinstance(bad.exception, UsageError) and "--min-severity" in str(bad.exception)


def test_the_intrusion_is_the_top_incident_and_the_commodity_malware_another(
    home: Path, small_scenario: Path
) -> None:
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        built = pipeline.build_incidents(settings, store)
    finally:
        store.close()
    top = built[0]
    assert "ws-0008" in top["hosts"] and "ws-0028" not in top["hosts"]
    assert top["crown_jewels"] and top["tactics"][-1] == "exfiltration"
    qakbot = next(i for i in built if "ws-0028" in i["hosts"])
    assert qakbot["score"] < top["score"] and "ws-0008" not in qakbot["hosts"]
    listed = CliRunner().invoke(app, ["--home", str(home), "incidents", "--json"])
    assert listed.exit_code == 0 and orjson.loads(listed.stdout)[0]["id"] == top["id"]
    shown = CliRunner().invoke(app, ["--home", str(home), "incident", top["id"].lower()])
    assert shown.exit_code == 0 and "timeline" in shown.stdout and top["id"] in shown.stdout


def test_the_story_ends_with_the_actor_and_the_crown_jewel_at_risk(
    home: Path, tmp_path: Path
) -> None:
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        answers = pipeline.answer(
            settings, store, tmp_path / "report", "Helix", pdf=False, sectors=("Pharmacy",)
        )
    finally:
        store.close()
    top = answers["top_incident"]
    hypothesis = answers["hypothesis"]
    assert (hypothesis["id"], hypothesis["name"]) == ("G0096", "APT41")
    assert hypothesis["confidence"] == "high" and hypothesis["probability"] > 0.5
    assert any(e["kind"] == "strong" for e in hypothesis["evidence"]["for"])
    first = answers["risks"][0]
    assert first["crown_jewel"] and first["name"] in top["crown_jewels"]
    assert any(t["term"] == "threat" and "APT41" in t["why"] for t in first["terms"])
    assert (tmp_path / "report" / "report.html").is_file()
    assert answers["report"]["layer"] and answers["landscape"]["groups"] > 0
