"""Zeek TSV and JSON against the real WRCCDC 2018 logs and a conn.log fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from crownwatch import ingest
from crownwatch.ingest import zeek
from crownwatch.ingest.source import Source

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "zeek"


def _parse(path: Path) -> tuple[list[dict[str, Any]], int, int]:
    batches = list(zeek.parse(Source(path)))
    table = pa.Table.from_batches([b.events for b in batches])
    return table.to_pylist(), sum(len(b.rejected) for b in batches), sum(b.read for b in batches)


def _data_lines(path: Path) -> int:
    import gzip

    with gzip.open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip() and not line.startswith(b"#"))


@pytest.mark.parametrize(
    "log",
    [
        "dns",
        "ssl",
        "ntlm",
        "notice",
        "smb_mapping",
        "x509",
        "rdp",
        "kerberos",
        "weird",
        "software",
        "dce_rpc",
        "smtp",
        "ftp",
        "pe",
        "ssh",
        "known_hosts",
        "syslog",
        "smb_files",
    ],
)
def test_every_real_tsv_and_json_log_parses_whole(shared_data: Path, log: str) -> None:
    base = shared_data / "logs" / "zeek-wrccdc-2018"
    tsv_rows, tsv_bad, tsv_read = _parse(base / "tsv" / f"{log}.log.gz")
    json_rows, json_bad, json_read = _parse(base / "json" / f"{log}.json.gz")
    assert tsv_bad == json_bad == 0
    assert len(tsv_rows) == tsv_read == _data_lines(base / "tsv" / f"{log}.log.gz")
    assert len(json_rows) == json_read == len(tsv_rows)
    assert {r["event.dataset"] for r in tsv_rows} == {f"zeek.{log}"}
    # the two renderings of one log agree on the normalised fields
    for name in ("@timestamp", "source.ip", "destination.port", "user.name", "dns.question.name"):
        assert [r[name] for r in tsv_rows[:50]] == [r[name] for r in json_rows[:50]], name


def test_dns_values(shared_data: Path) -> None:
    rows, _, _ = _parse(shared_data / "logs" / "zeek-wrccdc-2018" / "tsv" / "dns.log.gz")
    first = rows[0]
    assert first["@timestamp"].isoformat() == "2018-03-24T17:15:20.865716+00:00"
    assert (first["source.ip"], first["source.port"]) == ("10.47.1.100", 41772)
    assert (first["destination.ip"], first["destination.port"]) == ("10.0.0.100", 53)
    assert first["dns.question.name"] == "ise.wrccdc.org"
    assert (first["dns.question.type"], first["dns.response_code"]) == ("A", "NOERROR")
    assert first["network.transport"] == "udp"
    assert '"answers":["ise.wrccdc.cpp.edu","134.71.3.16"]' in first["fields"]


def test_ssl_ntlm_smb_notice_values(shared_data: Path) -> None:
    base = shared_data / "logs" / "zeek-wrccdc-2018"
    ssl, _, _ = _parse(base / "json" / "ssl.json.gz")
    sni = next(r for r in ssl if r["tls.server.name"])
    assert (sni["tls.server.name"], sni["tls.version"]) == ("ise.wrccdc.org", "TLSv12")
    ntlm, _, _ = _parse(base / "tsv" / "ntlm.log.gz")
    assert ntlm[0]["event.category"] == "authentication" and ntlm[0]["event.outcome"] == "success"
    assert '"server_dns_computer_name":"Snozberry.factory.oompa.loompa"' in ntlm[0]["fields"]
    smb, _, _ = _parse(base / "tsv" / "smb_mapping.log.gz")
    assert smb[0]["file.path"] == "\\\\10.47.21.25\\ADMIN$"
    notice, _, _ = _parse(base / "tsv" / "notice.log.gz")
    assert notice[0]["event.kind"] == "alert"
    assert notice[0]["rule.name"] == "SSL::Invalid_Server_Cert"
    assert notice[0]["message"].startswith("SSL certificate validation failed")


def test_conn_fixture_bytes_duration_direction() -> None:
    rows, bad, read = _parse(FIXTURES / "conn.log")
    assert (len(rows), bad, read) == (2, 0, 2)
    out = rows[0]
    assert (out["source.bytes"], out["destination.bytes"], out["network.bytes"]) == (
        1048576,
        2048,
        1050624,
    )
    assert out["event.duration"] == 61_500_000_000
    assert out["network.direction"] == "outbound" and rows[1]["network.direction"] == "internal"
    assert out["network.protocol"] == "ssl" and out["event.action"] == "SF"
    assert out["event.category"] == "network" and out["event.type"] == "connection"


def test_sniffing_picks_zeek_for_both_renderings(shared_data: Path) -> None:
    base = shared_data / "logs" / "zeek-wrccdc-2018"
    for path in (
        base / "tsv" / "dns.log.gz",
        base / "json" / "x509.json.gz",
        FIXTURES / "conn.log",
    ):
        parser = ingest.detect(Source(path))
        assert parser is not None and parser.NAME == "zeek", path


def test_bad_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    lines = (FIXTURES / "conn.log").read_bytes().splitlines()
    header, rows = lines[:8], lines[8:10]
    path = tmp_path / "conn.log"
    path.write_bytes(
        b"\n".join(
            [*header, rows[0], b"too\tfew", rows[1].replace(b"1759651260.5", b"notatime"), rows[1]]
        )
        + b"\n"
    )
    batches = list(zeek.parse(Source(path)))
    reasons = [r.reason for b in batches for r in b.rejected]
    assert sum(b.events.num_rows for b in batches) == 2
    assert reasons[0] == "2 columns where #fields names 21"
    assert "could not convert string to float" in reasons[1]
    orphan = tmp_path / "orphan.log"
    orphan.write_bytes(rows[0] + b"\n")
    [batch] = list(zeek.parse(Source(orphan)))
    assert batch.rejected[0].reason == "data line before any #fields header"
