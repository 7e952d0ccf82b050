"""Zeek logs, TSV (with the ``#fields`` header) and JSON, every log type.

Known logs get ECS fields from ``MAPS``; any other log keeps the connection
fields (``id.orig_h``…) and all of its columns under ``fields``.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pj

from crownwatch.errors import ParseError
from crownwatch.ingest.batch import (
    BUGS_ON_BAD_INPUT,
    MAX_TS,
    MIN_TS,
    Batch,
    Builder,
    Row,
    original_column,
    parse_lines,
)
from crownwatch.ingest.columnar import (
    Fallback,
    bools_json,
    epoch_micros,
    floats_json,
    ints_json,
    iso_micros,
    json_objects,
    list_json,
    parse_bools,
    parse_floats,
    parse_ints,
    quote,
    require,
    strings,
)
from crownwatch.ingest.source import Line, Lines, Source, read_runs
from crownwatch.ingest.times import from_epoch, from_iso
from crownwatch.schema import FIELDS, SCHEMA, event_id

NAME = "zeek"

COMMON = {
    "id.orig_h": "source.ip",
    "id.orig_p": "source.port",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
    "proto": "network.transport",
}

#: Zeek log -> (ECS category, type, {zeek column: ECS field}).
MAPS: dict[str, tuple[str, str, dict[str, str]]] = {
    "conn": (
        "network",
        "connection",
        {
            "service": "network.protocol",
            "orig_bytes": "source.bytes",
            "resp_bytes": "destination.bytes",
            "conn_state": "event.action",
        },
    ),
    "dns": (
        "network",
        "protocol",
        {
            "query": "dns.question.name",
            "qtype_name": "dns.question.type",
            "rcode_name": "dns.response_code",
        },
    ),
    "http": (
        "web",
        "access",
        {
            "host": "url.domain",
            "uri": "url.path",
            "method": "http.request.method",
            "status_code": "http.response.status_code",
            "user_agent": "user_agent.original",
            "request_body_len": "http.request.body.bytes",
            "response_body_len": "http.response.body.bytes",
        },
    ),
    "ssl": (
        "network",
        "protocol",
        {
            "server_name": "tls.server.name",
            "version": "tls.version",
            "subject": "tls.server.subject",
            "issuer": "tls.server.issuer",
            "ja3": "tls.client.ja3",
            "ja3s": "tls.server.ja3s",
        },
    ),
    "x509": (
        "network",
        "info",
        {
            "certificate.subject": "tls.server.subject",
            "certificate.issuer": "tls.server.issuer",
        },
    ),
    "files": (
        "file",
        "info",
        {
            "filename": "file.name",
            "md5": "file.hash.md5",
            "sha1": "file.hash.sha1",
            "sha256": "file.hash.sha256",
            "seen_bytes": "file.size",
            "source": "network.protocol",
        },
    ),
    "notice": (
        "intrusion_detection",
        "info",
        {
            "note": "rule.name",
            "msg": "message",
            "src": "source.ip",
            "dst": "destination.ip",
            "p": "destination.port",
        },
    ),
    "smb_files": (
        "file",
        "access",
        {"action": "event.action", "name": "file.name", "size": "file.size"},
    ),
    "smb_mapping": ("network", "access", {"path": "file.path"}),
    "rdp": ("network", "protocol", {"cookie": "user.name", "result": "event.action"}),
    "ntlm": (
        "authentication",
        "info",
        {
            "username": "user.name",
            "domainname": "user.domain",
            "hostname": "source.domain",
        },
    ),
    "kerberos": ("authentication", "info", {"request_type": "event.action"}),
    "ssh": (
        "network",
        "protocol",
        {"client": "user_agent.original", "direction": "network.direction"},
    ),
    "dce_rpc": ("network", "protocol", {"operation": "event.action"}),
    "ftp": ("network", "protocol", {"user": "user.name", "command": "event.action"}),
    "smtp": ("network", "protocol", {"subject": "message", "user_agent": "user_agent.original"}),
    "weird": ("network", "info", {"name": "event.action"}),
    "software": ("host", "info", {"host": "source.ip", "name": "event.action"}),
    "known_hosts": ("host", "info", {"host": "source.ip"}),
    "pe": ("file", "info", {}),
    "syslog": ("network", "protocol", {"message": "message"}),
}

KNOWN_LOGS = frozenset(MAPS) | {"dhcp", "tunnel", "dpd", "snmp", "sip", "radius", "modbus"}
_LOG_NAME = re.compile(r"[a-z0-9_]{1,40}")
_ESCAPE = re.compile(rb"\\(\\|x[0-9a-fA-F]{2})")


def sniff(head: bytes, path: str) -> bool:
    if head.startswith(b"#separator"):
        return True
    first = head.lstrip().split(b"\n", 1)[0]
    if not first.startswith(b"{"):
        return False
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(record, dict) or "ts" not in record:
        return False
    return bool({"_path", "uid", "id.orig_h", "fuid"} & record.keys()) or (
        _log_from_path(path) in KNOWN_LOGS
    )


#: Whether ``parse`` takes the columnar fast path for blocks of lines.
FAST = True


def parse(src: Source, fast: bool | None = None) -> Iterator[Batch]:
    """Batches of a Zeek log; ``fast=False`` (or ``FAST = False``) forces the line path."""
    if FAST if fast is None else fast:
        yield from parse_fast(src)
    else:
        yield from parse_lines(src, NAME, _line_parser(src))


def _line_parser(
    src: Source, state: dict[str, Any] | None = None, chosen: list[str] | None = None
) -> Callable[[bytes], Row | None]:
    """TSV or JSON, chosen by the first line that starts with ``#`` or ``{``: garbage
    before it (a bad first record, NULs a crash left) must not decide for the file.
    ``state`` (the TSV headers) and ``chosen`` are shared with the fast path."""
    parsers = {"tsv": _tsv_parser(src, state), "json": _json_parser(src)}
    chosen = [] if chosen is None else chosen

    def parse_line(line: bytes) -> Row | None:
        if not chosen:
            start = line.lstrip()[:1]
            if start in (b"{", b"#"):
                chosen.append("json" if start == b"{" else "tsv")
        return parsers[chosen[0] if chosen else "tsv"](line)

    return parse_line


def _log_from_path(path: str) -> str:
    return PurePath(path).name.split(".", 1)[0].lower()


def _guess_log(record: dict[str, Any]) -> str:
    for key, log in (
        ("query", "dns"),
        ("server_name", "ssl"),
        ("ja3", "ssl"),
        ("method", "http"),
        ("conn_state", "conn"),
        ("fuid", "files"),
        ("note", "notice"),
    ):
        if key in record:
            return log
    return "unknown"


def to_row(log: str, record: dict[str, Any], original: bytes | None = None) -> Row:
    """ECS fields for one Zeek record (a dict of its columns, already typed).

    ``original`` is the record's JSON text when it has one: it is kept as ``fields``
    as it is, rather than serialised again.
    """
    ts = record.get("ts")
    if ts is None:
        raise ParseError("no ts")
    row: Row = {
        "@timestamp": from_iso(ts) if isinstance(ts, str) else from_epoch(ts),
        "event.module": "zeek",
        "event.dataset": f"zeek.{log}",
        "event.kind": "alert" if log == "notice" else "event",
        "fields": original or record,
    }
    category, typ, mapping = MAPS.get(log, ("network", "info", {}))
    row["event.category"] = category
    row["event.type"] = typ
    for key, ecs in COMMON.items():
        if key in record:
            row[ecs] = record[key]
    for key, ecs in mapping.items():
        value = record.get(key)
        if value is not None:
            row[ecs] = value
    extra = _EXTRA.get(log)
    if extra:
        extra(record, row)
    return row


def _conn(record: dict[str, Any], row: Row) -> None:
    duration = record.get("duration")
    if isinstance(duration, int | float) and abs(duration) < 1e9:  # not inf, fits in int64 ns
        row["event.duration"] = int(duration * 1e9)
    total = sum(
        v for v in (record.get("orig_bytes"), record.get("resp_bytes")) if isinstance(v, int)
    )
    if total:
        row["network.bytes"] = total
    if record.get("local_orig") is True and record.get("local_resp") is False:
        row["network.direction"] = "outbound"
    elif record.get("local_orig") is False and record.get("local_resp") is True:
        row["network.direction"] = "inbound"
    elif record.get("local_orig") is True and record.get("local_resp") is True:
        row["network.direction"] = "internal"


def _http(record: dict[str, Any], row: Row) -> None:
    host, uri = record.get("host"), record.get("uri")
    if isinstance(host, str) and isinstance(uri, str):
        row["url.full"] = f"http://{host}{uri}"


def _outcome(record: dict[str, Any], row: Row, key: str = "success") -> None:
    value = record.get(key)
    if isinstance(value, bool):
        row["event.outcome"] = "success" if value else "failure"


def _kerberos(record: dict[str, Any], row: Row) -> None:
    _outcome(record, row)
    client = record.get("client")
    if isinstance(client, str) and client:
        name, _, realm = client.partition("/")
        row["user.name"] = name
        if realm:
            row["user.domain"] = realm


def _smb_files(record: dict[str, Any], row: Row) -> None:
    path, name = record.get("path"), record.get("name")
    if isinstance(path, str) and isinstance(name, str):
        row["file.path"] = f"{path.rstrip(chr(92))}\\{name}"
    elif isinstance(name, str):
        row["file.path"] = name


def _files(record: dict[str, Any], row: Row) -> None:
    for host_key, ecs in (("tx_hosts", "source.ip"), ("rx_hosts", "destination.ip")):
        hosts = record.get(host_key)
        if isinstance(hosts, list) and hosts and ecs not in row:
            row[ecs] = hosts[0]


_EXTRA: dict[str, Callable[[dict[str, Any], Row], None]] = {
    "conn": _conn,
    "http": _http,
    "ntlm": _outcome,
    "kerberos": _kerberos,
    "ssh": lambda r, row: _outcome(r, row, "auth_success"),
    "smb_files": _smb_files,
    "files": _files,
}


def _unescape(raw: bytes) -> str:
    """Undo the TSV writer's escapes: ``\\\\`` for a backslash, ``\\xNN`` for a byte."""
    if b"\\" in raw:
        raw = _ESCAPE.sub(_unescape_one, raw)
    return raw.decode("utf-8", "replace")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return b"\\" if code == b"\\" else bytes([int(code[1:], 16)])


