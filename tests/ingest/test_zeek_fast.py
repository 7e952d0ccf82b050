"""The columnar Zeek fast path gives exactly what the line path gives."""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from crownwatch.config import IngestSettings
from crownwatch.ingest import columnar, source, zeek
from crownwatch.ingest.batch import Builder, Row, quarantine_table
from crownwatch.ingest.source import Line, Source, read_lines
from crownwatch.schema import SCHEMA, event_id

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "zeek"
LOGS = [
    "dce_rpc",
    "dns",
    "ftp",
    "kerberos",
    "known_hosts",
    "notice",
    "ntlm",
    "pe",
    "rdp",
    "smb_files",
    "smb_mapping",
    "smtp",
    "software",
    "ssh",
    "ssl",
    "syslog",
    "weird",
    "x509",
]


def _parse(src: Source, fast: bool) -> tuple[pa.Table, pa.Table, int]:
    batches = list(zeek.parse(src, fast=fast))
    events = pa.Table.from_batches([b.events for b in batches], schema=SCHEMA)
    rejected = quarantine_table([r for b in batches for r in b.rejected])
    return events, rejected, sum(b.read for b in batches)


def _same_both_ways(src: Source) -> tuple[pa.Table, pa.Table]:
    """Parse ``src`` both ways; assert identical events, quarantine and counts."""
    slow, slow_bad, slow_read = _parse(src, fast=False)
    fast, fast_bad, fast_read = _parse(src, fast=True)
    for name in SCHEMA.names:
        a, b = slow.column(name).to_pylist(), fast.column(name).to_pylist()
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), None)
        assert first is None, f"{name} row {first}: line path {a[first]!r}, fast {b[first]!r}"
    assert fast.equals(slow)
    assert fast_bad.to_pylist() == slow_bad.to_pylist()
    assert fast_read == slow_read
    return fast, fast_bad


@pytest.mark.parametrize("kind", ["tsv", "json"])
@pytest.mark.parametrize("log", LOGS)
def test_real_logs_identical_both_ways(shared_data: Path, kind: str, log: str) -> None:
    ext = "log" if kind == "tsv" else "json"
    events, rejected = _same_both_ways(
        Source(shared_data / "logs" / "zeek-wrccdc-2018" / kind / f"{log}.{ext}.gz")
    )
    assert rejected.num_rows == 0
    assert set(events.column("event.dataset").to_pylist()) == {f"zeek.{log}"}


