from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Tests run the deadline sweep and deliveries directly; no deferred jobs go to the shared Redis.
os.environ["LINLI_EVENTS_ENQUEUE_JOBS"] = "0"

from linli.events.config import get_events_settings
from linli.events.storage import LocalStorage, set_storage
from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from tests.photos import png

PNG = png()


@dataclass
class Places:
    yuefeng: int
    yuefeng_path: str
    other_estate: int
    grid1: int
    mumianling: int


@pytest.fixture(autouse=True)
def _events_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    get_events_settings.cache_clear()
    set_storage(LocalStorage(tmp_path_factory.mktemp("storage")))
    yield
    set_storage(None)
    get_events_settings.cache_clear()


async def system(db: AsyncSession) -> AsyncSession:
    """Give the test's session the system scope (what jobs use) for direct service calls."""
    await apply_scopes(db, SYSTEM_SCOPE)
    return db


@pytest.fixture
async def places(db: AsyncSession) -> AsyncIterator[Places]:
    await system(db)

    async def node(sql: str) -> tuple[int, str]:
        row = (await db.execute(text(sql))).one()
        return int(row[0]), str(row[1])

    yuefeng, path = await node("select id, node_path::text from nodes where name = '悦峰尚府'")
    other, _ = await node(
        "select id, node_path::text from nodes where level = 'estate' and node_path <@ 'd440303.s005.c001.g01' "
        "and name <> '悦峰尚府' order by id limit 1"
    )
    grid1, _ = await node("select id, node_path::text from nodes where node_path = 'd440303.s005.c001.g01'")
    community, _ = await node("select id, node_path::text from nodes where name = '木棉岭社区'")
    yield Places(yuefeng, path, other, grid1, community)