def _bool(value: str) -> bool:
    return value == "T"


def _convert(zeek_type: str) -> Callable[[str], Any] | None:
    """The converter of a Zeek type; None for text, which stays as it is."""
    if zeek_type in ("count", "int", "port"):
        return int
    if zeek_type in ("time", "interval", "double"):
        return float
    if zeek_type == "bool":
        return _bool
    return None


Column = tuple[str, Callable[[str], Any] | None, bool]
"""A TSV column: its name, converter, and whether it is a set or vector."""


def _columns(names: list[str], types: list[str]) -> list[Column]:
    columns: list[Column] = []
    for i, name in enumerate(names):
        typ = types[i] if i < len(types) else "string"
        if typ.startswith(("set[", "vector[")):
            columns.append((name, _convert(typ[typ.index("[") + 1 : -1]), True))
        else:
            columns.append((name, _convert(typ), False))
    return columns


def log_name(value: str) -> str:
    """A log name fit for a dataset; anything odd (attacker-made) becomes ``unknown``."""
    value = value.strip().lower()
    return value if _LOG_NAME.fullmatch(value) else "unknown"


def _tsv_state(src: Source) -> dict[str, Any]:
    return {
        "log": log_name(_log_from_path(str(src.path))),
        "columns": None,
        "names": [],
        "types": [],
        "sep": "\t",
        "set_sep": ",",
        "unset": "-",
        "empty": "(empty)",
    }


