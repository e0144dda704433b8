"""Every query on the registry. Rows are already limited to the caller's scopes by row-level security;
the service narrows further (roles without `residents:read`, residents to their own household)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, false, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import path_within
from linli.platform.db import contains_pattern
from linli.platform.hierarchy.models import under_any
from linli.residents.models import Household, Person


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

    def add(self, obj: Household | Person) -> None:
        self.session.add(obj)
