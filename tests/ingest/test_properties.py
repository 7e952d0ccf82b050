"""Properties every parser keeps whatever bytes it is given.

For each parser in the registry, hypothesis builds files of random bytes, random text
lines and real sample lines mutated (bytes flipped, lines cut, duplicated, shuffled,
NULs and invalid UTF-8 inserted, huge numbers, deep JSON), plain and gzip'd, and the
parser must: let no exception escape; count every record it read as an event or a
rejection; give batches of exactly the event schema; give every rejection a reason
and a bounded raw; and give the same ids when run twice. Unmutated real lines must all
become events.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crownwatch.config import IngestSettings
from crownwatch.ingest import PARSERS, detect
from crownwatch.ingest.source import Source, read_lines
from crownwatch.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared" / "data"
DATA = ROOT / "tests" / "data"
EVTX_FILE = SHARED / "evtx" / "DeepBlueCLI" / "new-user-security.evtx"
#: Many records of several kinds (4624, 4688, 5140, 5145…), for Windows JSON lines.
EVTX_MANY = (
    SHARED
    / "evtx"
    / "EVTX-to-MITRE-Attack"
    / "EVTX_full_APT_attack_steps"
    / "ID5145-4624-DonPAPI full extraction.evtx"
)

#: Small limits so that batches are cut often and long lines are easy to make.
LIMITS = IngestSettings(batch_size=7, max_record_bytes=8192, max_quarantine_bytes=300)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@dataclass(frozen=True)
class Sample:
    """Real lines of one format: header lines (not records) and record lines."""

    parser: str
    name: str
    head: list[bytes]
    records: list[bytes]


@dataclass
class Outcome:
    """What one parse of a file gave."""

    ids: list[str]
    events: int
    read: int
    rejected: list[tuple[int, int, str]]


def _gz_lines(path: Path, start: int, count: int) -> list[bytes]:
    with gzip.open(path, "rb") as fh:
        lines = [line.rstrip(b"\n") for _, line in zip(range(start + count), fh, strict=False)]
    return lines[start:]


def _text_lines(path: Path, count: int) -> list[bytes]:
    with path.open("rb") as fh:
        return [line.rstrip(b"\r\n") for _, line in zip(range(count), fh, strict=False)]


def _zeek_tsv() -> Sample:
    lines = _gz_lines(SHARED / "logs" / "zeek-wrccdc-2018" / "tsv" / "dns.log.gz", 0, 28)
    head = [line for line in lines if line.startswith(b"#")]
    return Sample("zeek", "dns.log", head, [line for line in lines if not line.startswith(b"#")])


def _zeek_conn() -> Sample:
    lines = [line for line in _text_lines(DATA / "zeek" / "conn.log", 100) if line.strip()]
    head = [line for line in lines if line.startswith(b"#") and not line.startswith(b"#close")]
    return Sample("zeek", "conn.log", head, [line for line in lines if not line.startswith(b"#")])


def _zeek_json_lines() -> list[bytes]:
    folder = SHARED / "logs" / "zeek-wrccdc-2018" / "json"
    logs = ("dns", "ssl", "rdp", "notice", "kerberos", "ntlm", "smb_files", "x509")
    return [line for log in logs for line in _gz_lines(folder / f"{log}.json.gz", 0, 3)]


def _eve_lines() -> list[bytes]:
    return [line for line in _text_lines(DATA / "eve" / "eve.json", 100) if line.strip()]


def _syslog_lines() -> list[bytes]:
    loghub = SHARED / "logs" / "loghub"
    return _text_lines(loghub / "OpenSSH_2k.log", 20) + _text_lines(loghub / "Linux_2k.log", 8)


def _csv_from_zeek() -> Sample:
    """Real Zeek DNS values written as CSV (quoted where they hold commas)."""
    tsv = _zeek_tsv()
    names = tsv.head[6].split(b"\t")[1:]
    keep = [names.index(n) for n in (b"ts", b"uid", b"id.orig_h", b"query", b"answers")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([names[i].decode() for i in keep])
    for line in tsv.records:
        cells = line.decode().split("\t")
        writer.writerow([cells[i] for i in keep])
    lines = [line.encode() for line in out.getvalue().splitlines()]
    return Sample("csvlog", "dns.csv", lines[:1], lines[1:])


def _fixture_lines(path: Path, marker: bytes) -> list[bytes]:
    """Lines of another parser's test fixture (it may hold deliberately bad ones)."""
    if not path.is_file():
        return []
    return [line for line in _text_lines(path, 200) if marker in line]


