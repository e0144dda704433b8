"""Every query on the registry. Rows are already limited to the caller's scopes by row-level security;
the service narrows further (roles without `residents:read`, residents to their own household)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, Row, and_, false, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from linli.platform.access import path_within
from linli.platform.db import contains_pattern
from linli.platform.hierarchy.models import under_any
from linli.residents.models import Household, LedgerImport, Person

if TYPE_CHECKING:
    from linli.residents.crypto import IdNumberCodec

LEDGER_COLUMNS = (
    "line, estate_id, estate_path, location_id, room, name, phone, gender, birth_year, "
    "id_number_encrypted, id_number_hash, care_categories"
)
MATCH_BY_ID_NUMBER = "l.id_number_hash is not null and p.id_number_hash = l.id_number_hash"
MATCH_BY_NAME = "l.id_number_hash is null and p.household_id = l.household_id and p.name = l.name"
LEDGER_TYPES = ("int4", "int8", "text", "int8", "text", "text", "text", "text", "int2", "text", "text", "text[]")


def rowcount(result: Result[Any]) -> int:
    """Rows an INSERT or UPDATE touched (a DML statement's result is a CursorResult)."""
    return int(cast("CursorResult[Any]", result).rowcount)


@dataclass(frozen=True)
class LedgerPerson:
    """A checked row of a ledger: the person and the place of their household."""

    line: int
    estate_id: int
    estate_path: str
    location_id: int
    room: str
    name: str
    phone: str | None
    gender: str | None
    birth_year: int | None
    id_number: str | None
    care_categories: list[str]


@dataclass(frozen=True)
class Visibility:
    """Which rows a caller may read: whole subtrees, plus (for residents) their own households."""

    paths: tuple[str, ...]
    household_ids: tuple[int, ...] = ()

    def clause(self, path: Any = Person.node_path, household_id: Any = Person.household_id) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.paths:
            parts.append(under_any(path, self.paths))
        if self.household_ids:
            parts.append(household_id.in_(self.household_ids))
        return or_(*parts) if parts else false()

    def allows_household(self, household: Household) -> bool:
        return household.id in self.household_ids or any(path_within(household.node_path, p) for p in self.paths)

    def allows(self, person: Person) -> bool:
        return person.household_id in self.household_ids or any(path_within(person.node_path, p) for p in self.paths)


class ResidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def household(self, household_id: int) -> Household | None:
        return await self.session.get(Household, household_id)

    async def person(self, person_id: int) -> Row[Person, Household] | None:
        stmt = select(Person, Household).join(Household, Household.id == Person.household_id)
        return (await self.session.execute(stmt.where(Person.id == person_id))).first()

    async def search(
        self,
        *,
        visibility: Visibility,
        within_path: str | None = None,
        care_category: str | None = None,
        name: str | None = None,
        id_number_hash: str | None = None,
        household_id: int | None = None,
        after_id: int | None = None,
        limit: int = 50,
    ) -> Sequence[Row[Person, Household]]:
        stmt = (
            select(Person, Household)
            .join(Household, Household.id == Person.household_id)
            .where(visibility.clause())
            .order_by(Person.id)
            .limit(limit)
        )
        conditions: list[ColumnElement[bool]] = []
        if within_path is not None:
            conditions.append(Person.node_path.op("<@")(func.text2ltree(within_path)))
        if care_category is not None:
            conditions.append(Person.care_categories.contains([care_category]))
        if name:
            # Case-insensitive matching folds every row's name first (about four times the cost on
            # Chinese text); a term without letters that have case (汉字, digits) matches the same with LIKE.
            match = Person.name.like if name.lower() == name.upper() else Person.name.ilike
            conditions.append(match(contains_pattern(name)))
        if id_number_hash is not None:
            conditions.append(Person.id_number_hash == id_number_hash)
        if household_id is not None:
            conditions.append(Person.household_id == household_id)
        if after_id is not None:
            conditions.append(Person.id > after_id)
        if conditions:
            stmt = stmt.where(and_(*conditions))
        return (await self.session.execute(stmt)).all()

    async def people_with_phone(self, phone: str) -> Sequence[Row[Person, Household]]:
        stmt = (
            select(Person, Household)
            .join(Household, Household.id == Person.household_id)
            .where(Person.phone == phone)
            .order_by(Person.id)
        )
        return (await self.session.execute(stmt)).all()

    async def households_with_phone(self, phone: str) -> Sequence[int]:
        stmt = select(Person.household_id).where(Person.phone == phone).distinct()
        return (await self.session.execute(stmt)).scalars().all()

    async def households(
        self, *, visibility: Visibility, within_path: str | None, after_id: int | None, limit: int
    ) -> Sequence[Row[Household, int]]:
        members = select(func.count()).select_from(Person).where(Person.household_id == Household.id).scalar_subquery()
        stmt = (
            select(Household, members)
            .where(visibility.clause(Household.node_path, Household.id))
            .order_by(Household.id)
            .limit(limit)
        )
        if within_path is not None:
            stmt = stmt.where(Household.node_path.op("<@")(func.text2ltree(within_path)))
        if after_id is not None:
            stmt = stmt.where(Household.id > after_id)
        return (await self.session.execute(stmt)).all()

    async def id_number_taken(self, id_hash: str, *, except_person_id: int | None = None) -> bool:
        stmt = select(Person.id).where(Person.id_number_hash == id_hash).limit(1)
        if except_person_id is not None:
            stmt = stmt.where(Person.id != except_person_id)
        return (await self.session.execute(stmt)).first() is not None

    async def unknown_care_categories(self, codes: Sequence[str]) -> list[str]:
        if not codes:
            return []
        rows = await self.session.execute(
            text("select code from care_categories where code = any(:codes)"), {"codes": list(codes)}
        )
        known = set(rows.scalars().all())
        return sorted(set(codes) - known)

    def add(self, obj: Household | Person | LedgerImport) -> None:
        self.session.add(obj)

    async def ledger_import(self, import_id: uuid.UUID) -> LedgerImport | None:
        return await self.session.get(LedgerImport, import_id)

    async def queued_ledger_import(self, import_id: uuid.UUID) -> LedgerImport | None:
        """The import with its file, locked for the worker that runs it; None once it has run."""
        stmt = (
            select(LedgerImport)
            .options(undefer(LedgerImport.data))
            .where(LedgerImport.id == import_id, LedgerImport.status == "queued")
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def copy_rows(self, table: str, columns: str, types: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Binary COPY into a staging table (COPY is refused under row-level security: an `insert ...
        select` from the staging table then moves the rows, checked by RLS)."""
        conn = await self.session.connection()
        raw = await conn.get_raw_connection()
        pg: Any = raw.driver_connection
        async with pg.cursor() as cur, cur.copy(f"copy {table} ({columns}) from stdin (format binary)") as copy:
            copy.set_types(list(types))
            for row in rows:
                await copy.write_row(row)

    async def estates_with_units(self, path: str) -> Sequence[Row[int, str, str, str | None, str | None, int | None]]:
        """The estates at or under `path` with their units: (estate id, path, name, building, unit, unit id)."""
        rows = await self.session.execute(
            text(
                "select n.id, n.node_path::text, n.name, b.name, u.name, u.id from nodes n "
                "left join locations b on b.node_id = n.id and b.kind = 'building' "
                "left join locations u on u.parent_id = b.id and u.kind = 'unit' "
                "where n.level = 'estate' and n.node_path <@ text2ltree(:p) order by n.id, b.id, u.id"
            ),
            {"p": path},
        )
        return rows.all()

    async def care_category_names(self) -> dict[str, str]:
        """Every way a ledger may name a care category (code, Chinese or English name) → its code."""
        rows = await self.session.execute(text("select code, name, name_en from care_categories"))
        names: dict[str, str] = {}
        for code, name, name_en in rows:
            names.update({code: code, name: code, name_en.lower(): code})
        return names

    async def import_ledger(
        self, path: str, people: Sequence[LedgerPerson], codec: IdNumberCodec
    ) -> tuple[int, int, int]:
        """Stores checked ledger rows set-based: missing households, then people matched by the keyed hash
        of their identity number (else by name in the household) updated, the others inserted. Imports
        into one subtree take turns. Returns (households created, people created, people updated)."""
        lock = text("select pg_advisory_xact_lock(hashtextextended('ledger:' || :p, 0))")
        await self.session.execute(lock, {"p": path})
        await self.session.execute(
            text(
                "create temp table if not exists ledger_load (line int, estate_id bigint, estate_path text, "
                "location_id bigint, room text, name text, phone text, gender text, birth_year int2, "
                "id_number_encrypted text, id_number_hash text, care_categories text[], household_id bigint) "
                "on commit drop"
            )
        )
        rows = [
            (
                p.line,
                p.estate_id,
                p.estate_path,
                p.location_id,
                p.room,
                p.name,
                p.phone,
                p.gender,
                p.birth_year,
                codec.encrypt(p.id_number) if p.id_number else None,
                codec.hash(p.id_number) if p.id_number else None,
                p.care_categories,
            )
            for p in people
        ]
        await self.copy_rows("ledger_load", LEDGER_COLUMNS, LEDGER_TYPES, rows)
        await self.session.execute(text("analyze ledger_load"))
        households = await self.session.execute(
            text(
                "insert into households (node_id, node_path, location_id, room) "
                "select distinct l.estate_id, text2ltree(l.estate_path), l.location_id, l.room from ledger_load l "
                "where not exists (select 1 from households h where h.node_id = l.estate_id "
                "and h.location_id = l.location_id and h.room = l.room)"
            )
        )
        await self.session.execute(
            text(
                "update ledger_load l set household_id = h.id from (select node_id, location_id, room, min(id) id "
                "from households where node_path <@ text2ltree(:p) group by 1, 2, 3) h "
                "where h.node_id = l.estate_id and h.location_id = l.location_id and h.room = l.room"
            ),
            {"p": path},
        )
        # A person is the same by the keyed hash of the identity number, else by name in the household
        # (two statements, so that each is a plain hash join). Matched people take the ledger's values.
        updated = created = 0
        for match in (MATCH_BY_ID_NUMBER, MATCH_BY_NAME):
            changed = await self.session.execute(
                text(
                    "update people p set household_id = l.household_id, node_path = text2ltree(l.estate_path), "
                    "name = l.name, phone = coalesce(l.phone, p.phone), gender = coalesce(l.gender, p.gender), "
                    "birth_year = coalesce(l.birth_year, p.birth_year), care_categories = l.care_categories, "
                    f"updated_at = now() from ledger_load l where {match} and (p.household_id, p.name, p.phone, "
                    "p.gender, p.birth_year, p.care_categories) is distinct from (l.household_id, l.name, "
                    "coalesce(l.phone, p.phone), coalesce(l.gender, p.gender), coalesce(l.birth_year, p.birth_year), "
                    "l.care_categories)"
                )
            )
            inserted = await self.session.execute(
                text(
                    "insert into people (household_id, node_path, name, phone, gender, birth_year, "
                    "id_number_encrypted, id_number_hash, care_categories) "
                    "select l.household_id, text2ltree(l.estate_path), l.name, l.phone, l.gender, l.birth_year, "
                    "l.id_number_encrypted, l.id_number_hash, l.care_categories from ledger_load l "
                    f"where not exists (select 1 from people p where {match}) and "
                    + ("l.id_number_hash is not null" if match is MATCH_BY_ID_NUMBER else "l.id_number_hash is null")
                    + " order by l.line"
                )
            )
            updated, created = updated + rowcount(changed), created + rowcount(inserted)
        await self.session.execute(text("truncate ledger_load"))
        return rowcount(households), created, updated