def _tsv_parser(src: Source, shared: dict[str, Any] | None = None) -> Callable[[bytes], Row | None]:
    state = _tsv_state(src) if shared is None else shared

    def header(line: bytes) -> None:
        if line.startswith(b"#separator"):
            given = line.split(b" ", 1)[1].strip() if b" " in line else b"\\x09"
            state["sep"] = _unescape(given) or "\t"
            return
        key, _, value = line.decode("utf-8", "replace").partition(state["sep"])
        key = key[1:]
        if key == "fields":
            state["names"], state["types"] = value.split(state["sep"]), []
        elif key == "types":
            state["types"] = value.split(state["sep"])
        elif key == "path":
            state["log"] = log_name(value)
        elif key == "set_separator":
            state["set_sep"] = value
        elif key == "unset_field":
            state["unset"] = value
        elif key == "empty_field":
            state["empty"] = value
        else:
            return
        state["columns"] = _columns(state["names"], state["types"]) if state["names"] else None

    def parse_line(line: bytes) -> Row | None:
        if line.startswith(b"#"):
            header(line)
            return None
        columns: list[Column] | None = state["columns"]
        if columns is None:
            raise ParseError("data line before any #fields header")
        escaped = b"\\" in line
        values = (
            [_unescape(v) for v in line.split(state["sep"].encode())]
            if escaped
            else line.decode("utf-8", "replace").split(state["sep"])
        )
        if len(values) != len(columns):
            raise ParseError(f"{len(values)} columns where #fields names {len(columns)}")
        unset, empty = state["unset"], state["empty"]
        record: dict[str, Any] = {}
        for (name, convert, is_set), text in zip(columns, values, strict=True):
            if text == unset:
                continue
            if is_set:
                items = [] if text == empty else text.split(state["set_sep"])
                record[name] = [convert(v) for v in items] if convert else items
            elif text == empty:
                record[name] = ""
            else:
                record[name] = convert(text) if convert else text
        return to_row(state["log"], record)

    return parse_line


