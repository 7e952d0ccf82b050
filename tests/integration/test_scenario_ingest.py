"""The demo scenario end to end: generate, ingest, and check the lake against the ground truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from crownwatch import config, lake, pipeline, scenario
from crownwatch.demo import compare
from crownwatch.store import Store


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenario") / "small"
    scenario.generate(out, size="small", seed=7)
    return out


def _truth(folder: Path) -> dict[str, Any]:
    return dict(orjson.loads((folder / "truth" / "summary.json").read_bytes()))


def _ingest(folder: Path, home: Path) -> pipeline.IngestSummary:
    settings = config.load(home=home, environ={})
    store = Store.open(settings)
    try:
        return pipeline.ingest_files(
            [str(folder / d) for d in ("windows", "zeek", "syslog")], settings, store
        )
    finally:
        store.close()


def _ids(home: Path) -> list[str]:
    con = lake.connect(home / "lake")
    ids = [r[0] for r in con.execute('SELECT "event.id" FROM events ORDER BY 1').fetchall()]
    con.close()
    return ids


def test_ingest_matches_the_ground_truth(small: Path, tmp_path: Path) -> None:
    truth = _truth(small)
    summary = _ingest(small, tmp_path)
    assert summary.exit_code == 0 and summary.quarantined == 0
    assert summary.added == summary.read == truth["total_events"]
    settings = config.load(home=tmp_path, environ={})
    checks = compare(settings, small, truth)
    assert all(c["ok"] for c in checks), [c for c in checks if not c["ok"]]

    # every malicious line of the ground truth is in the lake, where the truth says it is
    rows = [
        orjson.loads(line)
        for line in (small / "truth" / "events.jsonl").read_bytes().split(b"\n")
        if line
    ]
    assert len(rows) == sum(truth["malicious"].values()) > 1000
    con = lake.connect(tmp_path / "lake")
    con.register(
        "truth",
        pa.Table.from_pylist(
            [
                {
                    "path": str((small / r["file"]).resolve()),
                    "offset": r["offset"],
                    "technique": r["technique"],
                }
                for r in rows
            ]
        ),
    )
    found = con.execute(
        'SELECT count(*), count(DISTINCT e."event.id") FROM truth t JOIN events e '
        'ON e."log.file.path" = t.path AND e."log.offset" = t.offset'
    ).fetchone()
    assert found == (len(rows), len(rows))
    # and the lake's own counts per dataset add up to the scenario's streams
    per_dataset = dict(
        con.execute('SELECT "event.dataset", count(*) FROM events GROUP BY 1').fetchall()
    )
    assert per_dataset["zeek.conn"] == truth["groups"]["zeek/conn"]
    assert per_dataset["windows.sysmon"] == truth["groups"]["windows/sysmon"]
    con.close()


def test_a_second_ingest_adds_nothing(small: Path, tmp_path: Path) -> None:
    first = _ingest(small, tmp_path)
    again = _ingest(small, tmp_path)
    assert first.added > 0 and again.added == 0
    assert all(f.status == "unchanged" for f in again.files)
    assert len(_ids(tmp_path)) == first.added


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_ingest_resumed_equals_a_clean_one(
    small: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    clean = tmp_path / "clean"
    _ingest(small, clean)
    home = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crownwatch",
            "--home",
            str(home),
            "ingest",
            *(str(small / d) for d in ("windows", "zeek", "syslog")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for_first_commit(home, proc)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT and proc.returncode != 0:  # it may have finished first
        assert proc.returncode == 130 and b"interrupted" in err
    partial = len(_ids(home))
    if sig == signal.SIGKILL:
        assert 0 < partial < len(_ids(clean))  # it really was cut short
    resumed = _ingest(small, home)
    assert resumed.exit_code == 0
    assert _ids(home) == _ids(clean)
    assert partial + resumed.added == len(_ids(clean))


def _wait_for_first_commit(home: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    events = home / "lake" / "events"
    while time.monotonic() < deadline and proc.poll() is None:
        if any(events.glob("dataset=*/day=*/*.parquet")):
            return
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.fail(f"ingest ended before it could be interrupted: {proc.returncode}")
    pytest.fail("no partition file appeared within 60 s")


@pytest.fixture(autouse=True)
def _no_env_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CROWNWATCH_HOME", raising=False)
    yield