def _winjson_lines() -> list[bytes]:
    """Real EVTX records in the evtx_dump JSON shape, one object a line."""
    import evtx

    if not EVTX_MANY.is_file():
        return []
    records = cast(list[dict[str, Any]], list(evtx.PyEvtxParser(str(EVTX_MANY)).records_json()))
    return [orjson.dumps(orjson.loads(r["data"])) for r in records[::25]]


SAMPLES: dict[str, Callable[[], Sample]] = {
    "zeek-tsv": _zeek_tsv,
    "zeek-conn": _zeek_conn,
    "zeek-json": lambda: Sample("zeek", "zeek.json", [], _zeek_json_lines()),
    "eve": lambda: Sample("eve", "eve.json", [], _eve_lines()),
    "syslog": lambda: Sample("syslog", "auth.log", [], _syslog_lines()),
    "jsonl": lambda: Sample("jsonl", "app.jsonl", [], _zeek_json_lines() + _eve_lines()),
    "csvlog": _csv_from_zeek,
    "cef": lambda: Sample("cef", "cef.log", [], _fixture_lines(DATA / "text" / "cef.log", b"CEF:")),
    "winjson": lambda: Sample("winjson", "security.json", [], _winjson_lines()),
    "winjson-fixtures": lambda: Sample(
        "winjson",
        "windows.jsonl",
        [],
        [
            line
            for name in ("winlogbeat.jsonl", "flat.jsonl")
            for line in _fixture_lines(DATA / "windows" / name, b"{")
        ],
    ),
}
#: Formats whose samples come from another parser's fixtures: only lines it accepts one
#: by one count as valid.
FILTERED = frozenset(("cef", "winjson-fixtures"))


def _ready(name: str, tmp_path: Path) -> ModuleType:
    """The parser, or skip while it is still a placeholder."""
    parser = PARSERS[name]
    probe = tmp_path / "probe.log"
    probe.write_bytes(b"\n")
    try:
        list(parser.parse(Source(probe, LIMITS)))
    except NotImplementedError:
        pytest.skip(f"the {name} parser is still a placeholder")
    return parser


def _sample(key: str, tmp_path: Path) -> tuple[ModuleType, Sample]:
    if not SHARED.is_dir() and key in ("zeek-tsv", "zeek-json", "syslog", "jsonl", "csvlog"):
        pytest.skip(f"real data not found at {SHARED}")
    sample = SAMPLES[key]()
    parser = _ready(sample.parser, tmp_path)
    if key in FILTERED:
        sample = _accepted(parser, sample, tmp_path)
    if not sample.records:
        pytest.skip(f"no fixtures of {key} lines yet")
    return parser, sample


def _accepted(parser: ModuleType, sample: Sample, tmp_path: Path) -> Sample:
    good = []
    for line in sample.records:
        path = _write(tmp_path / sample.name, b"\n".join([*sample.head, line]) + b"\n", "plain")
        if _parse(parser, path).events == 1:
            good.append(line)
    return Sample(sample.parser, sample.name, sample.head, good)


