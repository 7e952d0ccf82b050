"""Reports as text: format detection, HTML, Markdown, PDF, bounds, headings and sentences."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from stix2validator import validate_instance  # type: ignore[import-untyped]

from crownwatch.errors import ParseError
from crownwatch.intel import iocs, textify
from crownwatch.intel.extract import Knowledge, build_knowledge, extract

ATTACK = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "attack"
) / "enterprise-attack-18.1.json.gz"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    if not ATTACK.exists():
        pytest.skip(f"ATT&CK bundle not found at {ATTACK}")
    return build_knowledge(orjson.loads(gzip.decompress(ATTACK.read_bytes()))["objects"])


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF written by hand: Helvetica text, one line per string."""

    def escape(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 10 Tf 14 TL 40 760 Td " + " ".join(
        f"({escape(line)}) Tj T*" for line in lines
    )
    content += " ET"
    bodies = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(bodies) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


PDF_LINES = [
    "Operation Paper Lantern",
    "",
    "The operators staged payloads on files-cache[.]net and 91.219.236[.]18.",
    "The dropper has SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
]


def test_pdf_text_comes_out_with_its_indicators() -> None:
    text = textify.to_text(minimal_pdf(PDF_LINES), "lantern.pdf")
    assert "Operation Paper Lantern" in text
    found, _ = iocs.find(text)
    assert {(f.kind, f.value) for f in found} == {
        ("domain-name", "files-cache.net"),
        ("ipv4-addr", "91.219.236.18"),
        ("sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    }


def test_a_pdf_report(kb: Knowledge) -> None:
    lines = [
        "Operation Paper Lantern (TLP:GREEN)",
        "",
        "The operators staged payloads on files-cache[.]net and 91.219.236[.]18.",
        "Then the attackers dumped the memory of the lsass process.",
    ]
    bundle = extract(minimal_pdf(lines), "lantern.pdf", kb, published=datetime(2026, 1, 1))
    (report,) = [o for o in bundle["objects"] if o["type"] == "report"]
    assert report["name"] == "Operation Paper Lantern (TLP:GREEN)"
    assert {o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"} == {
        "[domain-name:value = 'files-cache.net']",
        "[ipv4-addr:value = '91.219.236.18']",
    }
    (technique,) = report["x_crownwatch_evidence"]
    assert (technique["external_id"], technique["method"]) == ("T1003.001", "sentence")
    assert report["object_marking_refs"] == [TLP_GREEN]
    result = validate_instance(bundle)
    assert [str(e) for e in result.errors] == [] and result.is_valid


def test_a_pdf_is_recognised_by_content_whatever_its_name() -> None:
    text = textify.to_text(minimal_pdf(PDF_LINES), "download.bin")
    assert "files-cache[.]net" in text


def test_a_file_named_pdf_that_is_not_a_pdf_is_refused_with_a_reason() -> None:
    with pytest.raises(ParseError, match="not a PDF"):
        textify.to_text(b"<html><body>hello</body></html>", "report.pdf")


def test_a_broken_pdf_is_a_parse_error_not_a_crash() -> None:
    with pytest.raises(ParseError, match="PDF"):
        textify.to_text(b"%PDF-1.7\n" + b"\x00garbage" * 100, "broken.pdf")


def test_input_over_20_mb_is_refused() -> None:
    with pytest.raises(ParseError, match="limited to"):
        textify.to_text(b"a" * (25 * 1024 * 1024), "big.txt")


def test_html_drops_scripts_and_styles_and_decodes_entities() -> None:
    html = b"""<!DOCTYPE html><html><head><title>Hunting &amp; Tracking Report</title>
    <style>.ioc { background: url(http://style-host.com/x.png) }</style>
    <script>var beacon = "hxxp://script-host[.]com/track";</script></head>
    <body><h1>Ghost Kitten</h1><p>The implant beacons to c2&#91;.&#93;ghost-kitten&#46;org
    every <b>five</b>&nbsp;minutes.</p><ul><li>185.220.101[.]45</li><li>n/a</li></ul></body></html>
    """
    text = textify.to_text(html, "ghost.html")
    assert "script-host" not in text and "style-host" not in text
    assert text.splitlines()[0] == "Hunting & Tracking Report"
    assert "beacons to c2[.]ghost-kitten.org every five minutes." in " ".join(text.split())
    found, _ = iocs.find(text)
    assert {(f.kind, f.value) for f in found} == {
        ("domain-name", "c2.ghost-kitten.org"),
        ("ipv4-addr", "185.220.101.45"),
    }


def test_markdown_is_rendered_to_its_visible_text() -> None:
    md = b"""# Velvet Tempest

**Summary**: the actor used `hxxps://dl.velvet-cdn[.]com/a.ps1` and
[a write-up](https://blog.vendor-research.com/velvet) that is only a reference.

| indicator | kind |
|---|---|
| 23.95.44[.]80 | C2 |

```
evil_loader.exe --c2 cdn-sync[.]io
```
"""
    text = textify.to_text(md, "velvet.md")
    assert text.splitlines()[0] == "Velvet Tempest"
    assert "**" not in text and "|---" not in text and "vendor-research" not in text
    found, _ = iocs.find(text)
    assert {(f.kind, f.value) for f in found} == {
        ("url", "https://dl.velvet-cdn.com/a.ps1"),
        ("ipv4-addr", "23.95.44.80"),
        ("domain-name", "cdn-sync.io"),
    }


def test_markdown_is_detected_without_the_extension() -> None:
    md = b"## Findings\n\n- first **bold** claim\n- [link](https://x.org)\n"
    assert textify.to_text(md, "notes").splitlines()[0] == "Findings"
    plain = b"Findings\n\nThe actor used *.evil wildcard rules.\n"
    assert textify.to_text(plain, "notes") == plain.decode()


def test_zero_width_characters_and_utf16_are_handled() -> None:
    data = "C2 at bad\u200b-host[.]net\n".encode("utf-16")
    assert textify.to_text(data, "x.txt") == "C2 at bad-host[.]net\n"


def test_segments_tell_headings_from_sentences() -> None:
    text = (
        "Threat Report 7\nOperation Glass\n\nSummary\nThe actor sends mail. It\n"
        "then runs a loader (see v1.2). Files follow.\n\nA closing line without a full stop"
    )
    parts = textify.segments(text)
    assert [(p.text, p.heading, p.block) for p in parts] == [
        ("Threat Report 7", True, 0),
        ("Operation Glass", True, 0),
        ("Summary", True, 1),
        ("The actor sends mail.", False, 1),
        ("It then runs a loader (see v1.2).", False, 1),
        ("Files follow.", False, 1),
        ("A closing line without a full stop", True, 2),
    ]
    assert text[parts[4].start : parts[4].end].startswith("It\nthen runs")