@pytest.fixture
def one_by_one(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The lines the fast path hands to the line path, one by one."""
    seen: list[bytes] = []
    line_path = zeek._one_line

    def spy(builder: Builder, parse_line: Callable[[bytes], Row | None], line: Line) -> None:
        seen.append(line.raw)
        line_path(builder, parse_line, line)

    monkeypatch.setattr(zeek, "_one_line", spy)
    return seen


def test_fast_path_really_used_on_dns(shared_data: Path, one_by_one: list[bytes]) -> None:
    """Only the header lines of dns.log go one by one; its data lines go as blocks."""
    path = shared_data / "logs" / "zeek-wrccdc-2018" / "tsv" / "dns.log.gz"
    events, _, _ = _parse(Source(path), fast=True)
    assert one_by_one and all(raw.startswith(b"#") for raw in one_by_one)
    first = events.slice(0, 1).to_pylist()[0]
    assert (first["source.ip"], first["source.port"]) == ("10.47.1.100", 41772)
    assert first["dns.question.name"] == "ise.wrccdc.org"
    assert orjson.loads(first["fields"])["TTLs"] == [2230.0, 41830.0]


def test_conn_fixture_identical_both_ways() -> None:
    events, _ = _same_both_ways(Source(FIXTURES / "conn.log"))
    rows = events.to_pylist()
    assert [r["network.direction"] for r in rows] == ["outbound", "internal"]
    assert [r["event.duration"] for r in rows] == [61_500_000_000, 1_000_000]
    assert [r["network.bytes"] for r in rows] == [1_050_624, 160]
    assert orjson.loads(rows[0]["fields"])["tunnel_parents"] == []
    assert "tunnel_parents" not in orjson.loads(rows[1]["fields"])


def _conn_lines() -> tuple[list[bytes], list[bytes]]:
    lines = (FIXTURES / "conn.log").read_bytes().splitlines()
    header = [line for line in lines if line.startswith(b"#") and not line.startswith(b"#close")]
    data = [line for line in lines if not line.startswith(b"#")]
    return header, data


@pytest.mark.parametrize(
    "bad",
    [
        b"1759651300.0\tCbad\t10.1.2.3\t1\t10.0.0.1",  # too few columns
        b"1759651300.0\tCbad\t10.1.2.3\t0x10\t10.0.0.1\t53\tudp\tdns\t0.1\t1\t2\tSF\tT\tF\t0\tD\t1\t1\t1\t1\t-",
        b"1759651300.0\tCbad\t10.1.2.3\t(empty)\t10.0.0.1\t53\tudp\tdns\t0.1\t1\t2\tSF\tT\tF\t0\tD\t1\t1\t1\t1\t-",
        b"1759651300.0\tCbad\t10.1.2.3\t5\t10.0.0.1\t53\tudp\tdns\t1e-7\t1\t2\tSF\tX\tF\t0\tD\t1\t1\t1\t1\t-",
        b"1759651300.0\tC\\x41\t10.1.2.3\t5\t10.0.0.1\t53\tudp\tdns\t0.1\t1\t2\tSF\tT\tF\t0\tD\t1\t1\t1\t1\ta,b",
        b"nan\tCbad\t10.1.2.3\t5\t10.0.0.1\t53\tudp\tdns\t0.1\t1\t2\tSF\tT\tF\t0\tD\t1\t1\t1\t1\t-",
        b"#fields\tts\tuid\tmsg",  # a header in the middle changes the columns
    ],
)
def test_bad_line_in_a_tsv_block_matches_line_path(tmp_path: Path, bad: bytes) -> None:
    header, data = _conn_lines()
    path = tmp_path / "conn.log"
    path.write_bytes(b"\n".join(header + data * 3 + [bad] + data * 3) + b"\n")
    src = Source(path, limits=IngestSettings(batch_size=4))
    events, _ = _same_both_ways(src)
    assert events.num_rows >= 6
    assert events.column("event.id").to_pylist()[0] == event_id(
        "zeek.conn", len(header) + 1, data[0]
    )


def test_tsv_quarantine_reason_kept(tmp_path: Path) -> None:
    header, data = _conn_lines()
    path = tmp_path / "conn.log.gz"
    path.write_bytes(gzip.compress(b"\n".join([*header, data[0], b"1\t2\t3", data[1]]) + b"\n"))
    events, rejected = _same_both_ways(Source(path))
    assert events.column("event.action").to_pylist() == ["SF", "SF"]
    assert rejected.column("reason").to_pylist() == ["3 columns where #fields names 21"]
    assert rejected.column("position").to_pylist() == [len(header) + 2]


def _dns_json(shared_data: Path) -> list[bytes]:
    path = shared_data / "logs" / "zeek-wrccdc-2018" / "json" / "dns.json.gz"
    with gzip.open(path, "rb") as fh:
        return [fh.readline().rstrip(b"\n") for _ in range(12)]


@pytest.mark.parametrize(
    "bad",
    [
        b'{"_path":"dns","ts":"2018-03-24T17:15:20.9Z","query":"x"',  # cut short
        b'{"_path":"dns","ts":"2018-03-24T17:15:21.000001Z","id.orig_p":"80"}',  # port as text
        b'{"_path":"dns","ts":1521911721.5,"query":"epoch.example"}',  # epoch ts
        b'{"_path":"dns","ts":"2018-03-24T17:15:21.000001Z","rtt":NaN}',
        b'{"_path":"http","ts":"2018-03-24T17:15:21.000001Z","host":"h","uri":"/"}',
        b'{"_path":"dns","ts":"2018-03-24 17:15:21","query":"short.iso"}',
        b"[1,2,3]",
        b'{"_path":"dns","ts":"2018-03-24T17:15:21.000001Z","query":"\\udc00"}',
    ],
)
def test_bad_line_in_a_json_block_matches_line_path(
    shared_data: Path, tmp_path: Path, bad: bytes
) -> None:
    lines = _dns_json(shared_data)
    path = tmp_path / "dns.json"
    path.write_bytes(b"\n".join([*lines[:6], bad, *lines[6:]]) + b"\n")
    events, _ = _same_both_ways(Source(path, limits=IngestSettings(batch_size=5)))
    names = events.column("dns.question.name").to_pylist()
    assert names[0] == "ise.wrccdc.org"
    assert events.column("log.offset").to_pylist()[0] == 0


def test_json_block_with_epoch_ts_and_other_log(tmp_path: Path) -> None:
    lines = [
        b'{"ts":1521911720.865716,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":51000,'
        b'"id.resp_h":"10.0.0.9","id.resp_p":88,"success":true,"client":"bob/CORP.LOCAL",'
        b'"request_type":"AS"}',
        b'{"ts":1521911721.5,"uid":"C2","success":false,"client":"alice"}',
    ]
    path = tmp_path / "kerberos.json"
    path.write_bytes(b"\n".join(lines))
    events, _ = _same_both_ways(Source(path))
    rows = events.to_pylist()
    assert [r["user.name"] for r in rows] == ["bob", "alice"]
    assert [r["user.domain"] for r in rows] == ["CORP.LOCAL", None]
    assert [r["event.outcome"] for r in rows] == ["success", "failure"]
    assert rows[0]["@timestamp"].isoformat() == "2018-03-24T17:15:20.865716+00:00"


def test_floats_json_is_orjson() -> None:
    values = [0.0, -0.0, 1.0, 61.5, 0.001, 1e-5, 1e15, 1e16, 1e22, 123456789012.5, float("nan")]
    got = columnar.floats_json(pa.array(values, pa.float64())).to_pylist()
    assert got == [orjson.dumps(v).decode() for v in values]


def test_strings_refuses_bad_utf8() -> None:
    assert columnar.strings([b"ok", b"\xff"]) is None
    array = columnar.strings([b"ab", b"", "é".encode()])
    assert array is not None and array.to_pylist() == ["ab", "", "é"]


@pytest.mark.parametrize("seed", range(6))
def test_read_runs_gives_the_lines_a_plain_split_gives(seed: int) -> None:
    """Blank, CR-ended, over-limit and chunk-spanning lines, with or without a last newline."""
    rng = random.Random(seed)
    kinds = [b"a\tb\tc", b"", b"  \t", b"x\r", b"y" * 80, b"z" * 70_000, b"\r", b"#fields\tts"]
    lines = [rng.choice(kinds) + str(i).encode() * rng.randint(0, 3) for i in range(3000)]
    content = b"\n".join(lines) + (b"\n" if seed % 2 else b"")
    expected: list[Line] = []
    offset = 0
    for number, raw in enumerate(content.split(b"\n"), 1):
        if len(raw) > 64:
            expected.append(Line(number, offset, raw[:64], overlong=len(raw) + 1))
        elif raw.strip():
            expected.append(Line(number, offset, raw.rstrip(b"\r")))
        offset += len(raw) + 1
    if not content.endswith(b"\n") and expected and expected[-1].overlong:
        last = expected[-1]  # the last line has no newline to count
        expected[-1] = Line(last.number, last.offset, last.raw, overlong=last.overlong - 1)
    assert list(read_lines(io.BytesIO(content), 64)) == expected
    got: list[Line] = []
    for run in source.read_runs(io.BytesIO(content), 64):
        got.extend(run.lines() if isinstance(run, source.Lines) else [run])
    assert got == expected
    assert any(isinstance(r, source.Lines) for r in source.read_runs(io.BytesIO(content), 64))


def test_odd_but_valid_tsv_values_identical(tmp_path: Path, one_by_one: list[bytes]) -> None:
    """Quotes, non-ASCII, (empty), unset, numeric vectors and big floats: same JSON text."""
    header = [
        b"#separator \\x09",
        b"#set_separator\t,",
        b"#empty_field\t(empty)",
        b"#unset_field\t-",
        b"#path\thttp",
        b"#fields\tts\tid.orig_h\tid.orig_p\thost\turi\tstatus_code\ttags\tsizes\trtts\tnote",
        b"#types\ttime\taddr\tport\tstring\tstring\tcount\tset[string]\tvector[count]"
        b"\tvector[interval]\tstring",
    ]
    data = [
        b'1521911720.5\t10.0.0.1\t80\tex"ample.org\t/caf\xc3\xa9\t200\ta,"b",\t1,22\t0.5,0.000001\t(empty)',
        b"1521911721.000001\t-\t-\t-\t/x\t-\t(empty)\t(empty)\t-\t-",
        b"1521911722.25\t10.0.0.2\t443\th\t(empty)\t404\t-\t7\t123456789012345678.0\tn",
    ]
    path = tmp_path / "http.log"
    path.write_bytes(b"\n".join(header + data) + b"\n")
    events, rejected = _same_both_ways(Source(path))
    assert one_by_one == header  # the data lines went as one block
    assert rejected.num_rows == 0
    rows = events.to_pylist()
    assert [r["url.full"] for r in rows] == ['http://ex"ample.org/café', None, "http://h"]
    assert orjson.loads(rows[0]["fields"])["tags"] == ["a", '"b"', ""]
    assert orjson.loads(rows[0]["fields"])["rtts"] == [0.5, 1e-6]
    assert orjson.loads(rows[2]["fields"])["rtts"] == [123456789012345678.0]
    assert orjson.loads(rows[1]["fields"]) == {
        "ts": 1521911721.000001,
        "uri": "/x",
        "tags": [],
        "sizes": [],
    }


def test_json_extras_identical(tmp_path: Path, one_by_one: list[bytes]) -> None:
    lines = [
        b'{"_path":"smb_files","ts":1521911720.5,"path":"\\\\\\\\srv\\\\share\\\\",'
        b'"name":"a.txt","action":"SMB::FILE_OPEN","size":12}',
        b'{"_path":"smb_files","ts":1521911721.5,"name":"b.txt","id.orig_p":445}',
    ]
    path = tmp_path / "smb_files.json"
    path.write_bytes(b"\n".join(lines))
    events, _ = _same_both_ways(Source(path))
    assert one_by_one == [lines[0]]  # the first line picks JSON, the second is a block
    rows = events.to_pylist()
    assert [r["file.path"] for r in rows] == ["\\\\srv\\share\\a.txt", "b.txt"]
    assert [r["file.size"] for r in rows] == [12, None]
