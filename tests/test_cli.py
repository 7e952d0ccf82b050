"""The command line as a user runs it: exit codes, --json, --csv, --help everywhere."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CW
from crownwatch import __version__

FIXTURES = Path(__file__).resolve().parent / "data" / "zeek"


def test_version_and_help_on_every_command(tmp_path: Path, cw: CW) -> None:
    assert cw(tmp_path, "--version").stdout.strip() == f"crownwatch {__version__}"
    for command in (
        ["ingest"],
        ["query"],
        ["lake", "compact"],
        ["lake", "stats"],
        ["runs"],
        ["formats"],
        ["db", "upgrade"],
        ["db", "current"],
        ["scenario", "generate"],
        ["demo"],
    ):
        result = cw(tmp_path, *command, "--help")
        assert result.returncode == 0, command
        assert "Usage:" in result.stdout and "--help" in result.stdout


def test_ingest_query_and_json_outputs(tmp_path: Path, cw: CW) -> None:
    result = cw(tmp_path, "ingest", "--json", str(FIXTURES / "conn.log"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["events_added"], summary["quarantined"], summary["exit_code"]) == (2, 0, 0)
    assert summary["datasets"] == {"zeek.conn": 2}
    again = json.loads(cw(tmp_path, "ingest", "--json", str(FIXTURES / "conn.log")).stdout)
    assert (again["events_added"], again["unchanged_files"]) == (0, 1)
    copy = tmp_path / "copy-of-conn.log"  # the same content under another name
    copy.write_bytes((FIXTURES / "conn.log").read_bytes())
    assert json.loads(cw(tmp_path, "ingest", "--json", str(copy)).stdout)["events_added"] == 0
    grown = tmp_path / "grown-conn.log"  # the same records and one more: only that one is new
    lines = (FIXTURES / "conn.log").read_text().splitlines(keepends=True)
    grown.write_text("".join(lines[:10]) + lines[9].replace("Cdef456", "Cxyz789") + lines[10])
    grown_run = json.loads(cw(tmp_path, "ingest", "--json", str(grown)).stdout)
    assert (grown_run["events_parsed"], grown_run["events_added"]) == (3, 1)

    rows = json.loads(
        cw(
            tmp_path,
            "query",
            "--json",
            'SELECT "source.bytes" AS b, "destination.ip" AS ip FROM events ORDER BY "@timestamp"',
        ).stdout
    )
    assert rows == [
        {"b": 1048576, "ip": "45.77.12.34"},
        {"b": 40, "ip": "10.0.0.10"},
        {"b": 40, "ip": "10.0.0.10"},
    ]
    text = cw(tmp_path, "query", "--csv", 'SELECT "network.transport" t FROM zeek_conn ORDER BY 1')
    assert list(csv.reader(io.StringIO(text.stdout))) == [["t"], ["tcp"], ["udp"], ["udp"]]
    table = cw(tmp_path, "query", "select count(*) as n from events")
    assert "3" in table.stdout and table.returncode == 0

    stats = json.loads(cw(tmp_path, "lake", "stats", "--json").stdout)
    assert stats["events"] == 3 and stats["per_source"][0]["dataset"] == "zeek.conn"
    runs = json.loads(cw(tmp_path, "runs", "--json").stdout)
    assert [r["events_added"] for r in runs] == [1, 0, 0, 2]
    formats = json.loads(cw(tmp_path, "formats", "--json").stdout)
    assert [f["name"] for f in formats][:3] == ["evtx", "zeek", "eve"]


def test_exit_codes(tmp_path: Path, cw: CW) -> None:
    missing = cw(tmp_path, "ingest", str(FIXTURES / "conn.log"), str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "nope.log" in missing.stderr
    unknown = cw(tmp_path, "ingest", "--format", "klingon", str(FIXTURES / "conn.log"))
    assert unknown.returncode == 2 and "known formats: evtx" in unknown.stderr
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 40)
    assert cw(tmp_path, "ingest", str(garbage)).returncode == 1
    bad_sql = cw(tmp_path, "query", "select nonsense from nowhere")
    assert bad_sql.returncode == 2 and "query failed" in bad_sql.stderr
    assert cw(tmp_path, "ingest", "--map", "oops", str(garbage)).returncode == 2


def test_markup_in_logs_is_printed_as_text(tmp_path: Path, cw: CW) -> None:
    log = tmp_path / "x.json"
    log.write_text(
        '{"ts": 1759651200.0, "uid": "C1", "id.orig_h": "[bold red]pwn[/]", "_path": "conn"}\n'
    )
    assert cw(tmp_path, "ingest", str(log)).returncode == 0
    out = cw(tmp_path, "query", 'select "source.ip" from events')
    assert "[bold red]pwn[/]" in out.stdout


@pytest.mark.postgres
def test_db_commands_on_postgres(tmp_path: Path, pg_url: str) -> None:
    env_home = tmp_path
    result = subprocess.run(
        [sys.executable, "-m", "crownwatch", "--home", str(env_home), "db", "upgrade"],
        capture_output=True,
        text=True,
        env={**_env(), "CROWNWATCH_DATABASE_URL": pg_url},
    )
    assert result.returncode == 0, result.stderr
    current = subprocess.run(
        [sys.executable, "-m", "crownwatch", "db", "current", "--json"],
        capture_output=True,
        text=True,
        env={**_env(), "CROWNWATCH_DATABASE_URL": pg_url},
    )
    revisions = json.loads(current.stdout)
    assert revisions["current"] == revisions["head"] is not None


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_demo_in_a_fresh_folder_matches_the_ground_truth_twice(tmp_path: Path) -> None:
    """As `make demo` runs it: no --home, so the data goes to ./crownwatch-data."""
    env = {k: v for k, v in _env().items() if not k.startswith("CROWNWATCH_")}
    runs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "crownwatch", "demo", "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout))
    first, second = runs
    assert first["matches_truth"] and second["matches_truth"]
    assert first["ingest"]["events_added"] == first["checks"][0]["truth"] > 40_000
    assert second["ingest"]["events_added"] == 0
    assert (tmp_path / "crownwatch-data" / "lake" / "events").is_dir()