def _json_parser(src: Source) -> Callable[[bytes], Row | None]:
    path_log = _log_from_path(str(src.path))

    def parse_line(line: bytes) -> Row | None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise ParseError("JSON line is not an object")
        log = record.get("_path")
        if isinstance(log, str) and log:
            log = log_name(log)
        else:
            log = path_log if path_log in KNOWN_LOGS else _guess_log(record)
        return to_row(log, record, line)

    return parse_line


# The columnar fast path: runs of data lines read as one block by Arrow's C++ readers,
# mapped to ECS with pyarrow.compute. A block it cannot reproduce exactly (a bad line,
# an escape, an odd value) goes through the line path above, which quarantines.

#: JSON types of the columns ``to_row`` reads, where not a string.
_JSON_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(
        (
            "id.orig_p",
            "id.resp_p",
            "orig_bytes",
            "resp_bytes",
            "status_code",
            "request_body_len",
            "response_body_len",
            "seen_bytes",
            "size",
            "p",
        ),
        pa.int64(),
    ),
    "duration": pa.float64(),
    **dict.fromkeys(("local_orig", "local_resp", "success", "auth_success"), pa.bool_()),
}
#: The columns each log's ``_EXTRA`` function reads.
_EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "conn": ("duration", "orig_bytes", "resp_bytes", "local_orig", "local_resp"),
    "http": ("host", "uri"),
    "ntlm": ("success",),
    "kerberos": ("success", "client"),
    "ssh": ("auth_success",),
    "smb_files": ("path", "name"),
}
#: Zeek type -> how the fast path reads it; any other type is text.
_KINDS = dict.fromkeys(("count", "int", "port"), "int") | dict.fromkeys(
    ("time", "interval", "double"), "float"
)
_TSV_ODD = re.compile(rb"[\\\x00-\x08\x0b-\x1f]")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_KERBEROS_CLIENT = r"(?s)^(?P<name>[^/]*)(?:/(?P<realm>.*))?$"
_NO_STR = pa.scalar(None, pa.string())


def parse_fast(src: Source) -> Iterator[Batch]:
    """What the line path gives, with runs of data lines parsed as columnar blocks."""
    state: dict[str, Any] = _tsv_state(src)
    chosen: list[str] = []
    parse_line = _line_parser(src, state, chosen)
    builder = Builder(src, NAME)
    size = builder.batch_size
    block = Lines()
    failure = ""
    tsv = False  # headers then go one by one: they change the columns
    try:
        with src.open() as fh:
            for run in read_runs(fh, src.limits.max_record_bytes):
                if isinstance(run, Lines):
                    if chosen and not (tsv and any(r[:1] == b"#" for r in run.raws)):
                        block.extend(run)
                        while len(block) >= size:
                            head, block = block.cut(size)
                            yield from _run_block(src, state, chosen[0], head, builder, parse_line)
                        continue
                    lines = run.lines()
                else:
                    lines = [run]
                for line in lines:
                    if chosen and not line.overlong and not (tsv and line.raw[:1] == b"#"):
                        block.append(line)
                        continue
                    if block:
                        yield from _run_block(src, state, chosen[0], block, builder, parse_line)
                        block = Lines()
                    _one_line(builder, parse_line, line)
                    tsv = chosen == ["tsv"]
                    if builder.full():
                        yield builder.flush()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        failure = f"file unreadable past this point: {exc}"
    while block:
        head, block = block.cut(size)
        yield from _run_block(src, state, chosen[0], head, builder, parse_line)
    if failure:
        builder.reject(b"", -1, -1, failure)
    yield builder.flush()


