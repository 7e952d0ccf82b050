"""Poll TAXII 2.1 servers into the knowledge base, asking each time only for what is new.

Discovery → API roots (only on the server's own origin: the token goes nowhere else) →
readable collections → objects, a page at a time (following ``next``, or ``added_after``
for servers without it). Each page is imported as it arrives, and the newest
``X-TAXII-Date-Added-Last`` seen is kept per (server, API root, collection) so an
interrupted poll resumes and the next poll starts after it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import orjson
from sqlalchemy.orm import Session

from crownwatch.errors import CrownwatchError
from crownwatch.intel import kb
from crownwatch.store import Store
from crownwatch.store.taxii_models import TaxiiPoll

log = logging.getLogger(__name__)

MEDIA = "application/taxii+json;version=2.1"
PAGE = 1000
MAX_RESPONSE = 64 * 1024 * 1024  # bytes of one answer
MAX_PAGES = 100_000  # per collection and poll: a server that never says "no more" is cut off
TIMEOUT = 60.0
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


class PollError(CrownwatchError):
    """A TAXII server that cannot be polled: unreachable, refusing, or answering nonsense."""


def poll(
    store: Store, url: str, token: str, collection: str | None = None, page_size: int = PAGE
) -> list[kb.ImportReport]:
    """Import what is new in the server's readable collections (or the one named by id or
    title); one report per page that carried objects."""
    url = url if url.endswith("/") else url + "/"
    headers = {"Accept": MEDIA, "Authorization": f"Bearer {token}", "User-Agent": "crownwatch"}
    reports: list[kb.ImportReport] = []
    found = False
    with httpx.Client(headers=headers, timeout=TIMEOUT, follow_redirects=False) as http:
        for root in _api_roots(http, url):
            listing, _ = _get(http, urljoin(root, "collections/"), {})
            for coll in listing.get("collections") or []:
                if not isinstance(coll, dict) or not isinstance(coll.get("id"), str):
                    continue
                names = (coll["id"], coll.get("title"), coll.get("alias"))
                if collection is not None and collection not in names:
                    continue
                found = True
                if coll.get("can_read") is not True:
                    if collection is not None:
                        raise PollError(f"{url}: the token may not read collection {collection}")
                    continue
                reports.extend(_poll_collection(store, http, url, root, coll["id"], page_size))
    if collection is not None and not found:
        raise PollError(f"{url}: no collection {collection!r}")
    return reports


def _api_roots(http: httpx.Client, url: str) -> list[str]:
    """The API roots discovery lists on the server's own origin (or ``url`` if it is a root)."""
    doc, _ = _get(http, url, {})
    if "api_roots" not in doc and "versions" in doc:
        return [url]
    origin = urlsplit(url)[:2]
    roots: list[str] = []
    for ref in doc.get("api_roots") or []:
        if not isinstance(ref, str):
            continue
        root = urljoin(url, ref)
        root = root if root.endswith("/") else root + "/"
        if urlsplit(root)[:2] != origin:
            log.warning("skipping API root %.200s: not on %s://%s", root, *origin)
            continue
        roots.append(root)
    return roots


def _get(
    http: httpx.Client, url: str, params: dict[str, str]
) -> tuple[dict[str, Any], httpx.Headers]:
    """One TAXII answer as a JSON object, bounded in size, or ``PollError``."""
    body = bytearray()
    try:
        with http.stream("GET", url, params=params) as resp:
            if resp.status_code != 200:
                raise PollError(f"{url}: HTTP {resp.status_code}")
            kind = resp.headers.get("content-type", "").replace(" ", "").lower()
            if not kind.startswith("application/taxii+json"):
                raise PollError(f"{url}: not a TAXII answer but {kind[:100]!r}")
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE:
                    raise PollError(f"{url}: answer larger than {MAX_RESPONSE} bytes")
            answer_headers = resp.headers
    except httpx.HTTPError as exc:
        raise PollError(f"{url}: {exc}") from exc
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PollError(f"{url}: the answer is not JSON") from exc
    if not isinstance(doc, dict):
        raise PollError(f"{url}: the answer is not a JSON object")
    return doc, answer_headers


def _poll_collection(
    store: Store, http: httpx.Client, url: str, root: str, ident: str, page_size: int
) -> list[kb.ImportReport]:
    key = hashlib.sha256(f"{url}\0{root}\0{ident}".encode()).hexdigest()
    with Session(store.engine) as session:
        state = session.get(TaxiiPoll, key)
        since = state.added_after if state is not None else None
    objects_url = urljoin(root, f"collections/{quote(ident, safe='')}/objects/")
    source = f"taxii:{root}collections/{ident}/"
    first = {"limit": str(page_size), **({"added_after": since} if since else {})}
    params = dict(first)
    reports: list[kb.ImportReport] = []
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        doc, headers = _get(http, objects_url, params)
        objects = doc.get("objects") or []
        if not isinstance(objects, list):
            raise PollError(f"{objects_url}: objects is not a list")
        if objects:
            reports.append(kb.import_objects(store, objects, source))
        last = headers.get("X-TAXII-Date-Added-Last")
        if last and _later(last, since):
            since = last
            _remember(store, key, url, root, ident, since)
        if doc.get("more") is not True:
            break
        nxt = doc.get("next")
        if isinstance(nxt, str) and nxt and nxt not in seen:
            seen.add(nxt)
            params = {**first, "next": nxt}
        elif last and last != params.get("added_after"):  # a server without `next`
            params = {"limit": str(page_size), "added_after": last}
        else:
            break
    else:
        log.warning("%s: stopped after %d pages", objects_url, MAX_PAGES)
    _remember(store, key, url, root, ident, since)
    log.info("polled %s: %d pages with objects", objects_url, len(reports))
    return reports


def _when(text: str) -> datetime | None:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    try:
        base = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return base.replace(microsecond=int((match.group(2) or "").ljust(6, "0")[:6]), tzinfo=UTC)


def _later(a: str, b: str | None) -> bool:
    """Whether ``a`` is a valid timestamp after ``b`` (any valid one is after None)."""
    first, second = _when(a), _when(b) if b else None
    return first is not None and (second is None or first > second)


def _remember(store: Store, key: str, url: str, root: str, ident: str, since: str | None) -> None:
    with Session(store.engine) as session, session.begin():
        state = session.get(TaxiiPoll, key)
        if state is None:
            state = TaxiiPoll(id=key, url=url, api_root=root, collection_id=ident)
            session.add(state)
        state.added_after = since[:40] if since else None
        state.polled_at = datetime.now(UTC)
