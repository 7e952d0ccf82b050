"""`crownwatch sigma scan` with the SigmaHQ rules shipped in the package, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crownwatch.detect import sigma


def test_the_shipped_rules_load_offline() -> None:
    rules = sigma.bundled_rules()  # core and emerging threats
    assert len(rules.rules) >= 2_900  # measured: 2935
    assert all(f.reason.startswith(("not loaded", "not compiled")) for f in rules.failures)
    routable = [f for f in rules.failures if "logsource not routable" not in f.reason]
    assert len(routable) < 0.01 * (len(rules.rules) + len(routable))  # measured: 7
    by_column = {route[0] for rule in rules.rules for route in rule.routes}
    assert by_column == {"winlog.channel", "event.dataset", "event.module", "event.action"}
    files = {r.file.split(":", 1)[1].split("/", 1)[0] for r in rules.rules}
    assert files == {"rules", "rules-emerging-threats"}  # hunting rules: only when asked


def test_scan_a_regression_sample_with_the_shipped_rules(shared_data: Path) -> None:
    folder = (
        shared_data
        / "sigma"
        / "regression_data"
        / "rules"
        / "windows"
        / "process_creation"
        / "proc_creation_win_curl_custom_user_agent"
    )
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    evtx = next(folder.glob("*.evtx"))
    result = subprocess.run(
        [sys.executable, "-m", "crownwatch", "sigma", "scan", "--json", str(evtx)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    matches = [json.loads(line) for line in result.stdout.splitlines()]
    fired = {m["rule_id"] for m in matches}
    assert "85de1f22-d189-44e4-8239-dc276b45379b" in fired
    hit = next(m for m in matches if m["rule_id"] == "85de1f22-d189-44e4-8239-dc276b45379b")
    assert hit["rule_title"] == "Curl Web Request With Potential Custom User-Agent"
    assert hit["file"] == str(evtx) or hit["file"].endswith(evtx.name)
    assert "curl" in json.dumps(hit["event"]).lower() and hit["level"]