def _one_line(builder: Builder, parse_line: Callable[[bytes], Row | None], line: Line) -> None:
    """One line through the line path, as ``parse_lines`` does it."""
    raw = line.raw
    if line.overlong:
        limit = builder.src.limits.max_record_bytes
        reason = f"record of {line.overlong} bytes is over the {limit}-byte limit"
        builder.reject(raw, line.number, line.offset, reason, size=line.overlong)
        return
    try:
        row = parse_line(raw)
    except ParseError as exc:
        builder.reject(raw, line.number, line.offset, exc.reason)
    except BUGS_ON_BAD_INPUT as exc:
        builder.reject(raw, line.number, line.offset, f"{type(exc).__name__}: {exc}")
    else:
        if row is not None:
            builder.add(row, raw, line.number, line.offset)


def _run_block(
    src: Source,
    state: dict[str, Any],
    mode: str,
    block: Lines,
    builder: Builder,
    parse_line: Callable[[bytes], Row | None],
) -> Iterator[Batch]:
    try:
        events = _tsv_block(src, state, block) if mode == "tsv" else _json_block(src, block)
    except (Fallback, pa.ArrowException, ValueError, TypeError, KeyError, OverflowError):
        for line in block.lines():
            _one_line(builder, parse_line, line)
            if builder.full():
                yield builder.flush()
        return
    if builder.rows or builder.rejected:  # what came before goes first
        yield builder.flush()
    yield Batch(events, [], len(block))


def _json_block(src: Source, lines: Lines) -> pa.RecordBatch:
    data = b"\n".join(lines.raws)
    # Arrow refuses control characters and bad UTF-8 as orjson does, not these
    require(b"NaN" not in data and b"Infinity" not in data, "NaN or Infinity")
    require(b"\\u" not in data or not _SURROGATE.search(data), "surrogate escape")
    first = orjson.loads(lines.raws[0])
    require(isinstance(first, dict), "not an object")
    given = first.get("_path")
    if isinstance(given, str) and given:
        log = log_name(given)
    else:
        log, given = _log_from_path(str(src.path)), None
        require(log in KNOWN_LOGS, "log guessed record by record")
    keys = sorted({*COMMON, *MAPS.get(log, ("", "", {}))[2], *_EXTRA_KEYS.get(log, ())})
    table = None
    for ts_type in (pa.string(), pa.float64()):
        schema = pa.schema(
            [("ts", ts_type), ("_path", pa.string())]
            + [(k, _JSON_TYPES.get(k, pa.string())) for k in keys]
        )
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        read = pj.ReadOptions(use_threads=False, block_size=len(data) + 1)
        try:
            table = pj.read_json(io.BytesIO(data), read_options=read, parse_options=options)
            break
        except pa.ArrowInvalid:
            continue
    require(table is not None and table.num_rows == len(lines), "JSON the reader refuses")
    assert table is not None
    cols = {name: table.column(name).combine_chunks() for name in table.column_names}
    paths = cols.pop("_path")
    if given is None:
        require(pc.all(pc.equal(pc.fill_null(paths, ""), "")), "_path varies")
    else:
        require(paths.null_count == 0 and pc.all(pc.equal(paths, given)), "_path varies")
    ts = cols.pop("ts")
    micros = iso_micros(ts) if pa.types.is_string(ts.type) else epoch_micros(ts)
    return _events(src, log, cols, set(), micros, lines, None)


