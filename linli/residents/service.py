"""The population registry: people in households, cared-for persons. Never commits.

Personal data leaves this module masked unless a role granted over the person's node needs it
(see `masking.FULL_VIEW_ROLES`). Identity numbers are stored only encrypted plus a keyed hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, role_permits
from linli.platform.errors import BadRequest, Conflict, Forbidden, NotFound
from linli.platform.hierarchy.models import Location, Node
from linli.platform.hierarchy.service import NodeService
from linli.platform.masking import mask_id_number, mask_name, mask_phone, sees_full
from linli.residents.crypto import decrypt_id_number, encrypt_id_number, id_number_hash
from linli.residents.models import Household, Person
from linli.residents.repository import ResidentRepository, Visibility
from linli.residents.schemas import PersonOut
from linli.tenants import service as identity

RESOURCE = "residents"


@dataclass(frozen=True)
class PersonRecord:
    person: Person
    household: Household


def person_out(principal: Principal, record: PersonRecord) -> PersonOut:
    person, household = record.person, record.household
    full = sees_full(g.role for g in principal.grants_covering(person.node_path))
    id_number = decrypt_id_number(person.id_number_encrypted) if person.id_number_encrypted else None
    return PersonOut(
        id=person.id,
        household_id=household.id,
        estate_id=household.node_id,
        location_id=household.location_id,
        room=household.room,
        node_path=person.node_path,
        name=person.name if full else mask_name(person.name),
        phone=person.phone if full else mask_phone(person.phone),
        gender=person.gender,
        birth_year=person.birth_year,
        id_number=id_number if full else mask_id_number(id_number),
        care_categories=list(person.care_categories),
        masked=not full,
        created_at=person.created_at,
        updated_at=person.updated_at,
    )


def snapshot(person: Person) -> dict[str, Any]:
    """What the audit log keeps: never a name, phone or identity number in full."""
    return {
        "household_id": person.household_id,
        "name": mask_name(person.name),
        "phone": mask_phone(person.phone),
        "gender": person.gender,
        "birth_year": person.birth_year,
        "id_number_hash": person.id_number_hash[:12] if person.id_number_hash else None,
        "care_categories": list(person.care_categories),
    }


async def visibility(session: AsyncSession, principal: Principal) -> Visibility:
    """Subtrees where a non-resident role may read the registry, plus a resident's own households."""
    paths = tuple(
        sorted(
            {g.node_path for g in principal.grants if g.role != "resident" and role_permits(g.role, RESOURCE, "read")}
        )
    )
    household_ids: tuple[int, ...] = ()
    if principal.kind == "user" and any(g.role == "resident" for g in principal.grants):
        # Identity lives in the tenants domain; a resident is matched to the registry by phone number.
        user = await identity.get_user(session, user_id=principal.id)
        if user is not None and user.phone:
            household_ids = tuple(await ResidentRepository(session).households_with_phone(user.phone))
    return Visibility(paths, household_ids)


async def own_households(session: AsyncSession, *, actor: Principal) -> list[Household]:
    """The households of the caller (matched by the account's phone number), within the request's scope."""
    ids = (await visibility(session, actor)).household_ids
    return await households_by_ids(session, ids)


async def people_of_phone(session: AsyncSession, *, phone: str) -> list[PersonRecord]:
    """The people registered with this phone number, with their households, within the request's scope."""
    return [PersonRecord(p, h) for p, h in await ResidentRepository(session).people_with_phone(phone)]


async def households_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Household]:
    repo = ResidentRepository(session)
    found = [await repo.household(i) for i in sorted(ids)]
    return [h for h in found if h is not None]