def _write(path: Path, data: bytes, packing: str) -> Path:
    if packing == "plain":
        path.write_bytes(data)
        return path
    packed = gzip.compress(data, mtime=0)
    if packing == "gzip-cut":
        packed = packed[: max(2, len(packed) * 2 // 3)]
    path = path.with_name(path.name + ".gz")
    path.write_bytes(packed)
    return path


def _parse(parser: ModuleType, path: Path) -> Outcome:
    """Parse a file and check the invariants of every batch."""
    ids: list[str] = []
    rejected: list[tuple[int, int, str]] = []
    events = read = 0
    for batch in parser.parse(Source(path, LIMITS)):
        assert batch.events.schema.equals(SCHEMA)
        assert batch.read >= 0
        events += batch.events.num_rows
        read += batch.read
        ids.extend(batch.events.column("event.id").to_pylist())
        for r in batch.rejected:
            assert r.reason.strip(), f"empty reason for {r.raw[:80]!r}"
            assert len(r.raw) <= LIMITS.max_quarantine_bytes
            assert r.raw_size >= len(r.raw)
            rejected.append((r.position, r.offset, r.reason))
    assert events + len(rejected) == read, f"{events} events + {len(rejected)} rejected"
    assert all(ids) and len(set(ids)) == len(ids), "event ids are missing or repeated"
    return Outcome(ids, events, read, rejected)


def _check(parser: ModuleType, path: Path) -> Outcome:
    """Parse twice: both runs keep the invariants and agree."""
    first = _parse(parser, path)
    second = _parse(parser, path)
    assert second.ids == first.ids
    assert second.rejected == first.rejected
    return first


PACKING = st.sampled_from(["plain", "gzip", "gzip-cut"])
BAD_UTF8 = [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xc0\xaf"]
HUGE = [
    b"9" * 40,
    b"-" + b"9" * 30,
    b"18446744073709551616",
    b"1e999",
    b"-1e308",
    b"1.7976931348623157e308",
    b"NaN",
    b"Infinity",
    b"99999999999.999",
]


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def _mutated(draw: Any, sample: Sample) -> bytes:
    """Sample lines picked with repeats, in any order, then mutated a few times."""
    lines = [
        *sample.head,
        *draw(st.lists(st.sampled_from(sample.records), min_size=1, max_size=12)),
    ]
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(sorted(_OPS)))
        i = draw(st.integers(0, len(lines) - 1))
        pos = draw(st.integers(0, max(len(lines[i]), 1)))
        _OPS[op](lines, i, pos, draw)
    joined = b"\n".join(lines)
    return joined + b"\n" if draw(st.booleans()) else joined


def _flip(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    line = bytearray(lines[i] or b"x")
    line[min(pos, len(line) - 1)] ^= draw(st.integers(1, 255))
    lines[i] = bytes(line)


def _insert(value: bytes) -> Callable[[list[bytes], int, int, Any], None]:
    def op(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
        lines[i] = lines[i][:pos] + value + lines[i][pos:]

    return op


def _huge(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    runs = list(re.finditer(rb"\d+(?:\.\d+)?", lines[i]))
    if runs:
        m = runs[pos % len(runs)]
        lines[i] = lines[i][: m.start()] + draw(st.sampled_from(HUGE)) + lines[i][m.end() :]


def _nest(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    deep = _deep(draw(st.sampled_from([20, 33, 100, 600, 1100])))
    line = lines[i]
    if line.startswith(b"{"):
        lines[i] = b'{"deep":' + deep + b"," + line[1:]
    else:
        lines[i] = deep


_JSON_VALUE = re.compile(rb'":\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)')
OTHER_VALUES = [
    b"null",
    b"[]",
    b"{}",
    b'""',
    b'"x"',
    b"true",
    b"-1",
    b"1e400",
    b"[[1,2],{}]",
    b'"\\u0000"',
]
PUNCTUATION = [b"|", b"=", b"\\", b'"', b"[", b"]", b":", b"%", b"{", b"}", b",", b" "]


def _retype(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    """A JSON value replaced by one of another type."""
    values = list(_JSON_VALUE.finditer(lines[i]))
    if values:
        m = values[pos % len(values)]
        value = draw(st.sampled_from(OTHER_VALUES))
        lines[i] = lines[i][: m.start(1)] + value + lines[i][m.end(1) :]


def _punctuation(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    _insert(draw(st.sampled_from(PUNCTUATION)))(lines, i, pos, draw)


def _bad_utf8(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    _insert(draw(st.sampled_from(BAD_UTF8)))(lines, i, pos, draw)


def _random(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    _insert(draw(st.binary(min_size=1, max_size=40)))(lines, i, pos, draw)


def _truncate(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    lines[i] = lines[i][:pos]


def _duplicate(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    lines.insert(i, lines[i])


def _shuffle(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    lines[:] = draw(st.permutations(lines))


def _drop(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    if len(lines) > 1:
        del lines[i]


def _overlong(lines: list[bytes], i: int, pos: int, draw: Any) -> None:
    lines[i] = lines[i] * (LIMITS.max_record_bytes // (len(lines[i]) + 1) + 2)


_OPS: dict[str, Callable[[list[bytes], int, int, Any], None]] = {
    "flip": _flip,
    "truncate": _truncate,
    "duplicate": _duplicate,
    "shuffle": _shuffle,
    "drop": _drop,
    "nul": _insert(b"\0"),
    "newline": _insert(b"\n"),
    "carriage-return": _insert(b"\r"),
    "tab": _insert(b"\t"),
    "bad-utf8": _bad_utf8,
    "random": _random,
    "huge-number": _huge,
    "deep-json": _nest,
    "retype": _retype,
    "punctuation": _punctuation,
    "overlong": _overlong,
}

LINE_FORMATS = list(SAMPLES)
LINE_PARSERS = frozenset(("zeek", "eve", "cef", "syslog", "jsonl", "csvlog"))
PARSER_NAMES = list(PARSERS)


@pytest.mark.parametrize("name", PARSER_NAMES)
def test_random_bytes_never_escape(name: str, tmp_path: Path) -> None:
    parser = _ready(name, tmp_path)

    @SETTINGS
    @given(data=st.binary(max_size=4096), packing=PACKING)
    def check(data: bytes, packing: str) -> None:
        _check(parser, _write(tmp_path / "random.log", data, packing))

    check()


TEXT = st.text(st.characters(codec="utf-8"), max_size=120)


@pytest.mark.parametrize("name", PARSER_NAMES)
def test_random_text_lines_never_escape(name: str, tmp_path: Path) -> None:
    parser = _ready(name, tmp_path)

    @SETTINGS
    @given(lines=st.lists(TEXT, max_size=30), packing=PACKING)
    def check(lines: list[str], packing: str) -> None:
        data = "\n".join(lines).encode("utf-8")
        outcome = _check(parser, _write(tmp_path / "text.log", data, packing))
        if name in LINE_PARSERS and packing != "gzip-cut":  # a record is a non-blank line
            assert outcome.read <= sum(1 for line in data.split(b"\n") if line.strip())

    check()


@pytest.mark.parametrize("key", LINE_FORMATS)
def test_valid_lines_all_become_events(key: str, tmp_path: Path) -> None:
    parser, sample = _sample(key, tmp_path)

    @SETTINGS
    @given(
        records=st.lists(st.sampled_from(sample.records), min_size=1, max_size=20),
        packing=st.sampled_from(["plain", "gzip"]),
        crlf=st.booleans(),
    )
    def check(records: list[bytes], packing: str, crlf: bool) -> None:
        end = b"\r\n" if crlf else b"\n"
        data = end.join([*sample.head, *records]) + end
        outcome = _check(parser, _write(tmp_path / sample.name, data, packing))
        assert outcome.rejected == []
        assert outcome.events == outcome.read == len(records)

    check()


def test_zeek_sample_events_carry_the_real_values(tmp_path: Path) -> None:
    """The samples are what they claim: real records, parsed with their own values."""
    parser, sample = _sample("zeek-tsv", tmp_path)
    path = _write(tmp_path / "dns.log", b"\n".join([*sample.head, *sample.records]), "plain")
    rows = [r for b in parser.parse(Source(path, LIMITS)) for r in b.events.to_pylist()]
    assert len(rows) == len(sample.records) == 20
    assert rows[0]["dns.question.name"] == "ise.wrccdc.org"
    assert rows[0]["source.ip"] == "10.47.1.100" and rows[0]["destination.port"] == 53


@pytest.mark.parametrize("key", LINE_FORMATS)
def test_mutated_lines_never_escape(key: str, tmp_path: Path) -> None:
    parser, sample = _sample(key, tmp_path)

    @SETTINGS
    @given(data=_mutated(sample), packing=PACKING)
    def check(data: bytes, packing: str) -> None:
        _check(parser, _write(tmp_path / sample.name, data, packing))

    check()


@pytest.mark.parametrize("key", LINE_FORMATS)
def test_one_bad_line_spares_the_others(key: str, tmp_path: Path) -> None:
    """A record made bad in the middle of good ones costs at most that record's events."""
    parser, sample = _sample(key, tmp_path)

    @SETTINGS
    @given(
        records=st.lists(st.sampled_from(sample.records), min_size=2, max_size=10),
        where=st.integers(0, 9),
        bad=st.sampled_from([b"\0\0\0", b"\xff\xfe garbage", _deep(1100), b"x" * 9000]),
    )
    def check(records: list[bytes], where: int, bad: bytes) -> None:
        lines = [*sample.head, *records]
        lines.insert(len(sample.head) + where % (len(records) + 1), bad)
        outcome = _check(parser, _write(tmp_path / sample.name, b"\n".join(lines), "plain"))
        assert outcome.events == len(records)
        assert len(outcome.rejected) == 1

    check()


def _evtx_records(path: Path) -> int:
    import evtx

    return sum(1 for _ in evtx.PyEvtxParser(str(path)).records_json())


@pytest.fixture()
def evtx_bytes(tmp_path: Path) -> bytes:
    _ready("evtx", tmp_path)
    if not EVTX_FILE.is_file():
        pytest.skip(f"real EVTX file not found at {EVTX_FILE}")
    return EVTX_FILE.read_bytes()


def test_evtx_real_file_all_records(evtx_bytes: bytes, tmp_path: Path) -> None:
    path = _write(tmp_path / "security.evtx", evtx_bytes, "plain")
    assert detect(Source(path, LIMITS)) is PARSERS["evtx"]
    outcome = _check(PARSERS["evtx"], path)
    assert outcome.rejected == []
    assert outcome.events == _evtx_records(path) > 0


@st.composite
def _evtx_mutated(draw: Any, data: bytes) -> bytes:
    """A real EVTX file with bytes flipped, ranges overwritten or zeroed, or cut."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "overwrite", "zero", "truncate", "chunk"]))
        pos = draw(st.integers(0, len(out) - 1))
        if op == "flip":
            out[pos] ^= draw(st.integers(1, 255))
        elif op == "overwrite":
            noise = draw(st.binary(min_size=1, max_size=512))
            out[pos : pos + len(noise)] = noise
        elif op == "zero":
            size = draw(st.integers(1, 4096))
            out[pos : pos + size] = bytes(len(out[pos : pos + size]))
        elif op == "truncate":
            del out[max(pos, 1) :]
        else:  # the chunk header: its magic, counters and checksums
            start = 4096 + 65536 * draw(st.integers(0, max(0, (len(out) - 4096) // 65536 - 1)))
            noise = draw(st.binary(min_size=8, max_size=128))
            out[start : start + len(noise)] = noise
        if not out:
            out = bytearray(b"E")
    return bytes(out)


def test_evtx_mutated_never_escapes(evtx_bytes: bytes, tmp_path: Path) -> None:
    parser = PARSERS["evtx"]

    @SETTINGS
    @given(data=_evtx_mutated(evtx_bytes))
    def check(data: bytes) -> None:
        _check(parser, _write(tmp_path / "security.evtx", data, "plain"))

    check()


def _events_and_rejected(parser: ModuleType, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    _check(parser, path)
    batches = list(parser.parse(Source(path, LIMITS)))
    rows = [row for b in batches for row in b.events.to_pylist()]
    return rows, [r.reason for b in batches for r in b.rejected]


def test_eve_record_too_deep_for_json_is_quarantined_not_fatal(tmp_path: Path) -> None:
    """Found here: EVE keeps objects past its depth whole, and a 300-deep one made the
    builder's JSON encoding raise at flush, losing every record of the batch."""
    parser, sample = _sample("eve", tmp_path)
    good = sample.records[:3]
    deep = b'{"deep":' + _deep(300) + b"," + good[0][1:]
    path = _write(tmp_path / "eve.json", b"\n".join([good[0], deep, good[1], good[2]]), "plain")
    rows, reasons = _events_and_rejected(parser, path)
    assert [r["source.ip"] for r in rows] == ["10.20.1.15", "10.20.1.22", "10.20.3.41"]
    assert len(reasons) == 1 and "fields not storable as JSON" in reasons[0]


def test_zeek_json_file_with_a_garbage_first_line(tmp_path: Path) -> None:
    """Found here: a bad first line (NULs a crash left) made the whole file read as TSV."""
    parser, sample = _sample("zeek-json", tmp_path)
    data = b"\0\0\0\n" + b"\n".join(sample.records[:2]) + b"\n"
    rows, reasons = _events_and_rejected(parser, _write(tmp_path / "dns.json", data, "plain"))
    assert [r["dns.question.name"] for r in rows] == ["ise.wrccdc.org", "ise.wrccdc.org"]
    assert reasons == ["data line before any #fields header"]


@pytest.mark.parametrize("duration", [b"1e308", b"-1.7976931348623157e308", b"inf"])
def test_zeek_conn_absurd_duration_keeps_the_record(duration: bytes, tmp_path: Path) -> None:
    """Found here: ``int(duration * 1e9)`` raised OverflowError out of the parser."""
    parser, sample = _sample("zeek-conn", tmp_path)
    first = sample.records[0].split(b"\t")
    first[8] = duration
    lines = [*sample.head, b"\t".join(first), *sample.records[1:]]
    rows, reasons = _events_and_rejected(
        parser, _write(tmp_path / "conn.log", b"\n".join(lines), "plain")
    )
    assert reasons == []
    assert [r["event.duration"] for r in rows] == [None, 1_000_000]
    assert rows[0]["source.bytes"] == 1048576 and rows[0]["destination.ip"] == "45.77.12.34"


@pytest.mark.parametrize("name", PARSER_NAMES)
def test_sniffers_answer_any_head_with_a_bool(name: str) -> None:
    sniff = PARSERS[name].sniff

    @SETTINGS
    @given(head=st.binary(max_size=8192), path=st.sampled_from(["x.log", "dns.json", "a.evtx"]))
    def check(head: bytes, path: str) -> None:
        assert sniff(head, path) in (True, False)

    check()


DETECTED = {
    "zeek-tsv": "zeek",
    "zeek-conn": "zeek",
    "zeek-json": "zeek",
    "eve": "eve",
    "syslog": "syslog",
    "cef": "cef",
    "winjson": "winjson",
    "winjson-fixtures": "winjson",
}


@pytest.mark.parametrize("key", sorted(DETECTED))
def test_real_lines_are_detected_as_their_own_format(key: str, tmp_path: Path) -> None:
    _, sample = _sample(key, tmp_path)
    path = _write(tmp_path / "noname", b"\n".join([*sample.head, *sample.records]), "gzip")
    assert detect(Source(path, LIMITS)) is PARSERS[DETECTED[key]]


class _Trickle(io.BytesIO):
    """A stream that hands out at most ``step`` bytes a read, as pipes and gzip may."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read1(self, size: int | None = -1) -> bytes:
        return super().read1(self.step if size is None or size < 0 else min(size, self.step))

    def read(self, size: int | None = -1) -> bytes:
        return self.read1(size)


def _plain_lines(data: bytes, max_bytes: int) -> list[tuple[int, int, bytes, int]]:
    """What read_lines must give, by a plain split: (number, offset, raw, overlong)."""
    out = []
    offset = 0
    parts = data.split(b"\n")
    for number, part in enumerate(parts, 1):
        ended = number < len(parts)
        if len(part) > max_bytes:
            out.append((number, offset, part[:max_bytes], len(part) + ended))
        elif part.strip():
            out.append((number, offset, part.rstrip(b"\r"), 0))
        offset += len(part) + 1
    return out


PIECES = st.one_of(st.binary(max_size=30), st.sampled_from([b"\n", b"\r\n", b" ", b"\n\n"]))


@SETTINGS
@given(
    pieces=st.lists(PIECES, max_size=40),
    max_bytes=st.integers(1, 40),
    step=st.integers(1, 70),
)
def test_read_lines_matches_a_plain_split(pieces: list[bytes], max_bytes: int, step: int) -> None:
    """Line numbers, offsets, cut heads and sizes, however the stream hands its bytes over."""
    data = b"".join(pieces)
    lines = list(read_lines(_Trickle(data, step), max_bytes))
    assert [(ln.number, ln.offset, ln.raw, ln.overlong) for ln in lines] == _plain_lines(
        data, max_bytes
    )
