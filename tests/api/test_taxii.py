"""The TAXII 2.1 server and client over the knowledge base.

Every endpoint, filter and paging path through FastAPI's TestClient (SQLite, and PostgreSQL
for paging and POST); auth, media types and TLP sharing rules; interop with the reference
``taxii2-client`` against the server in uvicorn; and crownwatch's own poller.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import requests
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from crownwatch import config
from crownwatch.api import taxii
from crownwatch.api.app import add_collection, add_token, create_app
from crownwatch.errors import UsageError
from crownwatch.intel import attack, kb, taxii_client
from crownwatch.store import Store
from crownwatch.store.models import IntelImport, IntelRejected, StixObject
from crownwatch.store.taxii_models import TaxiiPoll, TaxiiToken

MEDIA = "application/taxii+json;version=2.1"
T0, T1 = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"
TLP = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def _id(kind: str, n: int) -> str:
    return f"{kind}--00000000-0000-4000-8000-{n:012d}"


def _indicator(n: int, value: str, modified: str = T0, tlp: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _id("indicator", n),
        "created": T0,
        "modified": modified,
        "name": f"indicator {n}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": T0,
    }
    if tlp:
        obj["object_marking_refs"] = [TLP[tlp]]
    return obj


def _malware(n: int, name: str) -> dict[str, Any]:
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": _id("malware", n),
        "created": T0,
        "modified": T0,
        "name": name,
        "is_family": True,
    }


I1, I2, I3, I4, I5, I7, I9 = (_id("indicator", n) for n in (1, 2, 3, 4, 5, 7, 9))
M6 = _id("malware", 6)


@dataclass
class World:
    """A server app over a store with three imports, four collections and three tokens."""

    app: FastAPI
    client: TestClient
    store: Store
    open: str  # everything, readable and writable
    strict: str  # everything, AMBER+STRICT allowed
    feed: str  # indicators from source feed-b only
    inbox: str  # writable, takes indicators only
    token: str  # reads all four, writes open and inbox
    reader: str  # reads open only

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Accept": MEDIA, "Authorization": f"Bearer {token or self.token}"}
        resp: httpx.Response = self.client.get(
            f"/taxii2/api/{path}", headers=headers, params=params
        )
        return resp

    def post(self, coll: str, body: bytes, token: str | None = None) -> httpx.Response:
        headers = {
            "Accept": MEDIA,
            "Content-Type": MEDIA,
            "Authorization": f"Bearer {token or self.token}",
        }
        resp: httpx.Response = self.client.post(
            f"/taxii2/api/collections/{coll}/objects/", headers=headers, content=body
        )
        return resp


def _settings(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> config.Settings:
    env = {}
    if backend == "postgres":
        env["CROWNWATCH_DATABASE_URL"] = request.getfixturevalue("pg_url")
    return config.load(home=tmp_path / "server", environ=env)


def _build(settings: config.Settings) -> World:
    app = create_app(settings)
    store: Store = app.state.store
    # three imports, so three dates added: A, then B (a newer version of I1), then C
    kb.import_objects(
        store,
        [
            _indicator(1, "10.0.0.1", tlp="clear"),
            _indicator(2, "10.0.0.2", tlp="green"),
            _indicator(3, "10.0.0.3", tlp="red"),
            _indicator(4, "10.0.0.4", tlp="amber+strict"),
            _indicator(5, "10.0.0.5", tlp="amber"),
            _malware(6, "ShadowPad"),
            _indicator(9, "10.0.0.9", tlp="green"),
        ],
        "feed-a",
    )
    kb.import_objects(
        store,
        [_indicator(1, "10.1.1.1", modified=T1, tlp="clear"), _indicator(7, "10.0.0.7")],
        "feed-b",
    )
    kb.import_objects(store, [_indicator(9, "10.0.0.9", modified=T1, tlp="red")], "feed-a")
    everything = add_collection(store, "open", "All that may be shared", can_write=True)
    strict = add_collection(store, "strict", allow_amber_strict=True)
    feed = add_collection(store, "feed-b indicators", sources=["feed-b"], types=["indicator"])
    inbox = add_collection(store, "inbox", can_write=True, types=["indicator"])
    ids = [everything["id"], strict["id"], feed["id"], inbox["id"]]
    token = add_token(store, "partner", read=ids, write=[everything["id"], inbox["id"]])
    reader = add_token(store, "reader", read=[everything["id"]])
    return World(
        app,
        TestClient(app),
        store,
        everything["id"],
        strict["id"],
        feed["id"],
        inbox["id"],
        token,
        reader,
    )


@pytest.fixture()
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = _build(_settings(request, tmp_path, "sqlite"))
    yield w
    w.store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = _build(_settings(request, tmp_path, request.param))
    yield w
    w.store.close()


def _objects(resp: httpx.Response) -> list[tuple[str, str]]:
    assert resp.status_code == 200, resp.text
    return [(o["id"], o["modified"]) for o in resp.json().get("objects", [])]


# -- discovery, API root, collections ------------------------------------------------------


def test_discovery_and_api_root(world: World) -> None:
    headers = {"Accept": MEDIA, "Authorization": f"Bearer {world.token}"}
    resp = world.client.get("/taxii2/", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == MEDIA
    body = resp.json()
    assert body["api_roots"] == ["http://testserver/taxii2/api/"]
    assert body["default"] == "http://testserver/taxii2/api/"
    assert body["title"] == "crownwatch TAXII 2.1"
    root = world.get("")
    assert root.headers["content-type"] == MEDIA
    assert root.json()["versions"] == [MEDIA]
    assert root.json()["max_content_length"] == taxii.MAX_BODY


def test_collections_show_each_token_its_own_rights(world: World) -> None:
    mine = {c["title"]: c for c in world.get("collections/").json()["collections"]}
    assert set(mine) == {"open", "strict", "feed-b indicators", "inbox"}
    assert (mine["open"]["can_read"], mine["open"]["can_write"]) == (True, True)
    assert (mine["strict"]["can_read"], mine["strict"]["can_write"]) == (True, False)
    assert mine["open"]["description"] == "All that may be shared"
    assert mine["open"]["media_types"] == ["application/stix+json;version=2.1"]
    theirs = world.get("collections/", token=world.reader).json()["collections"]
    assert [(c["id"], c["can_read"], c["can_write"]) for c in theirs] == [(world.open, True, False)]
    one = world.get(f"collections/{world.feed}/")
    assert one.json()["id"] == world.feed and one.json()["title"] == "feed-b indicators"
    assert world.get(f"collections/{world.feed}/", token=world.reader).status_code == 403
    missing = world.get("collections/00000000-0000-4000-8000-000000000000/")
    assert missing.status_code == 404
    assert missing.json()["http_status"] == "404"


# -- auth and media types -------------------------------------------------------------------


def test_tokens_are_required_and_rights_enforced(world: World) -> None:
    bare = world.client.get("/taxii2/", headers={"Accept": MEDIA})
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer")
    assert bare.headers["content-type"] == MEDIA
    assert bare.json()["title"] == "Authentication required"
    wrong = world.get("collections/", token="not-a-token")
    assert wrong.status_code == 401 and wrong.json()["title"] == "Unknown token"
    basic = world.client.get(
        "/taxii2/api/", headers={"Accept": MEDIA, "Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert basic.status_code == 401
    denied = world.get(f"collections/{world.strict}/objects/", token=world.reader)
    assert denied.status_code == 403 and denied.json()["http_status"] == "403"
    assert world.get(f"collections/{world.feed}/manifest/", token=world.reader).status_code == 403
    assert world.get(f"collections/{world.open}/objects/", token=world.reader).status_code == 200
    # only the hash is kept
    with world.store.engine.connect() as conn:
        kept = conn.execute(select(TaxiiToken.sha256).where(TaxiiToken.name == "partner")).scalar()
    assert kept is not None and len(kept) == 64 and world.token not in kept


def test_token_rotation_and_unknown_collections(world: World) -> None:
    fresh = add_token(world.store, "reader", read=[world.feed])
    assert world.get("collections/", token=world.reader).status_code == 401
    listed = world.get("collections/", token=fresh).json()["collections"]
    assert [c["id"] for c in listed] == [world.feed]
    with pytest.raises(UsageError, match="no such collection"):
        add_token(world.store, "x", read=["00000000-0000-4000-8000-000000000000"])
    with pytest.raises(UsageError):
        add_collection(world.store, "  ")


def test_media_types_406_and_415(world: World) -> None:
    auth = {"Authorization": f"Bearer {world.token}"}
    path = f"/taxii2/api/collections/{world.open}/objects/"
    for accept in ("application/json", "application/taxii+json;version=2.0", "text/html"):
        resp = world.client.get(path, headers={**auth, "Accept": accept})
        assert resp.status_code == 406, accept
        assert resp.headers["content-type"] == MEDIA
    for accept in ("application/taxii+json", "application/taxii+json; version=2.1", "*/*"):
        assert world.client.get(path, headers={**auth, "Accept": accept}).status_code == 200
    assert world.client.get(path, headers=auth).status_code == 200  # no Accept: anything
    body = b'{"objects": []}'
    for kind in ("application/json", "application/taxii+json;version=2.0", "text/plain"):
        resp = world.client.post(
            path, headers={**auth, "Accept": MEDIA, "Content-Type": kind}, content=body
        )
        assert resp.status_code == 415, kind
    ok = world.client.post(
        path,
        headers={**auth, "Accept": MEDIA, "Content-Type": "application/taxii+json"},
        content=body,
    )
    assert ok.status_code == 202 and ok.json()["total_count"] == 0


def test_bad_requests_are_taxii_errors(world: World) -> None:
    objects = f"collections/{world.open}/objects/"
    for params in (
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"added_after": "yesterday"},
        {"match[version]": "newest"},
        {"next": "bm9wZQ"},
        {"next": "%%%"},
        {"match[type]": ",".join(["indicator"] * 101)},
    ):
        resp = world.get(objects, **params)
        assert resp.status_code == 400, params
        assert resp.headers["content-type"] == MEDIA and resp.json()["http_status"] == "400"
    gone = world.client.delete(
        f"/taxii2/api/{objects}{I1}/",
        headers={"Accept": MEDIA, "Authorization": f"Bearer {world.token}"},
    )
    assert gone.status_code == 405 and gone.json()["http_status"] == "405"
    nowhere = world.get("nowhere/")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == MEDIA
    outside = world.client.get("/not-taxii")  # the rest of the app keeps FastAPI's errors
    assert outside.status_code == 404 and outside.json() == {"detail": "Not Found"}


# -- objects, filters, TLP ------------------------------------------------------------------


def test_objects_default_to_the_last_visible_version(world: World) -> None:
    resp = world.get(f"collections/{world.open}/objects/")
    assert resp.headers["content-type"] == MEDIA
    assert _objects(resp) == [(I2, T0), (I5, T0), (M6, T0), (I1, T1), (I7, T0)]
    body = resp.json()
    assert body["more"] is False and "next" not in body
    newest = next(o for o in body["objects"] if o["id"] == I1)
    assert newest["pattern"] == "[ipv4-addr:value = '10.1.1.1']"
    assert next(o for o in body["objects"] if o["id"] == M6)["name"] == "ShadowPad"
    manifest = world.get(f"collections/{world.open}/manifest/").json()["objects"]
    assert resp.headers["x-taxii-date-added-first"] == manifest[0]["date_added"]
    assert resp.headers["x-taxii-date-added-last"] == manifest[-1]["date_added"]


def test_red_never_leaves_and_amber_strict_only_where_allowed(world: World) -> None:
    def everywhere(coll: str) -> set[str]:
        seen = {
            i
            for i, _ in _objects(
                world.get(f"collections/{coll}/objects/", **{"match[version]": "all"})
            )
        }
        seen |= {
            r["id"]
            for r in world.get(f"collections/{coll}/manifest/", **{"match[version]": "all"}).json()[
                "objects"
            ]
        }
        return seen

    open_ids, strict_ids = everywhere(world.open), everywhere(world.strict)
    assert I3 not in open_ids | strict_ids  # red
    assert I9 not in open_ids | strict_ids  # its newest version is red: no version leaves
    assert I4 not in open_ids and I4 in strict_ids  # amber+strict
    assert I5 in open_ids  # amber is shared
    for coll in (world.open, world.strict):
        assert world.get(f"collections/{coll}/objects/{I3}/").status_code == 404
        assert world.get(f"collections/{coll}/objects/{I9}/versions/").status_code == 404
        assert (
            world.get(f"collections/{coll}/objects/{I9}/", **{"match[version]": T0}).status_code
            == 404
        )
    assert world.get(f"collections/{world.open}/objects/{I4}/").status_code == 404
    assert _objects(world.get(f"collections/{world.strict}/objects/{I4}/")) == [(I4, T0)]


def test_version_filters(world: World) -> None:
    path = f"collections/{world.open}/objects/"
    everything = _objects(world.get(path, **{"match[version]": "all"}))
    assert everything == [(I1, T0), (I2, T0), (I5, T0), (M6, T0), (I1, T1), (I7, T0)]
    assert _objects(world.get(path, **{"match[version]": "first"})) == [
        (I1, T0),
        (I2, T0),
        (I5, T0),
        (M6, T0),
        (I7, T0),
    ]
    # a timestamp matches however many fraction digits it is written with
    for spelling in ("2026-02-01T00:00:00Z", "2026-02-01T00:00:00.000000Z"):
        assert _objects(world.get(path, **{"match[version]": spelling})) == [(I1, T1)]
    assert _objects(world.get(path, **{"match[version]": f"first,{T1}"})) == [
        (I1, T0),
        (I2, T0),
        (I5, T0),
        (M6, T0),
        (I1, T1),
        (I7, T0),
    ]
    # first and last are taken within the collection's view: feed-b only has I1 at T1
    feed = f"collections/{world.feed}/objects/"
    assert _objects(world.get(feed, **{"match[version]": "first"})) == [(I1, T1), (I7, T0)]
    assert _objects(world.get(feed, **{"match[version]": "all"})) == [(I1, T1), (I7, T0)]
    assert _objects(world.get(feed)) == [(I1, T1), (I7, T0)]
    # and feed-a never sent the newer I1: its last I1 is the first one
    only_a = add_collection(world.store, "feed-a", sources=["feed-a"])["id"]
    token = add_token(world.store, "a-reader", read=[only_a])
    path_a = f"collections/{only_a}/objects/"
    assert _objects(world.get(path_a, token)) == [(I1, T0), (I2, T0), (I5, T0), (M6, T0)]
    assert _objects(world.get(f"{path_a}{I1}/", token)) == [(I1, T0)]
    assert world.get(f"{path_a}{I7}/", token).status_code == 404


def test_match_and_added_after_filters(world: World) -> None:
    path = f"collections/{world.open}/objects/"
    assert _objects(world.get(path, **{"match[type]": "malware"})) == [(M6, T0)]
    assert _objects(world.get(path, **{"match[type]": "malware,indicator"}))[0] == (I2, T0)
    assert _objects(world.get(path, **{"match[id]": f"{I7},{M6},{I3}"})) == [(M6, T0), (I7, T0)]
    assert _objects(world.get(path, **{"match[spec_version]": "2.1"}))[-1] == (I7, T0)
    assert _objects(world.get(path, **{"match[spec_version]": "2.0"})) == []
    assert world.get(path, **{"match[spec_version]": "2.0"}).json() == {"more": False}
    first_batch = world.get(path, **{"match[id]": I2}).headers["x-taxii-date-added-last"]
    later = world.get(path, added_after=first_batch)
    assert _objects(later) == [(I1, T1), (I7, T0)]
    assert later.headers["x-taxii-date-added-first"] > first_batch
    assert _objects(world.get(path, added_after=later.headers["x-taxii-date-added-last"])) == []
    feed = f"collections/{world.feed}/objects/"
    assert _objects(world.get(feed, **{"match[type]": "malware"})) == []


def test_object_versions_and_manifest(world: World) -> None:
    one = f"collections/{world.open}/objects/{I1}/"
    assert _objects(world.get(one)) == [(I1, T1)]
    assert _objects(world.get(one, **{"match[version]": "all"})) == [(I1, T0), (I1, T1)]
    assert _objects(world.get(one, **{"match[version]": T0})) == [(I1, T0)]
    assert world.get(f"collections/{world.open}/objects/{_id('indicator', 99)}/").status_code == 404
    versions = world.get(f"{one}versions/")
    assert versions.json() == {"more": False, "versions": [T0, T1]}
    assert (
        versions.headers["x-taxii-date-added-first"] < versions.headers["x-taxii-date-added-last"]
    )
    paged = world.get(f"{one}versions/", limit=1).json()
    assert paged["versions"] == [T0] and paged["more"] is True
    rest = world.get(f"{one}versions/", limit=1, next=paged["next"]).json()
    assert rest == {"more": False, "versions": [T1]}
    manifest = world.get(f"collections/{world.open}/manifest/")
    records = manifest.json()["objects"]
    assert [(r["id"], r["version"]) for r in records] == [
        (I2, T0),
        (I5, T0),
        (M6, T0),
        (I1, T1),
        (I7, T0),
    ]
    assert {r["media_type"] for r in records} == {"application/stix+json;version=2.1"}
    assert records[0]["date_added"] == records[1]["date_added"] < records[3]["date_added"]
    assert manifest.headers["x-taxii-date-added-last"] == records[-1]["date_added"]
    page = world.get(f"collections/{world.open}/manifest/", limit=2).json()
    assert [r["id"] for r in page["objects"]] == [I2, I5] and page["more"] is True


def test_paging_with_next_covers_every_object_once(any_world: World) -> None:
    w = any_world
    path = f"collections/{w.open}/objects/"
    whole = _objects(w.get(path, **{"match[version]": "all"}))
    pages: list[list[tuple[str, str]]] = []
    params: dict[str, Any] = {"match[version]": "all", "limit": 2}
    while True:
        resp = w.get(path, **params)
        body = resp.json()
        pages.append(_objects(resp))
        dates = [
            r["date_added"]
            for r in w.get(f"collections/{w.open}/manifest/", **params).json()["objects"]
        ]
        assert resp.headers["x-taxii-date-added-first"] == dates[0]
        assert resp.headers["x-taxii-date-added-last"] == dates[-1]
        if not body["more"]:
            assert "next" not in body
            break
        params["next"] = body["next"]
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [o for p in pages for o in p] == whole
    assert len(whole) == 6
    # paging and added_after together: the newer import only, one object a page
    since = w.get(path, **{"match[id]": I2}).headers["x-taxii-date-added-last"]
    first = w.get(path, added_after=since, limit=1).json()
    assert [o["id"] for o in first["objects"]] == [I1] and first["more"] is True
    second = w.get(path, added_after=since, limit=1, next=first["next"]).json()
    assert [o["id"] for o in second["objects"]] == [I7] and second["more"] is False


def test_pages_stop_early_when_large(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(taxii, "MAX_PAGE_CHARS", 1)  # every page holds a single object
    body = world.get(f"collections/{world.open}/objects/").json()
    assert [o["id"] for o in body["objects"]] == [I2] and body["more"] is True


# -- adding objects and status --------------------------------------------------------------


def test_post_objects_and_read_the_status(any_world: World) -> None:
    w = any_world
    envelope = {
        "objects": [
            _indicator(20, "192.0.2.20"),
            _indicator(21, "192.0.2.21", tlp="red"),
            _malware(22, "PlugX"),  # the inbox takes indicators only
            {**_indicator(23, "x"), "pattern": "[ipv4-addr:value = "},
            "not an object",
        ]
    }
    resp = w.post(w.inbox, orjson.dumps(envelope))
    assert resp.status_code == 202
    assert resp.headers["content-type"] == MEDIA
    status = resp.json()
    assert (status["status"], status["total_count"]) == ("complete", 5)
    assert (status["success_count"], status["failure_count"], status["pending_count"]) == (2, 3, 0)
    assert status["successes"] == [
        {"id": _id("indicator", 20), "version": T0},
        {"id": _id("indicator", 21), "version": T0},
    ]
    why = {f["id"]: f["message"] for f in status["failures"]}
    assert why[_id("malware", 22)] == "this collection takes only indicator"
    assert "bad pattern" in why[_id("indicator", 23)]
    assert "not a JSON object" in why[""]
    again = w.get(f"status/{status['id']}/")
    assert again.status_code == 200 and again.json() == status
    assert w.get(f"status/{status['id']}/", token=w.reader).status_code == 404
    # in the knowledge base with the collection as source; the bad one among the rejects
    with w.store.engine.connect() as conn:
        sources = dict(
            conn.execute(
                select(StixObject.id, StixObject.source).where(
                    StixObject.id.in_([_id("indicator", 20), _id("indicator", 21)])
                )
            ).all()
        )
        rejected = (
            conn.execute(
                select(IntelRejected.reason)
                .join(IntelImport, IntelImport.id == IntelRejected.import_id)
                .where(IntelImport.source == f"taxii:{w.inbox}")
            )
            .scalars()
            .all()
        )
    assert sources == {
        _id("indicator", 20): f"taxii:{w.inbox}",
        _id("indicator", 21): f"taxii:{w.inbox}",
    }
    assert len(rejected) == 2 and any("bad pattern" in r for r in rejected)
    assert kb.get(w.store, _id("malware", 22)) is None
    # readable from the collection, except the red one
    ids = [i for i, _ in _objects(w.get(f"collections/{w.inbox}/objects/"))]
    assert _id("indicator", 20) in ids and _id("indicator", 21) not in ids
    # posting the same again: all kept (unchanged), nothing new
    same = w.post(w.inbox, orjson.dumps({"objects": [_indicator(20, "192.0.2.20")]})).json()
    assert same["success_count"] == 1 and same["failure_count"] == 0


def test_post_rights_and_bad_bodies(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = b'{"objects": []}'
    assert world.post(world.feed, ok).status_code == 403  # the collection is not writable
    assert world.post(world.open, ok, token=world.reader).status_code == 403
    assert world.post("00000000-0000-4000-8000-000000000000", ok).status_code == 404
    for body in (b"{", b"[]", b'{"objects": {}}', b'{"more": false}'):
        resp = world.post(world.open, body)
        assert resp.status_code == 400, body
        assert resp.headers["content-type"] == MEDIA
    monkeypatch.setattr(taxii, "MAX_BODY", 1000)
    big = b'{"objects": [], "pad": "' + b"x" * 2000 + b'"}'
    assert world.post(world.open, big).status_code == 413
    chunked = world.client.post(
        f"/taxii2/api/collections/{world.open}/objects/",
        headers={"Accept": MEDIA, "Content-Type": MEDIA, "Authorization": f"Bearer {world.token}"},
        content=iter([big[:700], big[700:]]),  # no Content-Length: counted while read
    )
    assert chunked.status_code == 413 and chunked.json()["title"] == "Envelope too large"


# -- real data --------------------------------------------------------------------------------


def test_attack_groups_paged_from_a_typed_collection(tmp_path: Path) -> None:
    app = create_app(config.load(home=tmp_path, environ={}))
    store: Store = app.state.store
    kb.import_objects(store, copy.deepcopy(attack.objects()), attack.SOURCE, default_tlp="clear")
    groups = add_collection(
        store, "ATT&CK groups", sources=[attack.SOURCE], types=["intrusion-set"]
    )
    token = add_token(store, "analyst", read=[groups["id"]])
    client = TestClient(app)
    headers = {"Accept": MEDIA, "Authorization": f"Bearer {token}"}
    url = f"/taxii2/api/collections/{groups['id']}/objects/"
    names: dict[str, str] = {}
    params: dict[str, Any] = {"limit": 40}
    pages = 0
    while True:
        body = client.get(url, headers=headers, params=params).json()
        pages += 1
        for obj in body.get("objects", []):
            assert obj["type"] == "intrusion-set" and obj["spec_version"] == "2.1"
            names[obj["name"]] = next(
                r["external_id"]
                for r in obj["external_references"]
                if r["source_name"] == "mitre-attack"
            )
        if not body["more"]:
            break
        params["next"] = body["next"]
    assert names["APT41"] == "G0096" and names["APT29"] == "G0016"
    assert len(names) == kb.counts(store)["intrusion-set"]
    assert pages == -(-len(names) // 40)
    store.close()


# -- over the network: taxii2-client and crownwatch's poller ---------------------------------


@contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    """The app in uvicorn on a free 127.0.0.1 port, in a thread; yields the discovery URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/taxii2/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def test_interop_with_taxii2_client(world: World) -> None:
    from taxii2client.v21 import Server, as_pages

    with _serving(world.app) as url:
        server = Server(url, auth=_Bearer(world.token))
        assert server.title == "crownwatch TAXII 2.1"
        [root] = server.api_roots
        assert root.url == url + "api/"
        assert root.versions == [MEDIA]
        by_title = {c.title: c for c in root.collections}
        assert set(by_title) == {"open", "strict", "feed-b indicators", "inbox"}
        coll = by_title["open"]
        assert (coll.id, coll.can_read, coll.can_write) == (world.open, True, True)
        pages = list(as_pages(coll.get_objects, per_request=2))
        assert [len(p["objects"]) for p in pages] == [2, 2, 1]
        got = [(o["id"], o["modified"]) for p in pages for o in p["objects"]]
        assert got == [(I2, T0), (I5, T0), (M6, T0), (I1, T1), (I7, T0)]
        manifest = [
            r["id"] for p in as_pages(coll.get_manifest, per_request=3) for r in p["objects"]
        ]
        assert manifest == [I2, I5, M6, I1, I7]
        assert coll.get_object(I1)["objects"][0]["modified"] == T1
        assert coll.object_versions(I1)["versions"] == [T0, T1]
        status = coll.add_objects(
            {"objects": [_indicator(30, "198.51.100.30"), _malware(31, "Winnti")]}
        )
        assert status.status == "complete"
        assert (status.total_count, status.success_count, status.failure_count) == (2, 2, 0)
        assert {s["id"] for s in status.successes} == {_id("indicator", 30), _id("malware", 31)}
        again = root.get_status(status.id)
        assert again.success_count == 2 and again.successes == status.successes
        winnti = kb.get(world.store, _id("malware", 31))
        assert winnti is not None and winnti["name"] == "Winnti"
        reader = Server(url, auth=_Bearer(world.reader)).api_roots[0].collections
        assert [(c.id, c.can_write) for c in reader] == [(world.open, False)]