def _tsv_block(src: Source, state: dict[str, Any], lines: Lines) -> pa.RecordBatch:
    names: list[str] = state["names"]
    types: list[str] = state["types"]
    unset, empty, set_sep = state["unset"], state["empty"], state["set_sep"]
    require(state["columns"] and state["sep"] == "\t", "no #fields, or not tab-separated")
    require(len(set(names)) == len(names) and set_sep and unset != empty, "odd header")
    data = b"\n".join(lines.raws)
    require(not _TSV_ODD.search(data), "escapes or control characters")
    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(
            column_names=names, use_threads=False, block_size=len(data) + 1
        ),
        parse_options=pcsv.ParseOptions(
            delimiter="\t", quote_char=False, escape_char=False, ignore_empty_lines=False
        ),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[unset],
            strings_can_be_null=True,
        ),
    )
    require(table.num_rows == len(lines), "lines and rows differ")
    cols: dict[str, pa.Array] = {}
    lists: set[str] = set()
    texts: list[pa.Array] = []
    for i, name in enumerate(names):
        text = table.column(i).combine_chunks()
        typ = types[i] if i < len(types) else "string"
        if typ.startswith(("set[", "vector[")):
            kind = _KINDS.get(typ[typ.index("[") + 1 : -1], typ[typ.index("[") + 1 : -1])
            texts.append(list_json(text, set_sep, empty, _ELEMENT_JSON.get(kind, quote)))
            lists.add(name)
            continue
        kind = _KINDS.get(typ, typ)
        if kind == "int":
            cols[name] = parse_ints(text)
            texts.append(ints_json(cols[name]))
        elif kind == "float":
            cols[name] = parse_floats(text)
            texts.append(floats_json(cols[name]))
        elif kind == "bool":
            cols[name] = parse_bools(text)
            texts.append(bools_json(cols[name]))
        else:
            cols[name] = pc.if_else(pc.fill_null(pc.equal(text, empty), False), "", text)
            texts.append(quote(cols[name]))
    ts = cols.pop("ts", None)
    require(ts is not None and pa.types.is_floating(ts.type), "ts missing or not a time")
    assert ts is not None
    fields = json_objects(names, texts)
    return _events(src, state["log"], cols, lists, epoch_micros(ts), lines, fields)


def _bool_items(items: pa.Array) -> pa.Array:
    raise Fallback("a set of bools")


_ELEMENT_JSON: dict[str, Callable[[pa.Array], pa.Array]] = {
    "int": lambda items: ints_json(parse_ints(items)),
    "float": lambda items: floats_json(parse_floats(items)),
    "bool": _bool_items,
}


def _events(
    src: Source,
    log: str,
    cols: dict[str, pa.Array],
    lists: set[str],
    micros: pa.Array,
    lines: Lines,
    fields: pa.Array | None,
) -> pa.RecordBatch:
    """The event batch of a block, as ``Builder`` makes it from ``to_row``'s rows;
    ``fields`` None means the raw lines (Zeek JSON)."""
    in_range = pc.and_(pc.greater_equal(micros, MIN_TS), pc.less(micros, MAX_TS))
    require(pc.all(in_range), "timestamp out of range")
    n = len(lines)
    dataset = src.dataset or f"zeek.{log}"
    category, typ, _ = MAPS.get(log, ("network", "info", {}))
    ecs = {name: _typed(name, v) for name, v in _ecs_columns(log, cols, lists).items()}
    constants = {
        "event.module": "zeek",
        "event.dataset": dataset,
        "event.kind": "alert" if log == "notice" else "event",
        "event.category": category,
        "event.type": typ,
    }
    raws = lines.raws
    original = strings(raws) or original_column(raws)
    arrays: list[pa.Array] = []
    for name, kind in FIELDS.items():
        if name == "@timestamp":
            arrays.append(micros.cast(kind))
        elif name == "event.id":
            ids = list(map(event_id, [dataset] * n, lines.numbers, raws))
            arrays.append(pa.array(ids, kind))
        elif name == "log.file.path":
            arrays.append(pa.array([str(src.path)] * n, kind))
        elif name == "log.offset":
            arrays.append(pa.array(lines.offsets, kind))
        elif name == "event.original":
            arrays.append(original)
        elif name == "fields":
            arrays.append(original if fields is None else fields)
        elif name in constants:
            arrays.append(pa.array([constants[name]] * n, kind))
        elif name in ecs:
            arrays.append(ecs[name])
        else:
            arrays.append(pa.nulls(n, kind))
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def _typed(name: str, values: pa.Array) -> pa.Array:
    """An ECS column of its schema type, converted as ``Builder`` converts it."""
    target = FIELDS[name]
    if pa.types.is_string(target):
        if pa.types.is_integer(values.type):
            values = pc.cast(values, pa.string())
        require(pa.types.is_string(values.type), f"{name} from {values.type}")
        return pc.if_else(pc.equal(values, ""), _NO_STR, values)
    require(pa.types.is_integer(values.type), f"{name} from {values.type}")
    return pc.cast(values, target)  # out of range: ArrowInvalid, the line path


