"""`crownwatch run` on real attack EVTX with an inventory: the whole chain to the report."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from crownwatch.cli import app


def test_run_goes_from_logs_to_a_report(shared_data: Path, tmp_path: Path) -> None:
    logs = shared_data / "evtx" / "EVTX-to-MITRE-Attack" / "EVTX_full_APT_attack_steps"
    inventory = tmp_path / "assets.csv"
    inventory.write_text(
        "hostname,ip,crown_jewel,criticality,ip_value_usd\nrootdc1,,true,5,1000000\n"
    )
    home, out = tmp_path / "home", tmp_path / "out"
    args = ["--home", str(home), "run", str(logs), "--assets", str(inventory)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--no-pdf", "--json"])
    assert result.exit_code == 0, result.output
    answers = orjson.loads(result.stdout)
    assert answers["ingest"]["events_added"] > 0 and answers["detection"]["alerts_raised"] > 0
    top = answers["top_incident"]
    assert top and top["alerts"] and top["tactics"]
    assert (out / "report.html").stat().st_size > 10_000 and answers["report"]["pdf"] is None
    assert answers["report"]["stix"] and Path(answers["report"]["stix"][0]).is_file()
    # the inventory was kept, and the commands that read the store see the same story
    listed = CliRunner().invoke(app, ["--home", str(home), "assets", "--json"])
    assert [a["hostname"] for a in orjson.loads(listed.stdout)] == ["rootdc1"]
    incidents = CliRunner().invoke(app, ["--home", str(home), "incidents", "--json"])
    assert orjson.loads(incidents.stdout)[0]["id"] == top["id"]
    risks = CliRunner().invoke(app, ["--home", str(home), "risks", "--json"])
    assert risks.exit_code == 0 and orjson.loads(risks.stdout)
