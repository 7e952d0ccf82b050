"""TAXII 2.1 server routes over the knowledge base, under ``/taxii2/`` with one API root.

A collection is a view of the knowledge base (some sources, some types, or all); objects are
served from their stored JSON text, ordered by date added, a page at a time. Sharing rules:
TLP:RED never leaves; TLP:AMBER+STRICT only from collections that allow it; an object whose
newest version carries a withheld marking is withheld in every version.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from sqlalchemy import ColumnElement, Connection, Row, and_, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session, aliased
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from crownwatch.intel import kb, stixobj
from crownwatch.store import Store
from crownwatch.store.models import StixObject
from crownwatch.store.taxii_models import TaxiiCollection, TaxiiStatus, TaxiiToken

log = logging.getLogger(__name__)

MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
MAX_BODY = 10 * 1024 * 1024  # bytes of a POSTed envelope
MAX_LIMIT = 1000  # objects per page (also the default)
MAX_PAGE_CHARS = 16 * 1024 * 1024  # a page stops early rather than grow past this
MAX_MATCH = 100  # values per match[...] filter
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")
_IN = 500

router = APIRouter(prefix="/taxii2")


class TaxiiError(Exception):
    """An error answered as a TAXII error message."""

    def __init__(
        self, status: int, title: str, description: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(title)
        self.status, self.title, self.description, self.headers = (
            status,
            title,
            description,
            headers,
        )


@dataclass(frozen=True)
class Caller:
    """Who is asking: a token's name and the collections it may read and write."""

    name: str
    read: frozenset[str]
    write: frozenset[str]


@dataclass(frozen=True)
class Query:
    """The filters and paging of one request."""

    added_after: datetime | None
    limit: int
    after: tuple[datetime, str, str] | None  # the `next` cursor: date added, id, version
    ids: list[str]
    types: list[str]
    versions: list[str]
    spec_versions: list[str]


def install(app: FastAPI) -> None:
    """Add the TAXII routes to an app, with errors answered as TAXII error messages."""
    app.include_router(router)
    app.add_exception_handler(TaxiiError, _taxii_error)
    app.add_exception_handler(HTTPException, _http_error)


# -- plumbing ------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type=MEDIA)


def _error(status: int, title: str, description: str, headers: dict[str, str] | None) -> Response:
    body = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    return _json(body, status, headers)