def _ecs_columns(log: str, cols: dict[str, pa.Array], lists: set[str]) -> dict[str, pa.Array]:
    """``to_row``'s mapping, ``COMMON``, ``MAPS`` and the ``_EXTRA`` of ``log``, vectorised."""
    mapping = MAPS.get(log, ("", "", {}))[2]
    require(log != "files", "files takes the line path")
    require(not {*COMMON, *mapping, *_EXTRA_KEYS.get(log, ())} & lists, "a set maps to ECS")
    out: dict[str, pa.Array] = {}
    for key, ecs in (*COMMON.items(), *mapping.items()):
        value = cols.get(key)
        if value is not None:
            out[ecs] = pc.coalesce(value, out[ecs]) if ecs in out else value
    if log == "conn":
        _conn_columns(cols, out)
    elif log == "http":
        host, uri = cols.get("host"), cols.get("uri")
        if _is(host, pa.types.is_string) and _is(uri, pa.types.is_string):
            out["url.full"] = pc.binary_join_element_wise("http://", host, uri, "")
    elif log == "smb_files":
        path, name = cols.get("path"), cols.get("name")
        if _is(name, pa.types.is_string):
            if _is(path, pa.types.is_string):
                joined = pc.binary_join_element_wise(pc.utf8_rtrim(path, "\\"), name, "\\")
                out["file.path"] = pc.coalesce(joined, name)
            else:
                out["file.path"] = name
    if log in ("ntlm", "kerberos", "ssh"):
        value = cols.get("auth_success" if log == "ssh" else "success")
        if _is(value, pa.types.is_boolean):
            out["event.outcome"] = pc.if_else(value, "success", "failure")
    if log == "kerberos":
        client = cols.get("client")
        if _is(client, pa.types.is_string):
            parts = pc.extract_regex(client, _KERBEROS_CLIENT)
            out["user.name"] = pc.struct_field(parts, "name")
            out["user.domain"] = pc.struct_field(parts, "realm")
    return out


def _is(values: pa.Array | None, test: Callable[[pa.DataType], bool]) -> bool:
    return values is not None and test(values.type)


def _conn_columns(cols: dict[str, pa.Array], out: dict[str, pa.Array]) -> None:
    duration = cols.get("duration")
    if _is(duration, pa.types.is_floating) or _is(duration, pa.types.is_integer):
        assert duration is not None
        seconds = pc.cast(duration, pa.float64())
        ns = pc.if_else(pc.less(pc.abs(seconds), 1e9), pc.multiply(seconds, 1e9), None)
        out["event.duration"] = pc.cast(ns, pa.int64(), safe=False)  # truncated, as int()
    sizes = [cols[k] for k in ("orig_bytes", "resp_bytes") if _is(cols.get(k), pa.types.is_integer)]
    if sizes:
        total = pc.fill_null(sizes[0], 0)
        for size in sizes[1:]:
            total = pc.add_checked(total, pc.fill_null(size, 0))
        out["network.bytes"] = pc.if_else(pc.equal(total, 0), None, total)
    orig, resp = cols.get("local_orig"), cols.get("local_resp")
    if _is(orig, pa.types.is_boolean) and _is(resp, pa.types.is_boolean):
        conditions = pc.make_struct(
            pc.and_(orig, pc.invert(resp)),
            pc.and_(pc.invert(orig), resp),
            pc.and_(orig, resp),
            field_names=["out", "in", "internal"],
        )
        out["network.direction"] = pc.case_when(conditions, "outbound", "inbound", "internal")