async def list_people(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int | None = None,
    care_category: str | None = None,
    q: str | None = None,
    id_number: str | None = None,
    household_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[PersonRecord]:
    within: str | None = None
    if node_id is not None:
        within = (await NodeService(session).get_visible(node_id)).node_path
    id_hash: str | None = None
    if id_number is not None:
        # Searching by identity number is an oracle for "does this person live here": only for roles
        # that may see identity numbers in full.
        if not sees_full(actor.roles):
            raise Forbidden("your role may not search by identity number", code="id_search_not_allowed")
        id_hash = id_number_hash(id_number)
    rows = await ResidentRepository(session).search(
        visibility=await visibility(session, actor),
        within_path=within,
        care_category=care_category,
        name=q,
        id_number_hash=id_hash,
        household_id=household_id,
        after_id=after_id,
        limit=limit,
    )
    return [PersonRecord(person, household) for person, household in rows]


async def get_person(session: AsyncSession, *, actor: Principal, person_id: int) -> PersonRecord:
    row = await ResidentRepository(session).person(person_id)
    if row is None:
        raise NotFound("resident")
    person, household = row
    if not (await visibility(session, actor)).allows(person):
        raise NotFound("resident")
    return PersonRecord(person, household)


async def _check_categories(repo: ResidentRepository, codes: Sequence[str]) -> list[str]:
    unknown = await repo.unknown_care_categories(codes)
    if unknown:
        raise BadRequest(f"unknown care categories: {', '.join(unknown)}", code="unknown_care_category")
    return sorted(set(codes))


async def _check_id_number(repo: ResidentRepository, number: str, *, except_person_id: int | None = None) -> str:
    digest = id_number_hash(number)
    if await repo.id_number_taken(digest, except_person_id=except_person_id):
        raise Conflict("a person with this identity number is already registered", code="id_number_registered")
    return digest


async def create_household(
    session: AsyncSession, *, actor: Principal, node_id: int, location_id: int | None, room: str | None
) -> Household:
    estate: Node = await NodeService(session).get_for(actor, node_id, Permission(RESOURCE, "create"))
    if estate.level != "estate":
        raise BadRequest("a household lives in an estate; pass the estate's node id", code="not_an_estate")
    if location_id is not None:
        location = await session.get(Location, location_id)
        if location is None or location.node_id != estate.id:
            raise BadRequest("the location is not part of this estate", code="location_not_in_estate")
        if location.kind != "unit":
            raise BadRequest("a household's location must be a unit", code="location_not_a_unit")
    household = Household(node_id=estate.id, node_path=estate.node_path, location_id=location_id, room=room)
    ResidentRepository(session).add(household)
    await session.flush()
    await session.refresh(household)
    await audit.record(
        session,
        actor=actor,
        action="household.create",
        object_type="household",
        object_id=household.id,
        node_path=household.node_path,
        after={"node_id": estate.id, "location_id": location_id, "room": room},
    )
    return household


async def _household_for(session: AsyncSession, actor: Principal, household_id: int, action: str) -> Household:
    household = await ResidentRepository(session).household(household_id)
    return await access_object(session, actor, household, permission=(RESOURCE, action), what="household")


async def create_person(
    session: AsyncSession,
    *,
    actor: Principal,
    household_id: int,
    name: str,
    phone: str | None = None,
    gender: str | None = None,
    birth_year: int | None = None,
    id_number: str | None = None,
    care_categories: Sequence[str] = (),
) -> PersonRecord:
    repo = ResidentRepository(session)
    household = await _household_for(session, actor, household_id, "create")
    person = Person(
        household_id=household.id,
        node_path=household.node_path,
        name=name.strip(),
        phone=phone,
        gender=gender,
        birth_year=birth_year,
        care_categories=await _check_categories(repo, care_categories),
    )
    if id_number is not None:
        person.id_number_hash = await _check_id_number(repo, id_number)
        person.id_number_encrypted = encrypt_id_number(id_number)
    repo.add(person)
    await session.flush()
    await session.refresh(person)
    await audit.record(
        session,
        actor=actor,
        action="resident.create",
        object_type="resident",
        object_id=person.id,
        node_path=person.node_path,
        after=snapshot(person),
    )
    return PersonRecord(person, household)


async def update_person(
    session: AsyncSession, *, actor: Principal, person_id: int, changes: dict[str, Any]
) -> PersonRecord:
    """Apply the fields in `changes` (as sent: a missing key keeps the value, None clears it)."""
    repo = ResidentRepository(session)
    record = await get_person(session, actor=actor, person_id=person_id)
    person, household = record.person, record.household
    await access_object(session, actor, person, permission=(RESOURCE, "update"), what="resident")
    before = snapshot(person)
    if changes.get("household_id") is not None and changes["household_id"] != household.id:
        household = await _household_for(session, actor, changes["household_id"], "update")
        person.household_id = household.id
        person.node_path = household.node_path
    if changes.get("name") is not None:
        person.name = changes["name"].strip()
    for key in ("phone", "gender", "birth_year"):
        if key in changes:
            setattr(person, key, changes[key])
    if "id_number" in changes:
        # Setting a number answers "is it registered here?" (409): only for roles that see numbers in full.
        if not sees_full(g.role for g in actor.grants_covering(person.node_path)):
            raise Forbidden("your role may not change identity numbers", code="id_number_not_allowed")
        number = changes["id_number"]
        if number is None:
            person.id_number_hash = person.id_number_encrypted = None
        else:
            person.id_number_hash = await _check_id_number(repo, number, except_person_id=person.id)
            person.id_number_encrypted = encrypt_id_number(number)
    if changes.get("care_categories") is not None:
        person.care_categories = await _check_categories(repo, changes["care_categories"])
    after = snapshot(person)
    if after != before:
        person.updated_at = datetime.now(UTC)
        await session.flush()
    # Audited even when nothing changed: who looked at and submitted a resident's record is itself a fact.
    await audit.record(
        session,
        actor=actor,
        action="resident.update",
        object_type="resident",
        object_id=person.id,
        node_path=person.node_path,
        before=before,
        after=after,
    )
    return PersonRecord(person, household)


async def list_households(
    session: AsyncSession, *, actor: Principal, node_id: int | None, after_id: int | None, limit: int
) -> list[tuple[Household, int]]:
    within = await NodeService(session).path_filter(node_id)
    rows = await ResidentRepository(session).households(
        visibility=await visibility(session, actor), within_path=within, after_id=after_id, limit=limit
    )
    return [(household, int(members)) for household, members in rows]


async def get_household(session: AsyncSession, *, actor: Principal, household_id: int) -> Household:
    household = await ResidentRepository(session).household(household_id)
    if household is None or not (await visibility(session, actor)).allows_household(household):
        raise NotFound("household")
    return household


EXPORT_LIMIT = 50_000
EXPORT_COLUMNS = (
    "id",
    "household_id",
    "estate_id",
    "location_id",
    "room",
    "name",
    "phone",
    "gender",
    "birth_year",
    "id_number",
    "care_categories",
)


async def export_people(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int | None = None,
    care_category: str | None = None,
) -> list[PersonOut]:
    """The ledger of a subtree (masked as the caller would see it on screen), audited as one export."""
    node_path: str | None = None
    if node_id is not None:
        node_path = (await NodeService(session).get_for(actor, node_id, Permission(RESOURCE, "export"))).node_path
    rows: list[PersonOut] = []
    after_id: int | None = None
    while True:
        batch = await list_people(
            session, actor=actor, node_id=node_id, care_category=care_category, after_id=after_id, limit=5_000
        )
        rows.extend(person_out(actor, r) for r in batch)
        if len(rows) > EXPORT_LIMIT:
            raise BadRequest(
                f"an export holds at most {EXPORT_LIMIT} people; narrow it with node_id", code="export_too_large"
            )
        if len(batch) < 5_000:
            break
        after_id = batch[-1].person.id
    audit_path = node_path or (actor.scopes_for(RESOURCE, "export") or actor.scopes)[0]
    await audit.record(
        session,
        actor=actor,
        action="resident.export",
        object_type="resident",
        object_id=None,
        node_path=audit_path,
        after={"node_id": node_id, "care_category": care_category, "rows": len(rows)},
    )
    return rows
