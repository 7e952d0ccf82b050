"""`crownwatch rules add | list | validate`: packs of Sigma rules a user adds."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from crownwatch import config
from crownwatch.cli import app
from crownwatch.detect import sigma, sigma_pack
from crownwatch.errors import UsageError

GOOD = """title: Whoami run by a service account
id: 11111111-2222-3333-4444-555555555555
status: test
level: high
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        Image|endswith: '\\\\whoami.exe'
    condition: sel
"""
BAD_YAML = "title: broken\nlogsource: {product: windows\ndetection: x\n"
BAD_MODIFIER = """title: Bad modifier
logsource:
    product: windows
    service: security
detection:
    sel:
        CommandLine|nosuchmodifier: 'x'
    condition: sel
"""
UNROUTABLE = """title: Cloud thing
logsource:
    product: aws
    service: cloudtrail
detection:
    sel:
        eventName: StopLogging
    condition: sel
"""


def cw(home: Path, *args: str) -> Result:
    """Run the CLI in-process with its own data directory."""
    return CliRunner().invoke(app, ["--home", str(home), *args], catch_exceptions=False)


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_validate_lists_each_failure_with_file_and_line(tmp_path: Path) -> None:
    pack = write(
        tmp_path / "pack",
        {"good.yml": GOOD, "bad.yml": BAD_YAML, "sub/mod.yml": BAD_MODIFIER, "aws.yml": UNROUTABLE},
    )
    result = cw(tmp_path / "home", "rules", "validate", str(pack), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["rules"] == 1
    where = {(f["file"], f["line"]) for f in report["failures"]}
    assert ("bad.yml", 3) in where  # the YAML parser's mark
    assert ("sub/mod.yml", 7) in where  # the line of the refused modifier
    reasons = {f["file"]: f["reason"] for f in report["failures"]}
    assert reasons["aws.yml"] == "not compiled: logsource not routable: aws/None/cloudtrail"
    only_good = write(tmp_path / "ok", {"good.yml": GOOD})
    assert cw(tmp_path / "home", "rules", "validate", str(only_good)).exit_code == 0


def test_add_copies_the_good_rules_and_detection_loads_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pack = write(tmp_path / "mypack", {"good.yml": GOOD, "bad.yml": BAD_YAML})
    result = cw(home, "rules", "add", str(pack))
    assert result.exit_code == 0
    assert "refused bad.yml:3" in result.stderr
    kept = sorted(p.relative_to(home).as_posix() for p in (home / "rules").rglob("*.yml"))
    assert kept == ["rules/mypack/good.yml"]
    settings = config.load(home=home)
    added = sigma.user_rules(settings)
    assert [r.title for r in added.rules] == ["Whoami run by a service account"]
    assert not added.failures
    listed = json.loads(cw(home, "rules", "list", "--json").stdout)
    mine = [r for r in listed if r["origin"] == "added"]
    assert mine == [
        {
            "title": "Whoami run by a service account",
            "id": "11111111-2222-3333-4444-555555555555",
            "level": "high",
            "logsource": "windows/process_creation/-",
            "file": str(home / "rules" / "mypack" / "good.yml"),
            "status": "test",
            "origin": "added",
        }
    ]
    assert len(listed) - len(mine) >= 2_900  # the shipped rules too
    # adding the same pack again replaces it
    write(pack, {"good.yml": GOOD.replace("level: high", "level: low")})
    cw(home, "rules", "add", str(pack))
    assert [r.level for r in sigma.user_rules(settings).rules] == ["low"]


def test_an_added_filter_applies_to_shipped_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shipped = sigma.bundled_rules(("windows",))
    target = next(r for r in shipped.rules if r.id == "85de1f22-d189-44e4-8239-dc276b45379b")
    flt = f"""title: our curl is fine
logsource: {{product: windows, category: process_creation}}
filter:
    rules:
        - {target.id}
    selection:
        User: 'CORP\\\\builder'
    condition: not selection
"""
    pack = write(tmp_path / "filters", {"curl.yml": flt})
    assert cw(home, "rules", "add", str(pack)).exit_code == 0
    both = sigma.all_rules(config.load(home=home), ("windows",))
    filtered = next(r for r in both.rules if r.id == target.id)
    assert filtered.fields == target.fields | {"User"}


def test_zip_entries_are_bounded_and_cannot_leave_the_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("rules/good.yml", GOOD)
        zf.writestr("../../escape.yml", GOOD)
        zf.writestr("/abs.yml", GOOD)
        zf.writestr("big.yml", "#" * (sigma.MAX_RULE_BYTES + 10))
        zf.writestr("notes.txt", "ignored")
    home = tmp_path / "home"
    result = cw(home, "rules", "add", str(archive), "--json")
    report = json.loads(result.stdout)
    assert report["files"] == ["rules/good.yml"]
    reasons = {f["file"]: f["reason"] for f in report["refused"]}
    assert reasons["../../escape.yml"] == "refused: path leaves the pack"
    assert reasons["/abs.yml"] == "refused: path leaves the pack"
    assert reasons["big.yml"].startswith("not loaded: file over")
    assert not (tmp_path / "escape.yml").exists() and not Path("/abs.yml").exists()
    assert (home / "rules" / "evil" / "rules" / "good.yml").is_file()
    monkeypatch.setattr(sigma_pack, "MAX_ENTRIES", 3)
    with pytest.raises(UsageError, match="entries"):
        sigma_pack.read_pack(archive)


def test_pack_names_are_checked(tmp_path: Path) -> None:
    assert sigma_pack.pack_name(tmp_path / "x.zip", None) == "x"
    assert sigma_pack.safe_relative("a/b.yml") == "a/b.yml"
    assert sigma_pack.safe_relative("C:/x.yml") is None
    assert sigma_pack.safe_relative("a\\..\\..\\x.yml") is None
    with pytest.raises(UsageError):
        sigma_pack.pack_name(tmp_path, "../etc")
