"""Test harness: a fresh database built by the alembic migrations and seeded with the small demo
district once per run; every test then runs inside a transaction that is rolled back."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

TEST_DB = os.environ.get("LINLI_TEST_DATABASE", "linli_test")
PG = os.environ.get("LINLI_TEST_PG", "127.0.0.1:55432")
os.environ.update(
    LINLI_ENV="test",
    LINLI_DATABASE_URL=f"postgresql+psycopg://linli_api:linli_api@{PG}/{TEST_DB}",
    LINLI_WORKER_DATABASE_URL=f"postgresql+psycopg://linli_worker:linli_worker@{PG}/{TEST_DB}",
    LINLI_MIGRATE_DATABASE_URL=f"postgresql+psycopg://postgres@{PG}/{TEST_DB}",
    LINLI_LOG_LEVEL="WARNING",
    # The tests' own Redis database, emptied at the start of each run: job ids derive from database ids,
    # which restart with every fresh test database.
    LINLI_REDIS_URL=os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:56379/1"),
    # The development SMS outbox (sign-in codes) of this run: the tests read the codes from it.
    LINLI_SMS_OUTBOX=f"/tmp/linli-sms-outbox-{TEST_DB}.jsonl",
)

import asyncio  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402
import psycopg  # noqa: E402
import pytest  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine  # noqa: E402

from linli.demo import DEMO_PASSWORD, seed_demo  # noqa: E402
from linli.platform.app import create_app  # noqa: E402
from linli.platform.db import dispose_engines  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _empty_redis() -> None:
    import redis

    redis.Redis.from_url(os.environ["LINLI_REDIS_URL"]).flushdb()


def _recreate_database() -> None:
    with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{TEST_DB}" with (force)')
        conn.execute(f'create database "{TEST_DB}"')


@pytest.fixture(scope="session")
def migrated_database() -> Iterator[str]:
    _recreate_database()
    _empty_redis()
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = os.environ["LINLI_MIGRATE_DATABASE_URL"]
    command.upgrade(config, "head")
    asyncio.run(_seed())
    yield TEST_DB


async def _seed() -> None:
    await seed_demo(scale="small")
    await dispose_engines()


@pytest.fixture(scope="session")
async def api_engine(migrated_database: str) -> AsyncIterator[object]:
    # pre-ping: a fault test restarts PostgreSQL, and later tests must not get its dead connections
    engine = create_async_engine(os.environ["LINLI_DATABASE_URL"], pool_size=2, pool_pre_ping=True)
    yield engine
    await engine.dispose()
    await dispose_engines()


@pytest.fixture
async def api_connection(api_engine: object) -> AsyncIterator[AsyncConnection]:
    """A connection as the API role whose outer transaction is rolled back after the test."""
    async with api_engine.connect() as conn:  # type: ignore[attr-defined]
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
async def db(api_connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """The session every request of the test uses; commits become savepoints."""
    session = AsyncSession(bind=api_connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    await session.close()


@pytest.fixture
def app(db: AsyncSession) -> FastAPI:
    application = create_app()

    def session_override() -> AsyncSession:
        db.info.pop("scopes", None)
        return db

    application.state.session_override = session_override
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as http:
        yield http


class Login:
    """Logs demo accounts in once per test and hands out their auth headers."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cache: dict[str, dict[str, str]] = {}

    async def __call__(self, login: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        if login not in self.cache:
            response = await self.client.post("/api/v1/auth/token", data={"username": login, "password": password})
            assert response.status_code == 200, response.text
            self.cache[login] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self.cache[login]


@pytest.fixture
def login(client: httpx.AsyncClient) -> Login:
    return Login(client)