async def _taxii_error(request: Request, exc: Exception) -> Response:
    err = cast(TaxiiError, exc)
    return _error(err.status, err.title, err.description, err.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    err = cast(HTTPException, exc)
    path = str(request.scope.get("path", "")).removeprefix(request.scope.get("root_path", ""))
    if not path.startswith("/taxii2/"):
        return await http_exception_handler(request, err)
    return _error(err.status_code, str(err.detail), "", dict(err.headers or {}))


def _store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


def _is_taxii(value: str, wildcard: bool) -> bool:
    """Whether a media type (range) is TAXII 2.1; a missing version means the newest, 2.1."""
    kind, *params = (p.strip().lower() for p in value.split(";"))
    if wildcard and kind in ("*/*", "application/*"):
        return True
    if kind != "application/taxii+json":
        return False
    for param in params:
        key, _, val = param.partition("=")
        if key.strip() == "version":
            return val.strip().strip('"') == "2.1"
    return True


def _caller(request: Request) -> Caller:
    """The token's rights (401 without a known token), once the Accept header is checked."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    challenge = {"WWW-Authenticate": 'Bearer realm="taxii"'}
    if scheme.lower() != "bearer" or not token:
        raise TaxiiError(
            401, "Authentication required", "Send Authorization: Bearer <token>.", challenge
        )
    digest = hashlib.sha256(token.encode()).hexdigest()
    with _store(request).engine.connect() as conn:
        row = conn.execute(
            select(TaxiiToken.name, TaxiiToken.read, TaxiiToken.write).where(
                TaxiiToken.sha256 == digest
            )
        ).first()
    if row is None:
        raise TaxiiError(401, "Unknown token", "The bearer token is not valid.", challenge)
    accept = request.headers.get("accept")
    if accept is not None and not any(_is_taxii(part, True) for part in accept.split(",")):
        raise TaxiiError(406, "Not acceptable", f"This server answers {MEDIA}.")
    return Caller(row.name, frozenset(row.read or ()), frozenset(row.write or ()))


CallerDep = Annotated[Caller, Depends(_caller)]


def _stamp(value: datetime) -> str:
    """A date added as TAXII writes it: UTC, microseconds, ``Z``."""
    if value.tzinfo is None:  # SQLite gives back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str, what: str) -> datetime:
    match = _TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        base = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise TaxiiError(
            400, f"Bad {what}", "Use an RFC 3339 UTC timestamp such as 2026-01-01T00:00:00.000Z."
        ) from None
    micro = int((match.group(2) or "").ljust(6, "0")[:6])
    return base.replace(microsecond=micro, tzinfo=UTC)


def _spellings(text: str) -> list[str]:
    """Every way a STIX timestamp can write the same instant (0 to 9 fraction digits)."""
    match = _TIME.fullmatch(text)
    if match is None:
        return []
    base, frac = match.group(1), (match.group(2) or "").rstrip("0")
    out = [] if frac else [f"{base}Z"]
    out.extend(f"{base}.{frac.ljust(n, '0')}Z" for n in range(max(len(frac), 1), 10))
    return out


def _cursor_text(row: Row[Any]) -> str:
    raw = orjson.dumps([_stamp(row.added_at), row.id, row.modified])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(text: str | None) -> tuple[datetime, str, str] | None:
    if not text:
        return None
    try:
        if len(text) > 2048:
            raise ValueError("too long")
        stamp, ident, modified = orjson.loads(
            base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
        if not all(isinstance(v, str) for v in (stamp, ident, modified)):
            raise ValueError("not strings")
    except (ValueError, TypeError):
        raise TaxiiError(
            400, "Bad next", "Pass back the `next` value of the previous page."
        ) from None
    return _parse_time(stamp, "next"), ident, modified


def _query(request: Request) -> Query:
    params = request.query_params

    def listed(name: str) -> list[str]:
        values = [v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip()]
        if len(values) > MAX_MATCH:
            raise TaxiiError(400, f"Too many values for {name}", f"At most {MAX_MATCH}.")
        return values

    limit = MAX_LIMIT
    if "limit" in params:
        text = params["limit"].strip()
        limit = int(text) if text.isdigit() and len(text) < 10 else 0
        if limit < 1:
            raise TaxiiError(400, "Bad limit", "limit must be a positive integer.")
        limit = min(limit, MAX_LIMIT)
    added_after = params.get("added_after")
    versions = listed("match[version]") or ["last"]
    for value in versions:
        if value not in ("first", "last", "all"):
            _parse_time(value, "match[version]")
    return Query(
        added_after=_parse_time(added_after, "added_after") if added_after else None,
        limit=limit,
        after=_cursor(params.get("next")),
        ids=listed("match[id]"),
        types=listed("match[type]"),
        versions=versions,
        spec_versions=listed("match[spec_version]"),
    )


# -- collections ---------------------------------------------------------------------------


def _collection(request: Request, collection_id: str) -> TaxiiCollection:
    with Session(_store(request).engine) as session:
        coll = session.get(TaxiiCollection, collection_id)
    if coll is None:
        raise TaxiiError(404, "No such collection", collection_id[:100])
    return coll


def _readable(request: Request, collection_id: str, caller: Caller) -> TaxiiCollection:
    coll = _collection(request, collection_id)
    if not (coll.can_read and coll.id in caller.read):
        raise TaxiiError(403, "Not allowed to read this collection")
    return coll


def _collection_resource(coll: TaxiiCollection, caller: Caller) -> dict[str, Any]:
    out: dict[str, Any] = {"id": coll.id, "title": coll.title}
    if coll.description:
        out["description"] = coll.description
    out["can_read"] = coll.can_read and coll.id in caller.read
    out["can_write"] = coll.can_write and coll.id in caller.write
    out["media_types"] = [STIX_MEDIA]
    return out


# -- the knowledge base as a collection -----------------------------------------------------


def _withheld(coll: TaxiiCollection) -> list[str]:
    return ["red"] if coll.allow_amber_strict else ["red", "amber+strict"]


def _row_visible(t: Any, coll: TaxiiCollection, q: Query) -> list[ColumnElement[bool]]:
    """Conditions on one stored version: its marking, source, type and spec version."""
    conds = [or_(t.tlp.is_(None), t.tlp.not_in(_withheld(coll)))]
    if coll.sources:
        conds.append(t.source.in_(coll.sources))
    if coll.types:
        conds.append(t.type.in_(coll.types))
    if q.spec_versions:
        conds.append(t.spec_version.in_(q.spec_versions))
    return conds


def _version(
    coll: TaxiiCollection, q: Query, value: str, object_id: str | None
) -> ColumnElement[bool]:
    t = StixObject
    if value == "last" and not (coll.sources or q.spec_versions):
        # every version has the same type, and a withheld newest version withholds them all:
        # the newest visible version is then the newest version
        return t.current.is_(True)
    if value in ("first", "last"):
        other = aliased(StixObject)
        pick = func.max if value == "last" else func.min
        chosen = select(other.id, pick(other.modified)).where(*_row_visible(other, coll, q))
        if object_id is not None:
            chosen = chosen.where(other.id == object_id)
        if q.ids:
            chosen = chosen.where(other.id.in_(q.ids))
        if q.types:
            chosen = chosen.where(other.type.in_(q.types))
        return tuple_(t.id, t.modified).in_(chosen.group_by(other.id))
    return t.modified.in_(_spellings(value))


def _filters(coll: TaxiiCollection, q: Query, object_id: str | None) -> list[ColumnElement[bool]]:
    t = StixObject
    newest = aliased(StixObject)
    conds = _row_visible(t, coll, q)
    conds.append(
        ~exists().where(newest.id == t.id, newest.current, newest.tlp.in_(_withheld(coll)))
    )
    if object_id is not None:
        conds.append(t.id == object_id)
    if q.ids:
        conds.append(t.id.in_(q.ids))
    if q.types:
        conds.append(t.type.in_(q.types))
    if "all" not in q.versions:
        conds.append(or_(*(_version(coll, q, v, object_id) for v in q.versions)))
    if q.added_after is not None:
        conds.append(t.added_at > q.added_after)
    if q.after is not None:
        added, ident, modified = q.after
        conds.append(
            or_(
                t.added_at > added,
                and_(
                    t.added_at == added,
                    or_(t.id > ident, and_(t.id == ident, t.modified > modified)),
                ),
            )
        )
    return conds


def _rows(
    conn: Connection, columns: tuple[Any, ...], conds: list[ColumnElement[bool]], limit: int
) -> tuple[list[Row[Any]], bool]:
    """One page in date-added order, and whether more follow; stops early past MAX_PAGE_CHARS."""
    t = StixObject
    stmt = (
        select(*columns)
        .where(*conds)
        .order_by(t.added_at, t.id, t.modified)
        .limit(limit + 1)
        .execution_options(yield_per=100)
    )
    rows: list[Row[Any]] = []
    chars, more = 0, False
    result = conn.execute(stmt)
    for row in result:
        size = len(row.object) if "object" in row._fields else 0
        if len(rows) == limit or (rows and chars + size > MAX_PAGE_CHARS):
            more = True
            break
        rows.append(row)
        chars += size
    result.close()
    return rows, more


def _page_headers(rows: list[Row[Any]]) -> dict[str, str]:
    if not rows:
        return {}
    return {
        "X-TAXII-Date-Added-First": _stamp(rows[0].added_at),
        "X-TAXII-Date-Added-Last": _stamp(rows[-1].added_at),
    }


def _page(
    request: Request,
    coll: TaxiiCollection,
    q: Query,
    object_id: str | None,
    columns: tuple[Any, ...],
) -> tuple[list[Row[Any]], bool]:
    with _store(request).engine.connect() as conn:
        rows, more = _rows(conn, columns, _filters(coll, q, object_id), q.limit)
        if not rows and object_id is not None and q.after is None:
            everything = replace(
                q, versions=["all"], added_after=None, spec_versions=[], ids=[], types=[]
            )
            if not conn.execute(
                select(exists().where(*_filters(coll, everything, object_id)))
            ).scalar():
                raise TaxiiError(404, "No such object in this collection", object_id[:300])
    return rows, more


def _envelope(request: Request, coll: TaxiiCollection, object_id: str | None) -> Response:
    t = StixObject
    rows, more = _page(
        request, coll, _query(request), object_id, (t.id, t.modified, t.added_at, t.object)
    )
    parts = [b'{"more":', b"true" if more else b"false"]
    if more:
        parts += [b',"next":', orjson.dumps(_cursor_text(rows[-1]))]
    if rows:
        parts += [b',"objects":[', b",".join(r.object.encode() for r in rows), b"]"]
    parts.append(b"}")
    return Response(b"".join(parts), 200, _page_headers(rows), media_type=MEDIA)


# -- routes ----------------------------------------------------------------------------------


@router.get("/")
def discovery(request: Request, caller: CallerDep) -> Response:
    root = f"{request.base_url}taxii2/api/"
    return _json(
        {
            "title": "crownwatch TAXII 2.1",
            "description": "The crownwatch threat-intelligence knowledge base.",
            "default": root,
            "api_roots": [root],
        }
    )


@router.get("/api/")
def api_root(caller: CallerDep) -> Response:
    return _json(
        {
            "title": "crownwatch knowledge base",
            "description": "STIX 2.1 objects of the knowledge base, by collection.",
            "versions": [MEDIA],
            "max_content_length": MAX_BODY,
        }
    )


@router.get("/api/status/{status_id}/")
def status(status_id: str, request: Request, caller: CallerDep) -> Response:
    with Session(_store(request).engine) as session:
        row = session.get(TaxiiStatus, status_id)
    if row is None or row.token_name != caller.name:
        raise TaxiiError(404, "No such status", status_id[:100])
    return _json(_status_resource(row))


@router.get("/api/collections/")
def collections(request: Request, caller: CallerDep) -> Response:
    allowed = sorted(caller.read | caller.write)
    with Session(_store(request).engine) as session:
        found = session.scalars(
            select(TaxiiCollection)
            .where(TaxiiCollection.id.in_(allowed))
            .order_by(TaxiiCollection.created_at, TaxiiCollection.id)
        ).all()
    listed = [_collection_resource(c, caller) for c in found]
    return _json({"collections": listed} if listed else {})


@router.get("/api/collections/{collection_id}/")
def collection(collection_id: str, request: Request, caller: CallerDep) -> Response:
    coll = _collection(request, collection_id)
    if coll.id not in caller.read | caller.write:
        raise TaxiiError(403, "Not allowed to see this collection")
    return _json(_collection_resource(coll, caller))


@router.get("/api/collections/{collection_id}/objects/")
def get_objects(collection_id: str, request: Request, caller: CallerDep) -> Response:
    return _envelope(request, _readable(request, collection_id, caller), None)


@router.get("/api/collections/{collection_id}/objects/{object_id}/")
def get_object(collection_id: str, object_id: str, request: Request, caller: CallerDep) -> Response:
    return _envelope(request, _readable(request, collection_id, caller), object_id)


@router.get("/api/collections/{collection_id}/objects/{object_id}/versions/")
def versions(collection_id: str, object_id: str, request: Request, caller: CallerDep) -> Response:
    coll = _readable(request, collection_id, caller)
    q = replace(_query(request), versions=["all"], ids=[], types=[])
    t = StixObject
    rows, more = _page(request, coll, q, object_id, (t.id, t.modified, t.added_at))
    body: dict[str, Any] = {"more": more}
    if more:
        body["next"] = _cursor_text(rows[-1])
    if rows:
        body["versions"] = [r.modified or _stamp(r.added_at) for r in rows]
    return _json(body, headers=_page_headers(rows))


@router.get("/api/collections/{collection_id}/manifest/")
def manifest(collection_id: str, request: Request, caller: CallerDep) -> Response:
    coll = _readable(request, collection_id, caller)
    t = StixObject
    rows, more = _page(
        request, coll, _query(request), None, (t.id, t.modified, t.added_at, t.spec_version)
    )
    body: dict[str, Any] = {"more": more}
    if more:
        body["next"] = _cursor_text(rows[-1])
    if rows:
        body["objects"] = [
            {
                "id": r.id,
                "date_added": _stamp(r.added_at),
                "version": r.modified or _stamp(r.added_at),
                "media_type": f"application/stix+json;version={r.spec_version}",
            }
            for r in rows
        ]
    return _json(body, headers=_page_headers(rows))


@router.post("/api/collections/{collection_id}/objects/")
async def add_objects(collection_id: str, request: Request, caller: CallerDep) -> Response:
    if not _is_taxii(request.headers.get("content-type", ""), False):
        raise TaxiiError(415, "Unsupported media type", f"Send the envelope as {MEDIA}.")
    coll = await run_in_threadpool(_collection, request, collection_id)
    if not (coll.can_write and coll.id in caller.write):
        raise TaxiiError(403, "Not allowed to write to this collection")
    objects = _envelope_objects(await _body(request))
    resource = await run_in_threadpool(_add, _store(request), coll, caller, objects)
    return _json(resource, 202)


# -- adding objects --------------------------------------------------------------------------


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    too_big = TaxiiError(413, "Envelope too large", f"At most {MAX_BODY} bytes per request.")
    if declared.isdigit() and (len(declared) > 12 or int(declared) > MAX_BODY):
        raise too_big
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise too_big
    return bytes(data)


def _envelope_objects(body: bytes) -> list[Any]:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise TaxiiError(400, "The body is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise TaxiiError(400, "Not a TAXII envelope", 'Send {"objects": [ ... ]}.')
    return cast(list[Any], envelope["objects"])


def _check(obj: Any, coll: TaxiiCollection) -> tuple[str, str, str | None, bool]:
    """(id, version, why it fails or None, whether to hand it to the knowledge base)."""
    ident = version = ""
    if isinstance(obj, dict):
        ident = str(obj.get("id", ""))[:300]
        version = str(obj.get("modified") or obj.get("created") or "")[:40]
    try:
        norm = stixobj.normalise(obj)
        stixobj.indexed_values(norm)
        stixobj.row(norm, "", None)
    except stixobj.Rejected as exc:
        return ident, version, str(exc)[:1000], True  # kept among the rejects with its reason
    if coll.types and norm["type"] not in coll.types:
        return ident, version, f"this collection takes only {', '.join(coll.types)}", False
    return ident, version, None, True


def _stored(store: Store, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    ids = sorted({i for i, _ in keys})
    found: set[tuple[str, str]] = set()
    with store.engine.connect() as conn:
        for start in range(0, len(ids), _IN):
            part = ids[start : start + _IN]
            found.update(
                (i, m)
                for i, m in conn.execute(
                    select(StixObject.id, StixObject.modified).where(StixObject.id.in_(part))
                )
            )
    return found & keys


def _add(store: Store, coll: TaxiiCollection, caller: Caller, objects: list[Any]) -> dict[str, Any]:
    """Import an envelope's objects with source ``taxii:<collection id>``; its status resource."""
    requested = datetime.now(UTC)
    checks = [_check(obj, coll) for obj in objects]
    report = kb.import_objects(
        store, [o for o, c in zip(objects, checks, strict=True) if c[3]], f"taxii:{coll.id}"
    )
    kept = _stored(store, {(i, v) for i, v, why, _ in checks if why is None})
    successes: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for ident, version, why, _ in checks:
        shown = version or _stamp(requested)
        if why is None and (ident, version) in kept:
            successes.append({"id": ident, "version": shown})
            continue
        if why is None:  # the knowledge base refused what the checks above let through
            why = next((r for r in report.reasons if ident and ident in r), "not kept")
        failures.append({"id": ident, "version": shown, "message": why})
    row = TaxiiStatus(
        id=str(uuid.uuid4()),
        status="complete",
        collection_id=coll.id,
        token_name=caller.name,
        request_time=requested,
        total_count=len(checks),
        success_count=len(successes),
        failure_count=len(failures),
        pending_count=0,
        successes=successes,
        failures=failures,
        pendings=[],
    )
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    log.info(
        "TAXII add to %s by %s: %d kept, %d failed (import %s)",
        coll.id,
        caller.name,
        len(successes),
        len(failures),
        report.id,
    )
    return _status_resource(row)


def _status_resource(row: TaxiiStatus) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "request_timestamp": _stamp(row.request_time),
        "total_count": row.total_count,
        "success_count": row.success_count,
        "successes": row.successes,
        "failure_count": row.failure_count,
        "failures": row.failures,
        "pending_count": row.pending_count,
        "pendings": row.pendings,
    }
