"""Bad input through the whole ingest path: files, pipeline, lake, quarantine and CLI.

Each case puts a bad file or record among good ones and checks that the good records
are in the lake with their real values, the bad ones are quarantined with a reason,
and the exit code says what happened.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from crownwatch import config, lake, pipeline
from crownwatch.cli import app
from crownwatch.config import Settings
from crownwatch.ingest import PARSERS
from crownwatch.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared" / "data"
ZEEK = SHARED / "logs" / "zeek-wrccdc-2018"
OPENSSH = SHARED / "logs" / "loghub" / "OpenSSH_2k.log"
EVTX = SHARED / "evtx" / "EVTX-to-MITRE-Attack" / "EVTX_full_APT_attack_steps"
EVTX_FILE = EVTX / "ID5145-4624-DonPAPI full extraction.evtx"
HEADER_BYTES, CHUNK_BYTES = 4096, 65536

#: Runs the installed CLI's entry point (its error handling gives exit code 2 for usage).
MAIN = "from crownwatch.cli import main; main()"


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not ZEEK.is_dir():
        pytest.skip(f"real data not found at {SHARED}")


def _settings(home: Path) -> Settings:
    return config.load(home=home, environ={})


def _ingest(home: Path, *paths: Path | str, fmt: str | None = None) -> pipeline.IngestSummary:
    settings = _settings(home)
    store = Store.open(settings)
    try:
        return pipeline.ingest_files([str(p) for p in paths], settings, store, fmt)
    finally:
        store.close()


def _rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    con = lake.connect(_settings(home).lake_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _count(home: Path, where: str = "true") -> int:
    return int(_rows(home, f"SELECT count(*) FROM events WHERE {where}")[0][0])


def _quarantine(home: Path) -> list[tuple[Any, ...]]:
    return _rows(
        home,
        'SELECT "log.file.path", format, reason, raw_size, octet_length(raw) FROM quarantine '
        "ORDER BY 1, position",
    )


def _cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--home", str(home), *args])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CROWNWATCH_")}


def _flat(text: str) -> str:
    """Output without the line breaks a console inserts into long paths."""
    return "".join(text.split())


def _zeek_tsv(path: Path, rows: int, start: int = 0) -> list[bytes]:
    """Write the real DNS log's header and ``rows`` of its records; returns the records."""
    with gzip.open(ZEEK / "tsv" / "dns.log.gz", "rb") as fh:
        lines = [fh.readline() for _ in range(8 + start + rows)]
    records = lines[8 + start :]
    path.write_bytes(b"".join(lines[:8] + records))
    return [r.rstrip(b"\n") for r in records]


def _zeek_json(name: str, count: int, start: int = 0) -> list[bytes]:
    with gzip.open(ZEEK / "json" / f"{name}.json.gz", "rb") as fh:
        lines = [fh.readline() for _ in range(start + count)]
    return [line.rstrip(b"\n") for line in lines[start:]]


def _ssh_lines(count: int) -> list[bytes]:
    with OPENSSH.open("rb") as fh:
        return [fh.readline().rstrip(b"\r\n") for _ in range(count)]


def _uids(lines: list[bytes]) -> list[str]:
    return [line.split(b"\t")[1].decode() for line in lines]


# -- files that are not there, not readable, or of no known format ---------------------------


def test_missing_file_among_good_files(tmp_path: Path) -> None:
    dns = tmp_path / "dns.log"
    records = _zeek_tsv(dns, 40)
    ssh = tmp_path / "auth.log"
    ssh.write_bytes(b"\n".join(_ssh_lines(25)) + b"\n")
    missing = tmp_path / "no-such-dir" / "gone.log"
    home = tmp_path / "home"

    result = _cli(home, "ingest", str(dns), str(missing), str(ssh))

    assert result.exit_code == 2
    assert str(missing) in _flat(result.output)
    assert _rows(
        home,
        "SELECT uid FROM (SELECT json_extract_string(fields, '$.uid') AS uid, "
        '"log.offset" FROM events WHERE "event.dataset" = \'zeek.dns\') '
        'ORDER BY "log.offset"',
    ) == [(u,) for u in _uids(records)]
    assert _count(home, '"log.file.path" = \'' + str(ssh) + "'") == 25
    assert _rows(
        home,
        'SELECT "user.name", "source.ip" FROM events '
        'WHERE "event.action" = \'invalid_user\' ORDER BY "log.offset" LIMIT 1',
    ) == [("webmaster", "173.234.31.186")]


