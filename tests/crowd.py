"""Many committed residents calling the real app at once: each request its own unit of work on the API
engine (no shared test session), as under load. Everything the crowd wrote is deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from linli.platform.app import create_app
from linli.platform.db import dispose_engines, set_engine
from linli.platform.security import issue_access_token
from tests.tenants.support import superuser

# What the crowd's requests may have written, child tables first (a superuser connection: no RLS).
CLEANUP = (
    "delete from points_entries where movement_id in (select m.id from points_movements m"
    " join points_accounts a on a.id = m.account_id where a.user_id = any(%(ids)s))",
    "delete from points_movements where account_id in (select id from points_accounts where user_id = any(%(ids)s))",
    "delete from points_accounts where user_id = any(%(ids)s)",
    "delete from notifications where recipient_id = any(%(ids)s)",
    "delete from activity_signups where user_id = any(%(ids)s)",
    "delete from bookings where user_id = any(%(ids)s)",
    "delete from role_grants where user_id = any(%(ids)s)",
    "delete from users where id = any(%(ids)s)",
)


@dataclass
class Crowd:
    http: httpx.AsyncClient
    ids: list[uuid.UUID]
    headers: list[dict[str, str]]


@asynccontextmanager
async def crowd(size: int, estate_path: str) -> AsyncIterator[Crowd]:
    """`size` residents of the estate, signed in, and a client of a real app (its own engine)."""
    marker = uuid.uuid4().hex[:6]
    with superuser() as conn:
        node = conn.execute("select id from nodes where node_path = %s::ltree", (estate_path,)).fetchone()
        assert node is not None
        ids = [
            row[0]
            for row in conn.execute(
                "insert into users (phone, display_name, home_node_path) select '199' || %s || lpad(i::text, 5, '0'),"
                " 'crowd ' || i, %s::ltree from generate_series(1, %s) i returning id",
                (marker, estate_path, size),
            ).fetchall()
        ]
        conn.execute(
            "insert into role_grants (user_id, role, node_id, node_path) select u, 'resident', %s, %s::ltree"
            " from unnest(%s::uuid[]) u",
            (node[0], estate_path, ids),
        )
    headers = [{"Authorization": f"Bearer {issue_access_token(i, session_id=uuid.uuid4())[0]}"} for i in ids]
    # The crowd waits for the pool's connections as long as it takes (a shared machine may be slow).
    set_engine("api", create_async_engine(os.environ["LINLI_DATABASE_URL"], pool_size=20, pool_timeout=600))
    try:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://linli.test", timeout=600) as http:
            yield Crowd(http, ids, headers)
    finally:
        # Off the event loop: requests still in flight after a failure must be able to finish first.
        await asyncio.to_thread(_delete, ids)
        await dispose_engines()


def _delete(ids: list[uuid.UUID]) -> None:
    with superuser() as conn:
        for statement in CLEANUP:
            conn.execute(statement, {"ids": ids})
