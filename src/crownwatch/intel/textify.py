"""Threat reports as plain text (PDF, HTML, Markdown or text, detected by content), in parts.

``to_text(data, filename)`` bounds the input, picks the format from the bytes (the
file name is only a hint, except that a ``.pdf`` that is not a PDF is refused) and
returns NFKC-normalised text with scripts, styles and markup removed, one block
element per line, and zero-width characters (a favourite way to defang) dropped.
``segments(text)`` cuts that text into headings and sentences.
"""

from __future__ import annotations

import html
import io
import logging
import re
import unicodedata
from dataclasses import dataclass

from crownwatch.errors import ParseError

log = logging.getLogger(__name__)

MAX_INPUT = 20 * 1024 * 1024
MAX_TEXT = 20 * 1024 * 1024
MAX_PAGES = 5000
MAX_HEADING = 100
MAX_SENTENCE = 1000
MAX_TAG = 4096

_HTML_TAGS = re.compile(
    rb"<(?:html|head|body|div|p|span|table|h[1-6]|script|style|br|a|ul|li|article|meta)\b",
    re.IGNORECASE,
)
_MARKDOWN = (
    re.compile(r"^#{1,6} \S", re.MULTILINE),
    re.compile(r"^```", re.MULTILINE),
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),
    re.compile(r"\*\*[^*\n]+\*\*"),
    re.compile(r"^\s*\|?\s*:?-{3,}:?\s*\|", re.MULTILINE),
    re.compile(r"^\s*[-*] \S", re.MULTILINE),
)
_RULE = r"[ \t]*:?-{3,}:?[ \t]*"
#: Markdown marks to strip, in order. Every repeated span excludes its own closing
#: character, so no pattern rescans text: the cost stays linear on hostile input.
_MARKDOWN_STRIP = (
    (re.compile(r"^ {0,3}(?:```|~~~).*$|^ {0,3}(?:=+|-+|\*{3,}|_{3,})[ \t]*$", re.M), ""),
    (re.compile(r"^ {0,3}\[[^\[\]\n]{1,200}\]:[ \t]+\S+.*$", re.M), ""),
    (re.compile(rf"^[ \t]*\|?{_RULE}(?:\|{_RULE})*\|?[ \t]*$", re.M), ""),
    (re.compile(r"^ {0,3}#{1,6}[ \t]+|[ \t]+#+[ \t]*$", re.M), ""),
    (re.compile(r"^[ \t]*(?:>[ \t]?)+", re.M), ""),
    (re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+", re.M), ""),
    (
        re.compile(r"!?\[([^\[\]\n]{0,500})\]\([^()\[\]\s]{0,2000}(?:[ \t]+\"[^\"\n]{0,500}\")?\)"),
        r"\1",
    ),
    (re.compile(r"\[([^\[\]\n]{1,500})\]\[[^\[\]\n]{0,200}\]"), r"\1"),
    (re.compile(r"(?<![\w*])(\*{1,3})(?=[^\s*])([^\n*]{1,300}?)(?<=\S)\1(?![\w*])"), r"\2"),
    (re.compile(r"(?<![\w_])(_{1,3})(?=[^\s_])([^\n_]{1,300}?)(?<=\S)\1(?![\w_])"), r"\2"),
    (re.compile(r"~~([^\n~]{1,300})~~"), r"\1"),
    (re.compile(r"(`+)([^`\n]{1,500})\1"), r"\2"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),
    (re.compile(r"^[ \t]*\||\|[ \t]*$", re.M), ""),
    (re.compile(r"[ \t]*\|[ \t]*"), "  "),
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\x00"))
_BLOCKS = re.compile(
    r"^(?:address|article|aside|blockquote|dd|div|dl|dt|figcaption|figure|footer|form|h[1-6]"
    r"|header|hr|li|main|nav|ol|p|pre|section|table|tbody|thead|tfoot|tr|ul)$"
)
_LINE = re.compile(r"[^\n]+")
_BLANK = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_DROP = frozenset(("script", "style", "noscript", "template", "svg", "iframe", "object"))
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,40})(?:[\s/][^<>]{0,2000})?>")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CHARSET = re.compile(rb"<meta[^>]{0,200}charset=[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)


def to_text(data: bytes, filename: str = "") -> str:
    """The text of a report; ``ParseError`` for input over 20 MB or a broken/fake PDF."""
    if len(data) > MAX_INPUT:
        raise ParseError(
            f"input is {len(data)} bytes; reports are limited to {MAX_INPUT} bytes", filename
        )
    name = filename.lower()
    if b"%PDF-" in data[:1024]:
        text = _pdf(data, filename)
    elif name.endswith(".pdf"):
        raise ParseError("the file is named .pdf but is not a PDF (no %PDF- header)", filename)
    elif _is_html(data, name):
        text = _html(data)
    else:
        text = _decode(data)
        if _is_markdown(text, name):
            text = _markdown(text)
    return _normalise(text)


def _is_html(data: bytes, name: str) -> bool:
    head = data[:8192].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return True
    found = len(_HTML_TAGS.findall(head))
    return found >= 1 if name.endswith((".html", ".htm", ".xhtml")) else found >= 3


def _is_markdown(text: str, name: str) -> bool:
    if name.endswith((".md", ".markdown")):
        return True
    head = text[:8192]
    return sum(1 for p in _MARKDOWN if p.search(head)) >= 2


def _decode(data: bytes) -> str:
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    return data.decode("utf-8", errors="replace")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[:MAX_TEXT]


