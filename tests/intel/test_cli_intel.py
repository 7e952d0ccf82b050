"""`crownwatch intel …` as a user runs it: init offline, show, search, import, bad files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from conftest import CW
from crownwatch import scenario


def test_init_show_search_and_the_scenario_report(tmp_path: Path, cw: CW) -> None:
    home = tmp_path / "home"
    init = json.loads(cw(home, "intel", "init", "--json").stdout)
    attack, galaxy = init["imports"]
    assert attack["added"] == 24_771 and galaxy["added"] > 2_000
    assert attack["rejected"] == galaxy["rejected"] == 0
    again = json.loads(cw(home, "intel", "init", "--json").stdout)
    assert (again["imports"][0]["added"], again["imports"][0]["unchanged"]) == (0, 24_771)
    assert again["imports"][1]["added"] == 0

    profile = json.loads(cw(home, "intel", "show", "APT41", "--json").stdout)
    assert profile["attack_id"] == "G0096"
    assert "T1566.001" in {t["id"] for t in profile["techniques"]["initial-access"]}
    assert {"KEYPLUG", "DUSTPAN"} <= {s["name"] for s in profile["software"]}
    assert profile["country"] == "CN"  # from the MISP galaxy actor linked to G0096
    assert "China" in (profile["state_sponsor"] or "") or profile["state_sponsor"] is None
    assert profile["target_sectors"]
    shown = cw(home, "intel", "show", "G0096")
    assert shown.returncode == 0 and "Techniques by tactic" in shown.stdout
    found = json.loads(cw(home, "intel", "search", "typhoon", "--json").stdout)
    assert "Volt Typhoon" in {f["name"] for f in found}
    missing = cw(home, "intel", "show", "No Such Group")
    assert missing.returncode == 2 and "nothing in the knowledge base" in missing.stderr

    scenario.generate(tmp_path / "demo", "small", 7)
    bundle = tmp_path / "demo" / "report" / "apt41-bundle.json"
    result = cw(home, "intel", "import", "--json", str(bundle))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["imports"][0]
    objects = json.loads(bundle.read_text())["objects"]
    assert report["added"] == len(objects) and report["rejected"] == 0
    stats = json.loads(cw(home, "intel", "stats", "--json").stdout)
    indicators = sum(o["type"] == "indicator" for o in objects)
    assert stats["indicator"] == indicators > 0
    # the vendor's APT41 and ATT&CK's are one profile: same primary name, both sources kept
    merged = json.loads(cw(home, "intel", "show", "APT41", "--json").stdout)
    assert merged["attack_id"] == "G0096" and merged["indicators"]
    vendor = next(o for o in objects if o["type"] == "intrusion-set")
    assert vendor["id"] in {m["id"] for m in merged["merged_from"]}

    layer = json.loads(cw(home, "intel", "export", "navigator", "G0096").stdout)
    assert {t["techniqueID"] for t in layer["techniques"]} >= {"T1566.001", "T1003.001"}
    exported = cw(
        home,
        "intel",
        "export",
        "stix",
        "G0096",
        "--validate",
        "--out",
        str(tmp_path / "g0096.json"),
    )
    assert exported.returncode == 0, exported.stderr
    bundle = json.loads((tmp_path / "g0096.json").read_text())
    assert bundle["type"] == "bundle" and len(bundle["objects"]) > 100
    assert {o["spec_version"] for o in bundle["objects"] if "spec_version" in o} == {"2.1"}
    event = json.loads(cw(home, "intel", "export", "misp", "--type", "indicator").stdout)
    values = {a["value"] for a in event["Event"]["Attribute"]}
    assert len(values) == indicators


def test_misp_event_and_feed_import(tmp_path: Path, cw: CW) -> None:
    misp_data = Path(__file__).resolve().parents[1] / "data" / "misp"
    home = tmp_path / "home"
    result = cw(home, "intel", "import", "--json", str(misp_data))
    out = json.loads(result.stdout)
    by_source = {i["source"]: i for i in out["imports"]}
    assert set(by_source) == {"event_apt41.json", "misp-feed:feed"}
    event = by_source["event_apt41.json"]
    assert event["added"] > 10 and event["rejected"] >= 2
    assert any("unknown MISP attribute type 'foo-bar'" in r for r in event["reasons"])
    assert by_source["misp-feed:feed"]["rejected"] == 1  # the truncated event file
    assert result.returncode == 1  # something was rejected: say so
    again = json.loads(cw(home, "intel", "import", "--json", str(misp_data)).stdout)
    assert sum(i["added"] for i in again["imports"]) == 0


def test_bad_files_are_reported_and_the_rest_imports(tmp_path: Path, cw: CW) -> None:
    home = tmp_path / "home"
    feed = tmp_path / "feed"
    feed.mkdir()
    good = feed / "good.json.gz"
    good.write_bytes(
        gzip.compress(
            json.dumps(
                {
                    "type": "bundle",
                    "id": "bundle--1",
                    "objects": [
                        {
                            "type": "indicator",
                            "spec_version": "2.1",
                            "id": "indicator--00000000-0000-4000-8000-000000000001",
                            "created": "2026-01-01T00:00:00Z",
                            "modified": "2026-01-01T00:00:00Z",
                            "pattern": "[domain-name:value = 'evil.example']",
                            "pattern_type": "stix",
                            "valid_from": "2026-01-01T00:00:00Z",
                        },
                        {"type": "indicator", "id": "indicator--broken"},
                    ],
                }
            ).encode()
        )
    )
    (feed / "broken.json").write_text('{"type": "bundle", "objects": [')
    (feed / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    result = cw(home, "intel", "import", "--json", str(feed))
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert [(i["added"], i["rejected"]) for i in out["imports"]] == [(1, 1)]
    reasons = {Path(u["file"]).name: u["reason"] for u in out["unreadable"]}
    assert reasons.keys() == {"broken.json", "deep.json"}
    assert all(r.startswith("not JSON") for r in reasons.values())
    assert cw(home, "intel", "import", "--tlp", "purple", str(good)).returncode == 2


def test_extract_the_scenario_report_and_import_lists(tmp_path: Path, cw: CW) -> None:
    home = tmp_path / "home"
    scenario.generate(tmp_path / "demo", "small", 7)
    report = tmp_path / "demo" / "report" / "apt41-report.txt"
    result = cw(home, "intel", "extract", "--import", "--json", str(report))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    objects = out["bundle"]["objects"]
    evidence = next(o for o in objects if o["type"] == "report")["x_crownwatch_evidence"]
    assert "G0096" in {e["external_id"] for e in evidence}
    truth = json.loads((tmp_path / "demo" / "truth" / "indicators.json").read_text())
    values = {t["value"] for t in truth if t.get("in_report")}
    patterns = " ".join(o["pattern"] for o in objects if o["type"] == "indicator").lower()
    assert values and all(v.lower() in patterns for v in values)
    assert out["import"]["added"] == len(objects) and out["import"]["rejected"] == 0

    listed = tmp_path / "iocs.txt"
    listed.write_text(
        "# indicators from a partner\nhxxps://update-cdn[.]evil-example[.]top/a\n"
        "45.77.12[.]34\nnot an indicator at all\n10.0.0.1\n"
    )
    imported = json.loads(cw(home, "intel", "import", "--json", str(listed)).stdout)
    [only] = imported["imports"]
    assert only["added"] >= 2 and only["rejected"] == 2
    assert any("not an indicator at all" in r for r in only["reasons"])
    bad_pdf = tmp_path / "report.pdf"
    bad_pdf.write_text("this is not a PDF")
    refused = cw(home, "intel", "extract", str(bad_pdf))
    assert refused.returncode != 0 and "PDF" in refused.stderr