def _skip_if_still_readable(path: Path) -> None:
    """chmod 000 stops nobody running as root: then there is nothing to test."""
    try:
        if path.is_dir():
            list(path.iterdir())
        else:
            path.read_bytes()
    except PermissionError:
        return
    reason = f"chmod 000 does not stop this user (uid {os.geteuid()}) reading {path.name}"
    print(reason)
    pytest.skip(reason)


def test_unreadable_file_among_good_ones(tmp_path: Path) -> None:
    good = tmp_path / "logs" / "dns.log"
    good.parent.mkdir()
    _zeek_tsv(good, 10)
    locked = tmp_path / "logs" / "locked.log"
    _zeek_tsv(locked, 5, start=100)
    locked.chmod(0)
    try:
        _skip_if_still_readable(locked)
        summary = _ingest(tmp_path / "home", tmp_path / "logs")
    finally:
        locked.chmod(0o644)
    by_path = {f.path: f for f in summary.files}
    assert (by_path[str(locked)].status, by_path[str(locked)].error) == (
        "error",
        "cannot read: Permission denied",
    )
    assert by_path[str(good)].added == _count(tmp_path / "home") == 10
    assert summary.exit_code == 1


def test_unreadable_folder_is_reported(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    locked = logs / "locked"
    locked.mkdir(parents=True)
    _zeek_tsv(logs / "dns.log", 10)
    _zeek_tsv(locked / "inner.log", 5, start=100)
    locked.chmod(0)
    try:
        _skip_if_still_readable(locked)
        summary = _ingest(tmp_path / "home", logs, locked / "inner.log")
    finally:
        locked.chmod(0o755)
    reported = summary.missing + [f.path for f in summary.files if f.status == "error"]
    assert any(str(locked) in item for item in reported)
    assert _count(tmp_path / "home") == 10
    assert summary.exit_code != 0


def test_unknown_format_by_name_writes_nothing(tmp_path: Path) -> None:
    dns = tmp_path / "dns.log"
    _zeek_tsv(dns, 5)
    home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-c", MAIN, "--home", str(home), "ingest", "--format", "zeeek", str(dns)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown format 'zeeek'" in proc.stderr
    assert "known formats: " + ", ".join(PARSERS) in " ".join(proc.stderr.split())
    assert not list(home.glob("lake/**/*.parquet"))
    store = Store.open(_settings(home))
    try:
        assert store.runs() == []
    finally:
        store.close()


def test_binary_garbage_is_quarantined_whole(tmp_path: Path) -> None:
    garbage = tmp_path / "blob.bin"
    data = b"\x00\x07" + random.Random(7).randbytes(50_000)
    garbage.write_bytes(data)
    ssh = tmp_path / "auth.log"
    ssh.write_bytes(b"\n".join(_ssh_lines(10)) + b"\n")
    home = tmp_path / "home"

    result = _cli(home, "ingest", str(garbage), str(ssh))

    assert result.exit_code == 1
    [(file, fmt, reason, size, kept)] = _quarantine(home)
    assert (file, fmt, size, kept) == (str(garbage), "unknown", 50_002, 4096)
    assert "not recognised" in reason
    assert _rows(home, "SELECT raw FROM quarantine")[0][0] == data[:4096]
    assert _count(home) == 10
    assert _rows(home, 'SELECT "process.pid" FROM events ORDER BY "log.offset" LIMIT 1') == [
        (24200,)
    ]


# -- damaged compressed and binary files ----------------------------------------------------


def test_truncated_gzip_of_zeek_keeps_what_precedes_the_cut(tmp_path: Path) -> None:
    packed = (ZEEK / "tsv" / "dns.log.gz").read_bytes()
    cut = packed[: len(packed) // 2]
    path = tmp_path / "dns.log.gz"
    path.write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    complete = [line for line in readable.split(b"\n")[:-1] if not line.startswith(b"#")]
    home = tmp_path / "home"

    summary = _ingest(home, path)

    assert summary.exit_code == 1 and summary.files[0].format == "zeek"
    assert summary.added == _count(home) == len(complete) > 20_000
    last = complete[-1].split(b"\t")
    assert _rows(
        home,
        "SELECT json_extract_string(fields, '$.uid'), \"dns.question.name\" "
        'FROM events ORDER BY "log.offset" DESC LIMIT 1',
    ) == [(last[1].decode(), last[9].decode())]
    [(file, fmt, reason, _, _)] = _quarantine(home)
    assert (file, fmt) == (str(path), "zeek")
    assert reason.startswith("file unreadable past this point")


def _chunk_record_ids(data: bytes, chunk: int) -> list[int]:
    """The ``EventRecordID`` of each record of one chunk, by the chunk header's record range."""
    first, last = struct.unpack_from("<QQ", data, HEADER_BYTES + chunk * CHUNK_BYTES + 8)
    ids = _event_record_ids()
    return [ids[n] for n in range(first, last + 1)]


@functools.cache
def _event_record_ids() -> dict[int, int]:
    """Record number -> the ``EventRecordID`` it carries, read by the evtx library itself."""
    import evtx
    import orjson

    records = cast(list[dict[str, Any]], list(evtx.PyEvtxParser(str(EVTX_FILE)).records_json()))
    return {
        r["event_record_id"]: orjson.loads(r["data"])["Event"]["System"]["EventRecordID"]
        for r in records
    }


@pytest.fixture()
def evtx_bytes() -> bytes:
    if not EVTX_FILE.is_file():
        pytest.skip(f"real EVTX file not found at {EVTX_FILE}")
    data = EVTX_FILE.read_bytes()
    assert data[HEADER_BYTES + 6 * CHUNK_BYTES :][:8] == b"ElfChnk\0"  # 7 chunks of records
    return data


def _record_ids(home: Path) -> list[int]:
    return [r[0] for r in _rows(home, 'SELECT "winlog.record_id" FROM events ORDER BY 1')]


def test_evtx_cut_in_the_middle(evtx_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / "donpapi.evtx"
    path.write_bytes(evtx_bytes[: HEADER_BYTES + 3 * CHUNK_BYTES + CHUNK_BYTES // 2])
    home = tmp_path / "home"

    summary = _ingest(home, path)

    ids = _record_ids(home)
    whole = [i for c in range(3) for i in _chunk_record_ids(evtx_bytes, c)]
    assert ids[: len(whole)] == whole and len(whole) == 311
    assert set(ids) <= set(_chunk_record_ids(evtx_bytes, 3)) | set(whole)
    assert summary.exit_code == 1
    assert _quarantine(home), "the cut must be quarantined"
    assert all(reason for _, _, reason, _, _ in _quarantine(home))


def test_evtx_chunk_overwritten_with_random_bytes(evtx_bytes: bytes, tmp_path: Path) -> None:
    data = bytearray(evtx_bytes)
    start = HEADER_BYTES + 2 * CHUNK_BYTES
    data[start : start + CHUNK_BYTES] = random.Random(3).randbytes(CHUNK_BYTES)
    path = tmp_path / "donpapi.evtx"
    path.write_bytes(bytes(data))
    home = tmp_path / "home"

    summary = _ingest(home, path)

    kept = [i for c in (0, 1, 3, 4, 5, 6) for i in _chunk_record_ids(evtx_bytes, c)]
    assert _record_ids(home) == kept
    assert summary.exit_code == 1
    reasons = [reason for _, _, reason, _, _ in _quarantine(home)]
    assert reasons and all(reasons)
    assert _rows(
        home, 'SELECT "winlog.channel", "host.name" FROM events WHERE "winlog.record_id" = 1160026'
    ) == _rows_of_full_file(evtx_bytes, tmp_path)


def _rows_of_full_file(data: bytes, tmp_path: Path) -> list[tuple[Any, ...]]:
    path = tmp_path / "full" / "donpapi.evtx"
    path.parent.mkdir()
    path.write_bytes(data)
    home = tmp_path / "full-home"
    _ingest(home, path)
    return _rows(
        home, 'SELECT "winlog.channel", "host.name" FROM events WHERE "winlog.record_id" = 1160026'
    )


# -- records that are too big or not UTF-8 --------------------------------------------------

RSS_SCRIPT = """
import json, resource, sys
from crownwatch import config, pipeline
from crownwatch.store import Store

settings = config.load(home=sys.argv[1], environ={})
store = Store.open(settings)
pipeline.ingest_files([sys.argv[2]], settings, store)  # warm up: every code path loaded
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
summary = pipeline.ingest_files([sys.argv[3]], settings, store)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kb": after - before, **summary.as_dict()}, default=str))
"""


def test_100_mb_line_in_zeek_json_is_quarantined_without_being_held(tmp_path: Path) -> None:
    before, after = _zeek_json("dns", 50), _zeek_json("dns", 50, start=50)
    path = tmp_path / "dns.json"
    size = 100 * 1024 * 1024
    head = b'{"_path":"dns","ts":"2018-03-24T17:15:20.865716Z","query":"'
    with path.open("wb") as fh:
        fh.write(b"\n".join(before) + b"\n")
        fh.write(head)
        block = b"A" * (1 << 20)
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(b'"}\n')
        fh.write(b"\n".join(after) + b"\n")
    warm = tmp_path / "ssl.json"
    warm.write_bytes(b"\n".join(_zeek_json("ssl", 200)) + b"\n")
    home = tmp_path / "home"

    proc = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(home), str(warm), str(path)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["growth_kb"] < 60 * 1024, f"peak RSS grew by {result['growth_kb']} KB"
    assert (result["events_added"], result["quarantined"], result["exit_code"]) == (100, 1, 1)
    line_size = len(head) + size + 2
    # raw_size counts the line as it is on disk, newline included (as read_lines does)
    [(file, fmt, reason, raw_size, kept)] = _quarantine(home)
    assert (file, fmt, raw_size, kept) == (str(path), "zeek", line_size + 1, 64 * 1024)
    assert reason == f"record of {line_size + 1} bytes is over the {4 * 1024 * 1024}-byte limit"
    queries = _rows(
        home,
        f"SELECT json_extract_string(fields, '$.uid') FROM events "
        f'WHERE "log.file.path" = \'{path}\' ORDER BY "log.offset"',
    )
    expected = [json.loads(line)["uid"] for line in before + after]
    assert [q for (q,) in queries] == expected


def _split_by_replacement(
    home: Path, path: Path, columns: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A file's events without and with U+FFFD in their original, and its quarantine."""
    rows = _rows(
        home,
        f'SELECT "event.original", {columns} FROM events '
        f'WHERE "log.file.path" = \'{path}\' ORDER BY "log.offset"',
    )
    quarantined = _rows(
        home, f"SELECT raw, reason FROM quarantine WHERE \"log.file.path\" = '{path}'"
    )
    return (
        [r for r in rows if "\ufffd" not in r[0]],
        [r for r in rows if "\ufffd" in r[0]],
        quarantined,
    )


def test_invalid_utf8_in_syslog_and_zeek_values(tmp_path: Path) -> None:
    ssh_lines = _ssh_lines(6)
    bad_ssh = ssh_lines[1].replace(b"webmaster", b"web\xff\xfemaster")
    ssh = tmp_path / "auth.log"
    ssh.write_bytes(b"\n".join([ssh_lines[0], bad_ssh, *ssh_lines[2:]]) + b"\n")
    dns = tmp_path / "dns.log"
    records = _zeek_tsv(dns, 6)
    bad_dns = records[2].replace(b"ise.wrccdc.org", b"ise.wrc\xc3\x28dc.org", 1)
    dns.write_bytes(dns.read_bytes().replace(records[2], bad_dns))
    home = tmp_path / "home"

    summary = _ingest(home, ssh, dns)

    assert [f.status for f in summary.files] == ["done", "done"]
    assert summary.read == 12 and summary.added + summary.quarantined == 12

    good, replaced, quarantined = _split_by_replacement(home, ssh, '"user.name", "source.ip"')
    assert [r[0] for r in good] == [line.decode() for line in ssh_lines if line != ssh_lines[1]]
    assert good[-1][1:] == ("webmaster", "173.234.31.186")  # Failed password for invalid user
    assert len(replaced) + len(quarantined) == 1
    if replaced:
        assert replaced[0][1:] == ("web\ufffd\ufffdmaster", "173.234.31.186")
    else:
        assert quarantined[0][0] == bad_ssh and quarantined[0][1]

    good, replaced, quarantined = _split_by_replacement(
        home, dns, '"dns.question.name", "source.port"'
    )
    cells = [r.split(b"\t") for r in records]
    assert [r[1:] for r in good] == [
        (c[9].decode(), int(c[3])) for i, c in enumerate(cells) if i != 2
    ]
    assert len(replaced) + len(quarantined) == 1
    if replaced:
        assert replaced[0][1:] == ("ise.wrc\ufffd(dc.org", int(cells[2][3]))
    else:
        assert quarantined[0][0] == bad_dns and quarantined[0][1]


def _json_lines(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_record_naming_a_huge_dataset_does_not_stop_the_run(tmp_path: Path) -> None:
    """Found here: JSON lines may name their own ``event.dataset``; a 300-character one made
    a partition folder name too long for the file system, and the LakeError ended the run."""
    app = tmp_path / "app.jsonl"
    huge = "a" * 300
    _json_lines(
        app,
        [
            {"ts": 1793606400, "message": "before"},
            {"ts": 1793606401, "message": "huge", "event.dataset": huge},
            {"ts": 1793606402, "message": "after"},
        ],
    )
    dns = tmp_path / "z-dns.log"
    _zeek_tsv(dns, 5)
    home = tmp_path / "home"

    summary = _ingest(home, app, dns)

    assert [(f.status, f.added) for f in summary.files] == [("done", 3), ("done", 5)]
    assert _rows(
        home,
        'SELECT message, "event.dataset" FROM events '
        f'WHERE "log.file.path" = \'{app}\' ORDER BY "log.offset"',
    ) == [("before", "json"), ("huge", huge), ("after", "json")]


def test_a_record_naming_the_quarantine_dataset_leaves_the_lake_queryable(tmp_path: Path) -> None:
    app = tmp_path / "app.jsonl"
    _json_lines(
        app,
        [
            {"ts": 1793606400, "message": "plain"},
            {"ts": 1793606401, "message": "sly", "event": {"dataset": "quarantine"}},
        ],
    )
    home = tmp_path / "home"
    assert _ingest(home, app).added == 2
    assert _rows(home, "SELECT message FROM events ORDER BY 1") == [("plain",), ("sly",)]
    assert _rows(home, "SELECT count(*) FROM quarantine") == [(0,)]


# -- the same data twice, and runs that are stopped half-way --------------------------------


def test_same_file_twice_and_a_renamed_copy_add_nothing(tmp_path: Path) -> None:
    dns = tmp_path / "dns.log"
    _zeek_tsv(dns, 300)
    copy = tmp_path / "elsewhere" / "renamed-copy.log"
    copy.parent.mkdir()
    shutil.copy(dns, copy)
    grown = tmp_path / "grown.log"  # the same file after the sensor wrote 10 more lines
    more = _zeek_tsv(grown, 310)[300:]
    home = tmp_path / "home"

    first = _ingest(home, dns)
    ids = _rows(home, 'SELECT "event.id" FROM events ORDER BY 1')
    second = _ingest(home, dns)
    third = _ingest(home, copy)
    after_copies = _rows(home, 'SELECT "event.id" FROM events ORDER BY 1')
    fourth = _ingest(home, grown)

    assert (first.added, first.exit_code) == (300, 0)
    assert (second.added, second.exit_code) == (0, 0)
    assert (third.added, third.exit_code) == (0, 0)
    assert after_copies == ids and len(set(ids)) == 300
    assert (fourth.added, fourth.exit_code) == (10, 0)
    assert _count(home) == 310
    assert _rows(
        home,
        "SELECT json_extract_string(fields, '$.uid') FROM events "
        f'WHERE "log.file.path" = \'{grown}\' ORDER BY "log.offset"',
    ) == [(u,) for u in _uids(more)]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Three real Zeek JSON logs: a small one first, then two large ones."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for prefix, name in (("a", "rdp"), ("b", "dns"), ("c", "ssl")):
        shutil.copyfile(ZEEK / "json" / f"{name}.json.gz", logs / f"{prefix}_{name}.json.gz")
    return logs


def _events_of(home: Path) -> tuple[int, list[str]]:
    ids = [i for (i,) in _rows(home, 'SELECT "event.id" FROM events ORDER BY 1')]
    return len(ids), ids


def _stop_after_first_commit(home: Path, folder: Path, sig: signal.Signals) -> int:
    """Start the CLI ingest, send ``sig`` once the first part file is in the lake."""
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN, "--home", str(home), "ingest", "--json", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    deadline = time.monotonic() + 120
    events = home / "lake" / "events"
    while not any(events.glob("dataset=*/day=*/part-*.parquet")):
        assert proc.poll() is None, "the ingest ended before its first commit was seen"
        assert time.monotonic() < deadline, "no part file appeared"
        time.sleep(0.005)
    assert proc.poll() is None, "the ingest finished before it could be stopped"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert "interrupted" in stderr.decode(), stderr.decode()[-2000:]
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_interrupted_ingest_resumed_equals_one_clean_run(
    sig: signal.Signals, folder: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    assert _ingest(clean, folder).exit_code == 0
    home = tmp_path / "stopped"

    code = _stop_after_first_commit(home, folder, sig)

    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    partial, _ = _events_of(home)
    assert 0 < partial < _events_of(clean)[0]
    resumed = subprocess.run(
        [sys.executable, "-c", MAIN, "--home", str(home), "ingest", "--json", str(folder)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["events_added"] == _events_of(clean)[0] - partial
    assert _events_of(home) == _events_of(clean)
    assert _events_of(clean)[0] == 4122 + 53615 + 49474
    assert not list((home / "lake" / ".staging").glob("*"))


# -- exit codes ---------------------------------------------------------------------------


def test_exit_code_0_for_a_clean_file_1_when_records_are_quarantined(tmp_path: Path) -> None:
    dns = tmp_path / "dns.log"
    records = _zeek_tsv(dns, 20)
    home = tmp_path / "home"
    clean = _cli(home, "ingest", "--json", str(dns))
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["events_added"] == 20

    bad = tmp_path / "dns-bad.log"
    bad.write_bytes(dns.read_bytes().replace(records[5], b"1521911720.86\tonly-two-columns"))
    mixed = _cli(tmp_path / "home2", "ingest", "--json", str(bad))
    assert mixed.exit_code == 1
    assert (json.loads(mixed.stdout)["events_added"], json.loads(mixed.stdout)["quarantined"]) == (
        19,
        1,
    )
    assert _quarantine(tmp_path / "home2") == [
        (str(bad), "zeek", "2 columns where #fields names 24", 30, 30)
    ]