def _pdf(data: bytes, filename: str) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("the PDF is encrypted with a password", filename)
        pages = list(reader.pages[:MAX_PAGES])
    except ParseError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on malformed files
        raise ParseError(f"not a readable PDF: {type(exc).__name__}: {exc}", filename) from exc
    parts: list[str] = []
    size = 0
    for number, page in enumerate(pages, 1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # one bad page must not lose the others
            log.warning("%s: page %d unreadable: %s", filename, number, exc)
            continue
        parts.append(text)
        size += len(text)
        if size > MAX_TEXT:
            break
    if pages and not any(p.strip() for p in parts):
        raise ParseError("the PDF has no extractable text (scanned images?)", filename)
    return "\n\n".join(parts)


def _html(data: bytes | str) -> str:
    body, title = _visible(data if isinstance(data, str) else _decode_html(data))
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in body.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join(title.split())
    return f"{title}\n\n{text}" if title and not text.startswith(title) else text


def _visible(page: str) -> tuple[str, str]:
    """The visible text of an HTML page and its title, in one linear scan.

    Not ``html.parser``: on unclosed constructs (``<a<a<a…``, ``<!--…``) it takes
    quadratic time, and a tree builder over it also pays for deep nesting. Comments,
    scripts, styles and other hidden elements are dropped; block elements end lines;
    an unclosed comment or hidden element hides the rest of the page, as in a browser.
    """
    low = page.translate(_ASCII_LOWER)
    parts: list[str] = []
    title = ""
    pos, size = 0, len(page)
    while pos < size:
        lt = page.find("<", pos)
        if lt < 0:
            parts.append(html.unescape(page[pos:]))
            break
        parts.append(html.unescape(page[pos:lt]))
        if page.startswith("<!--", lt):
            end = page.find("-->", lt + 4)
            if end < 0:
                break
            pos = end + 3
            continue
        tag = _TAG.match(page, lt)
        if tag is None:
            end = page.find(">", lt, lt + MAX_TAG) if page.startswith(("<!", "<?"), lt) else -1
            if end < 0:
                parts.append("<")
            pos = end + 1 if end >= 0 else lt + 1
            continue
        pos = tag.end()
        name = tag.group(2).lower()
        if not tag.group(1) and (name in _DROP or name == "title"):
            end = low.find("</" + name, pos)
            if end < 0:
                break
            if name == "title":
                title = html.unescape(page[pos:end])
            close = page.find(">", end)
            pos = close + 1 if close >= 0 else size
        elif name in ("td", "th"):
            parts.append(" ")
        elif name == "br" or _BLOCKS.match(name):
            parts.append("\n")
    return "".join(parts), title


def _decode_html(data: bytes) -> str:
    """Bytes to text: a byte-order mark, else the declared charset, else UTF-8."""
    declared = _CHARSET.search(data[:4096])
    if declared and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return _decode(data)


def _markdown(text: str) -> str:
    """The visible text of Markdown: marks, link targets and table rules removed.

    Regular expressions with bounded spans rather than a renderer, so the cost stays
    linear whatever the input (renderers can be quadratic on nested constructs).
    """
    for pattern, replacement in _MARKDOWN_STRIP:
        text = pattern.sub(replacement, text)
    return html.unescape(text)


@dataclass(frozen=True)
class Segment:
    """A sentence (or a heading line) of the text: where it is and its words on one line."""

    start: int
    end: int
    text: str
    heading: bool
    block: int


def segments(text: str) -> list[Segment]:
    """The headings and sentences of ``text``, in order, each tagged with its block number.

    Blocks are separated by blank lines. A heading is a short line with no closing
    punctuation: the first line of a block when a capitalised line follows it, or every
    line of a block of up to three such lines (a title). The rest of a block is cut into
    sentences at ``.!?`` followed by a capital, in pieces of at most ``MAX_SENTENCE``.
    """
    out: list[Segment] = []
    for number, (start, end) in enumerate(_blocks(text)):
        lines = [m.span() for m in _LINE.finditer(text, start, end)]
        titles = [text[a:b].strip() for a, b in lines]
        if len(lines) <= 3 and all(map(_heading_like, titles)):
            out += [Segment(a, b, t, True, number) for (a, b), t in zip(lines, titles, strict=True)]
            continue
        body = start
        if _heading_like(titles[0]) and (titles[1][:1].isupper() or titles[1][:1].isdigit()):
            out.append(Segment(lines[0][0], lines[0][1], titles[0], True, number))
            body = lines[1][0]
        out += _sentences(text, body, end, number)
    return out


def _heading_like(line: str) -> bool:
    return 0 < len(line) <= MAX_HEADING and line[-1] not in ".!?;:,"


def _blocks(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _BLANK.finditer(text):
        if text[pos : m.start()].strip():
            spans.append((pos, m.start()))
        pos = m.end()
    if text[pos:].strip():
        spans.append((pos, len(text)))
    return spans


def _sentences(text: str, start: int, end: int, block: int) -> list[Segment]:
    out: list[Segment] = []
    pos = start
    for cut in [m.end() for m in _SENTENCE_END.finditer(text, start, end)] + [end]:
        while cut - pos > MAX_SENTENCE:
            split = text.rfind("\n", pos, pos + MAX_SENTENCE)
            split = split + 1 if split > pos else pos + MAX_SENTENCE
            out.append(_segment(text, pos, split, block))
            pos = split
        if text[pos:cut].strip():
            out.append(_segment(text, pos, cut, block))
        pos = cut
    return out


def _segment(text: str, start: int, end: int, block: int) -> Segment:
    return Segment(start, end, " ".join(text[start:end].split()), False, block)
