"""Database engines and sessions.

Every session carries the caller's scopes (node paths) in `session.info["scopes"]`; an `after_begin`
hook writes them into the transaction with `set_config('linli.scopes', ..., true)`, which the
row-level-security policies read through `linli_scopes()`. A session without scopes sees no tenant rows
at all. Beside the scopes goes `linli.scopes_sig`, an HMAC of the login role and the scopes under a key
only the application and the database owner hold: `linli_scopes()` returns no scope when it does not
match, so SQL run as the API role (an injection) cannot widen its own scope with `set_config`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache

from sqlalchemy import BigInteger, DateTime, MetaData, event, func, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, mapped_column
from sqlalchemy.pool import NullPool

from linli.platform.security import derive_key
from linli.platform.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The scope that background jobs state when they work across every tenant: the empty path contains all.
SYSTEM_SCOPE: tuple[str, ...] = ("",)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)


def contains_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, its own wildcards escaped (backslash is LIKE's default escape)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def scopes_literal(scopes: Iterable[str]) -> str:
    """Render node paths as a PostgreSQL array literal that casts to `ltree[]`."""
    return "{" + ",".join(f'"{p}"' for p in scopes) + "}"


SCOPE_KEY_CONTEXT = b"linli/rls-scopes/v1"
SET_SCOPES = text("select set_config('linli.scopes', :v, true), set_config('linli.scopes_sig', :s, true)")


@lru_cache(maxsize=2)
def _scope_key(secret: str) -> bytes:
    return derive_key(secret, SCOPE_KEY_CONTEXT)


def scope_signature(role: str, value: str) -> str:
    """What `linli_scopes()` recomputes: HMAC-SHA256 of `<login role>|<scopes setting>`. The role is in
    it so that a signature the worker role uses (the system scope) is worthless to the API role."""
    key = _scope_key(get_settings().secret_key)
    return hmac.new(key, f"{role}|{value}".encode(), hashlib.sha256).hexdigest()


def _scope_parameters(connection: Connection, scopes: Sequence[str]) -> dict[str, str]:
    # Always set it, also to '' when unscoped: the policies treat '' as "no rows" (NULLIF), and a
    # pooled connection must never keep a previous transaction's scope.
    value = scopes_literal(scopes) if scopes else ""
    driver = connection.connection.driver_connection
    assert driver is not None  # an open transaction has its connection
    role = driver.info.user  # the login role, as `session_user` sees it
    return {"v": value, "s": scope_signature(role, value)}


def store_scope_key(connection: Connection) -> None:
    """Give the database the key `linli_scopes()` checks signatures with (readable only by the owner).
    The migrations call it on every run, so a new LINLI_SECRET_KEY arrives with the next `linli migrate`."""
    if connection.execute(text("select to_regclass('linli_scope_key')")).scalar() is None:
        return  # migrated to a revision before the table
    connection.execute(
        text("insert into linli_scope_key (id, key) values (1, :k) on conflict (id) do update set key = excluded.key"),
        {"k": _scope_key(get_settings().secret_key)},
    )


@event.listens_for(Session, "after_begin")
def _set_scopes(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    connection.execute(SET_SCOPES, _scope_parameters(connection, session.info.get("scopes", ())))


async def apply_scopes(session: AsyncSession, scopes: Sequence[str]) -> None:
    """Put `scopes` on the session: for its open transaction now, and for every later one."""
    session.info["scopes"] = tuple(scopes)
    if session.in_transaction():
        connection = (await session.connection()).sync_connection
        assert connection is not None
        await session.execute(SET_SCOPES, _scope_parameters(connection, scopes))


@asynccontextmanager
async def within_scopes(session: AsyncSession, scopes: Sequence[str]) -> AsyncIterator[AsyncSession]:
    """Read under `scopes` for the block, then put the session's own back: a signed-in request reading a
    tenant's public pages (its app configuration), which lie outside a resident's scope. On an error the
    request ends anyway, so the scope is put back only after a block that finished."""
    previous = session.info.get("scopes", ())
    await apply_scopes(session, scopes)
    yield session
    await apply_scopes(session, previous)


def _engine(url: str, *, pool_size: int) -> AsyncEngine:
    # Statement parameters carry personal data (phones, names, identity numbers): never in errors or logs.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, hide_parameters=True
    )


_engines: dict[str, AsyncEngine] = {}

SAFE_METHODS = frozenset({"GET", "HEAD"})
# GET routes that write (an export is audited as one), so they need the writer even with a replica.
WRITING_READS = frozenset({"export_residents", "export_tenant", "export_audit_entries"})


def engine_kind(method: str, operation_id: str | None) -> str:
    """Which API engine a request's unit of work runs on: a read replica (`api_read`, when
    LINLI_DATABASE_READ_URL is set) for safe methods on routes that do not write, else the writer."""
    if get_settings().database_read_url and method in SAFE_METHODS and operation_id not in WRITING_READS:
        return "api_read"
    return "api"


def get_engine(kind: str = "api") -> AsyncEngine:
    """`api` connects as the RLS-bound API role, `api_read` as the same role on a read replica,
    `worker` as the worker role (ingest, jobs)."""
    if kind not in _engines:
        settings = get_settings()
        urls = {"api": settings.database_url, "api_read": settings.database_read_url}
        url = urls.get(kind, settings.worker_database_url)
        assert url is not None  # `engine_kind` picks `api_read` only when it is set
        _engines[kind] = _engine(url, pool_size=settings.db_pool_size)
    return _engines[kind]


def set_engine(kind: str, engine: AsyncEngine) -> None:
    _engines[kind] = engine


async def dispose_engines() -> None:
    for engine in _engines.values():
        await engine.dispose()
    _engines.clear()


def session_factory(kind: str = "api") -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(kind), expire_on_commit=False)


@asynccontextmanager
async def scoped_session(scopes: Sequence[str], *, kind: str = "worker") -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and CLI commands: states its scope explicitly and commits at the end."""
    async with session_factory(kind)() as session:
        session.info["scopes"] = tuple(scopes)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@asynccontextmanager
async def admin_connection() -> AsyncIterator[AsyncConnection]:
    """A connection as the administrative (migration) role, for operations above every tenant:
    verifying all audit chains, provisioning reporting roles. One transaction, committed at the end."""
    engine = create_async_engine(get_settings().migrate_database_url, poolclass=NullPool, hide_parameters=True)
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        await engine.dispose()
