"""The FastAPI application, and the TAXII administration the CLI calls."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from crownwatch.api import taxii
from crownwatch.config import Settings
from crownwatch.errors import UsageError
from crownwatch.store import Store
from crownwatch.store.taxii_models import TaxiiCollection, TaxiiToken


def create_app(settings: Settings) -> FastAPI:
    """The app over the store the settings name (opened, and migrated, now)."""
    store = Store.open(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="crownwatch", lifespan=lifespan)
    app.state.store = store
    taxii.install(app)
    return app


def add_collection(
    store: Store,
    title: str,
    description: str = "",
    can_read: bool = True,
    can_write: bool = False,
    sources: Iterable[str] = (),
    types: Iterable[str] = (),
    allow_amber_strict: bool = False,
) -> dict[str, Any]:
    """Create a TAXII collection: a view of the knowledge base (empty filters: everything)."""
    title = title.strip()
    if not 0 < len(title) <= 200:
        raise UsageError("a collection needs a title of 1 to 200 characters")
    coll = TaxiiCollection(
        id=str(uuid.uuid4()),
        title=title,
        description=description,
        can_read=can_read,
        can_write=can_write,
        sources=sorted({s for s in sources if s}),
        types=sorted({t for t in types if t}),
        allow_amber_strict=allow_amber_strict,
        created_at=datetime.now(UTC),
    )
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        session.add(coll)
    return {c.key: getattr(coll, c.key) for c in TaxiiCollection.__table__.columns}


def add_token(store: Store, name: str, read: Iterable[str] = (), write: Iterable[str] = ()) -> str:
    """A new bearer token for collection ids to read and write; shown once, kept as SHA-256.

    Adding a token under an existing name replaces it: the old token stops working.
    """
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise UsageError("a token needs a name of 1 to 100 characters")
    readable, writable = sorted(set(read)), sorted(set(write))
    token = secrets.token_urlsafe(32)
    with Session(store.engine) as session, session.begin():
        wanted = set(readable) | set(writable)
        known = set(
            session.scalars(select(TaxiiCollection.id).where(TaxiiCollection.id.in_(wanted)))
        )
        if wanted - known:
            raise UsageError(f"no such collection: {', '.join(sorted(wanted - known))}")
        old = session.get(TaxiiToken, name)
        if old is not None:
            session.delete(old)
            session.flush()
        session.add(
            TaxiiToken(
                name=name,
                sha256=hashlib.sha256(token.encode()).hexdigest(),
                read=readable,
                write=writable,
                created_at=datetime.now(UTC),
            )
        )
    return token