def test_poll_imports_only_what_is_new(world: World, tmp_path: Path) -> None:
    local = Store.open(config.load(home=tmp_path / "client", environ={}))
    with _serving(world.app) as url:
        first = taxii_client.poll(local, url, world.reader, page_size=2)
        assert [r.added for r in first] == [2, 2, 1]
        assert all(r.rejected == 0 for r in first)
        assert {r.source for r in first} == {f"taxii:{url}api/collections/{world.open}/"}
        kept = {o["id"]: o for o in kb.objects(local)}
        assert set(kept) == {I1, I2, I5, M6, I7}  # no red, no amber+strict
        assert kept[I1]["pattern"] == "[ipv4-addr:value = '10.1.1.1']"
        with local.engine.connect() as conn:
            [state] = conn.execute(select(TaxiiPoll)).all()
        manifest = world.get(f"collections/{world.open}/manifest/").json()["objects"]
        assert state.added_after == manifest[-1]["date_added"]
        assert state.collection_id == world.open and state.api_root == url + "api/"

        assert taxii_client.poll(local, url, world.reader, page_size=2) == []

        new = [
            _indicator(40, "203.0.113.40"),
            _indicator(41, "203.0.113.41"),
            _indicator(42, "203.0.113.42", tlp="red"),
        ]
        posted = httpx.post(
            f"{url}api/collections/{world.open}/objects/",
            headers={
                "Accept": MEDIA,
                "Content-Type": MEDIA,
                "Authorization": f"Bearer {world.token}",
            },
            content=orjson.dumps({"objects": new}),
        )
        assert posted.status_code == 202 and posted.json()["success_count"] == 3
        third = taxii_client.poll(local, url, world.reader, collection="open", page_size=2)
        assert [(r.added, r.updated, r.unchanged) for r in third] == [(2, 0, 0)]
        assert {o["id"] for o in kb.objects(local)} == {
            I1,
            I2,
            I5,
            M6,
            I7,
            _id("indicator", 40),
            _id("indicator", 41),
        }
        with pytest.raises(taxii_client.PollError, match="no collection"):
            taxii_client.poll(local, url, world.reader, collection="strict")
        with pytest.raises(taxii_client.PollError, match="HTTP 401"):
            taxii_client.poll(local, url, "wrong")
    local.close()
