"""A cared-for person's watch and visits. Never commits.

The watch is per person: the newest sign of life from any of their linked sensors (or the end of their
last away period) older than their window raises one `sa_care_not_seen` event, through the events
intake, naming the person only as the registry masks them; the next reading clears it; an away period or
the person's quiet hours hold it back. Visits: one open visit per person at their categories' interval,
done with a note, a photo without metadata and the time; overdue ones escalate once to community staff.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from linli.care.models import CareAway, CareProfile, CareSensor, CareVisit
from linli.care.repository import LOCAL_TZ, CareRepository
from linli.care.schemas import AwayIn, ProfileIn, SensorRole
from linli.events import intake as events_intake
from linli.events import routing
from linli.events.storage import get_storage
from linli.iot import devices as iot_devices
from linli.iot.alarms import AlarmOpened
from linli.platform import audit
from linli.platform.access import Principal, access_object, after_commit, role_permits
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.service import NodeService
from linli.platform.images import clean_photo
from linli.platform.masking import mask_name, sees_full
from linli.platform.sms import SmsDeliveryError, sms_gateway
from linli.residents import service as residents

log = logging.getLogger(__name__)
RESOURCE = "care"
LOCAL = ZoneInfo(LOCAL_TZ)
# What a sensor must be to play its part; the other parts take any device of the household.
ROLE_TYPES: dict[str, frozenset[str]] = {
    "door": frozenset({"door_sensor"}),
    "water": frozenset({"smart_water_meter"}),
    "sos": frozenset({"sos_band"}),
}


def sees_full_at(actor: Principal, node_path: str) -> bool:
    """Whether the caller sees a person at `node_path` unmasked (as the registry decides)."""
    return sees_full(g.role for g in actor.grants_covering(str(node_path)))


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_today(at: datetime) -> date:
    return at.astimezone(LOCAL).date()


@dataclass(frozen=True)
class PersonCare:
    record: residents.PersonRecord
    profile: CareProfile
    category_hours: int | None
    sensors: list[Any]
    away: list[CareAway]
    alerts: list[Any]
    visits: list[Any]


async def _person(session: AsyncSession, actor: Principal, person_id: int, action: str) -> residents.PersonRecord:
    record = await residents.get_person(session, actor=actor, person_id=person_id)
    await access_object(session, actor, record.person, permission=(RESOURCE, action), what="person")
    return record


async def person_care(session: AsyncSession, *, actor: Principal, person_id: int) -> PersonCare:
    record = await _person(session, actor, person_id, "read")
    repo = CareRepository(session)
    profile = await repo.profile(person_id) or CareProfile(
        person_id=person_id, node_path=record.person.node_path, family_contacts=[]
    )
    return PersonCare(
        record=record,
        profile=profile,
        category_hours=await repo.category_hours(record.person.care_categories),
        sensors=list(await repo.sensors(person_id)),
        away=list(await repo.away_periods(person_id)),
        alerts=list(await repo.alerts(person_id)),
        visits=list(
            await repo.visits(
                within=None, person_id=person_id, status=None, overdue_before=None, after_id=None, limit=50
            )
        ),
    )


async def set_profile(session: AsyncSession, *, actor: Principal, person_id: int, body: ProfileIn) -> PersonCare:
    record = await _person(session, actor, person_id, "manage")
    if (body.quiet_start is None) != (body.quiet_end is None):
        raise Conflict("quiet hours need both a start and an end", code="quiet_hours_incomplete")
    repo = CareRepository(session)
    profile = await repo.profile(person_id)
    before = None
    if profile is None:
        profile = CareProfile(person_id=person_id, node_path=record.person.node_path)
        repo.add(profile)
    else:
        before = {"not_seen_hours": profile.not_seen_hours, "contacts": len(profile.family_contacts)}
    profile.not_seen_hours = body.not_seen_hours
    profile.quiet_start, profile.quiet_end = body.quiet_start, body.quiet_end
    profile.family_contacts = [c.model_dump() for c in body.family_contacts]
    profile.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="care.profile",
        object_type="person",
        object_id=person_id,
        node_path=record.person.node_path,
        before=before,
        after={
            "not_seen_hours": body.not_seen_hours,
            "quiet": [str(body.quiet_start), str(body.quiet_end)] if body.quiet_start else None,
            "contacts": len(body.family_contacts),
        },
    )
    return await person_care(session, actor=actor, person_id=person_id)


async def link_sensor(
    session: AsyncSession, *, actor: Principal, person_id: int, device_id: int, role: SensorRole
) -> CareSensor:
    """Link a device of the person's estate (their household's) to them, for what it tells."""
    record = await _person(session, actor, person_id, "manage")
    device = await iot_devices.get_device(session, device_id=device_id)
    if device.revoked_at is not None or device.node_path != record.person.node_path:
        raise BadRequest("the device is not in the person's estate", code="device_not_in_household")
    allowed = ROLE_TYPES.get(role)
    if allowed is not None and device.type_code not in allowed:
        raise BadRequest(f"a {role} sensor must be one of: {', '.join(sorted(allowed))}", code="wrong_sensor_type")
    repo = CareRepository(session)
    if await repo.sensor_linked(person_id=person_id, device_id=device_id):
        raise Conflict("the device is already linked to this person", code="sensor_linked")
    sensor = CareSensor(person_id=person_id, device_id=device_id, node_path=record.person.node_path, role=role)
    repo.add(sensor)
    await session.flush()
    await session.refresh(sensor)
    await audit.record(
        session,
        actor=actor,
        action="care.sensor_link",
        object_type="care_sensor",
        object_id=sensor.id,
        node_path=sensor.node_path,
        after={"person_id": person_id, "device_id": device_id, "role": role},
    )
    return sensor


async def unlink_sensor(session: AsyncSession, *, actor: Principal, sensor_id: int) -> None:
    repo = CareRepository(session)
    sensor = await access_object(
        session, actor, await repo.sensor(sensor_id), permission=(RESOURCE, "manage"), what="sensor"
    )
    await repo.delete(sensor)
    await audit.record(
        session,
        actor=actor,
        action="care.sensor_unlink",
        object_type="care_sensor",
        object_id=sensor_id,
        node_path=sensor.node_path,
        before={"person_id": sensor.person_id, "device_id": sensor.device_id, "role": sensor.role},
    )


async def add_away(session: AsyncSession, *, actor: Principal, person_id: int, body: AwayIn) -> CareAway:
    record = await _person(session, actor, person_id, "manage")
    if body.ends_at <= body.starts_at:
        raise Conflict("an away period ends after it starts", code="away_ends_before_start")
    away = CareAway(
        person_id=person_id,
        node_path=record.person.node_path,
        reason=body.reason,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        note=body.note,
    )
    CareRepository(session).add(away)
    await session.flush()
    await session.refresh(away)
    await audit.record(
        session,
        actor=actor,
        action="care.away",
        object_type="person",
        object_id=person_id,
        node_path=away.node_path,
        after={"reason": body.reason, "starts_at": body.starts_at.isoformat(), "ends_at": body.ends_at.isoformat()},
    )
    return away


# ---------------------------------------------------------------------------------- the watch


def _family_sms(session: AsyncSession, contacts: list[dict[str, Any]], text: str) -> None:
    """Text the family contacts once the transaction commits (a failed send is logged, not retried:
    the grid worker's event is the channel that must not fail)."""
    if not contacts:
        return
    phones = [c["phone"] for c in contacts]

    async def _send() -> None:
        gateway = sms_gateway()
        for phone in phones:
            try:
                await gateway.send(phone=phone, text=text)
            except SmsDeliveryError as exc:
                log.warning("care sms to family failed: %s", exc)

    after_commit(session, _send)


async def sweep_not_seen(session: AsyncSession, *, at: datetime | None = None) -> tuple[int, int]:
    """Clear the alerts of people seen again, then raise one for each person silent beyond their window
    (system scope). Returns (raised, cleared)."""
    at = at or utcnow()
    repo = CareRepository(session)
    cleared = len(await repo.clear_seen(at=at))
    raised = 0
    for row in await repo.silent_people(at=at, local_time=at.astimezone(LOCAL).time()):
        alert_id = await repo.open_alert(person_id=row.person_id, node_path=row.node_path, silent_since=row.seen, at=at)
        if alert_id is None:
            continue
        masked = mask_name(row.name)
        hours = int((at - row.seen).total_seconds() // 3600)
        event, _ = await events_intake.create_event(
            session,
            actor=None,
            actor_label="care",
            intake=events_intake.Intake(
                item_code="sa_care_not_seen",
                node_id=row.estate_id,
                source="iot_alarm",
                description=f"关爱对象 {masked} 已 {hours} 小时无活动 · {masked} not seen for {hours} h",
                location={"room": row.room} if row.room else {},
                external_ref=f"care-alert:{alert_id}",
                reporter_label="care watch",
                attrs={
                    "person_id": str(row.person_id),
                    "person": masked,
                    "household_id": str(row.household_id),
                    "silent_since": row.seen.isoformat(),
                    "window_hours": row.hours,
                },
                merge_duplicates=False,
            ),
            now=at,
        )
        await repo.attach_event(alert_id=alert_id, event_id=event.id)
        profile = await repo.profile(row.person_id)
        if profile is not None:
            _family_sms(
                session,
                profile.family_contacts,
                f"【邻里】您的家人{masked}已{hours}小时无活动，网格员将上门查看。",
            )
        raised += 1
    return raised, cleared


async def sos_context(session: AsyncSession, alarm: AlarmOpened) -> dict[str, Any]:
    """The cared-for person(s) wearing an SOS band, for the critical event its alarm raises (masked)."""
    if alarm.event_item != "sa_care_sos":
        return {}
    people = await CareRepository(session).people_of_device(device_id=alarm.device_id, role="sos")
    if not people:
        return {}
    names = "、".join(mask_name(p.name) for p in people)
    first = people[0]
    return {
        "person_id": str(first.person_id),
        "person": mask_name(first.name),
        "household_id": str(first.household_id),
        "room": first.room,
        "people": [str(p.person_id) for p in people],
        "description": f"关爱对象 {names} 紧急求助 · SOS from {names}",
    }


# ---------------------------------------------------------------------------------- visits


async def schedule_visits(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Give every cared-for person whose categories ask for visits their next open visit (system scope)."""
    at = at or utcnow()
    return await CareRepository(session).schedule_visits(today=local_today(at))


async def escalate_overdue_visits(session: AsyncSession, *, at: datetime | None = None) -> int:
    """Escalate each visit past its due date to the community's staff, once (system scope)."""
    at = at or utcnow()
    rows = await CareRepository(session).escalate_overdue(today=local_today(at), at=at)
    for row in rows:
        await routing.notify_community_staff(
            session,
            node_path=row.node_path,
            kind="care_visit_overdue",
            title="关爱走访逾期 · Care visit overdue",
            body=f"走访应于 {row.due_on} 完成 · the visit was due on {row.due_on}",
            payload={"visit_id": row.id, "person_id": row.person_id, "due_on": row.due_on.isoformat()},
            at=at,
        )
    return len(rows)


async def list_visits(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int | None,
    person_id: int | None,
    status: str | None,
    overdue: bool,
    after_id: int | None,
    limit: int,
) -> list[Any]:
    within = await NodeService(session).path_filter(node_id)
    return list(
        await CareRepository(session).visits(
            within=within,
            person_id=person_id,
            status=status,
            overdue_before=local_today(utcnow()) if overdue else None,
            after_id=after_id,
            limit=limit,
        )
    )


async def _visit(session: AsyncSession, actor: Principal, visit_id: int, action: str) -> CareVisit:
    return await access_object(
        session, actor, await CareRepository(session).visit(visit_id), permission=(RESOURCE, action), what="visit"
    )


async def complete_visit(
    session: AsyncSession,
    *,
    actor: Principal,
    visit_id: int,
    note: str,
    photo: bytes | None,
    visited_at: datetime | None,
    notify_family: bool,
) -> Any:
    visit = await _visit(session, actor, visit_id, "visit")
    if visit.status != "open":
        raise Conflict("this visit is already done", code="visit_done")
    at = utcnow()
    when = visited_at or at
    if when > at + timedelta(minutes=5):
        raise BadRequest("a visit cannot be recorded in the future", code="visit_in_future")
    if photo is None:
        raise BadRequest("a visit is recorded with a photo", code="photo_required")
    clean = await clean_photo(photo)
    key = f"care/{visit.id}/{uuid.uuid4().hex}.{clean.extension}"
    await get_storage().put(key, clean.data, clean.content_type)
    visit.status, visit.visited_at, visit.note = "done", when, note
    visit.done_by = actor.id if actor.kind == "user" else None
    visit.photo_key, visit.photo_content_type = key, clean.content_type
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="care.visit_done",
        object_type="care_visit",
        object_id=visit.id,
        node_path=visit.node_path,
        after={"visited_at": when.isoformat(), "due_on": visit.due_on.isoformat(), "notify_family": notify_family},
    )
    if notify_family:
        profile = await CareRepository(session).profile(visit.person_id)
        if profile is not None:
            visited = f"{when.astimezone(LOCAL):%m-%d %H:%M}"
            _family_sms(session, profile.family_contacts, f"【邻里】网格员已于{visited}上门探访您的家人。")
    rows = await CareRepository(session).visits(
        within=None, person_id=visit.person_id, status="done", overdue_before=None, after_id=visit.id - 1, limit=1
    )
    return rows[0]


async def visit_photo(session: AsyncSession, *, actor: Principal, visit_id: int) -> tuple[str, bytes]:
    visit = await _visit(session, actor, visit_id, "read")
    if visit.photo_key is None or visit.photo_content_type is None:
        raise NotFound("photo")
    return visit.photo_content_type, await get_storage().get(visit.photo_key)


# ---------------------------------------------------------------------------------- the overview


async def overview(
    session: AsyncSession, *, actor: Principal, node_id: int | None, days: int
) -> tuple[Node, datetime, datetime, list[Any]]:
    """The node's care numbers per category and in total (row '*'), visits counted over the last `days`;
    without a node, at the caller's own (highest) node where they may read care."""
    if node_id is None:
        grants = sorted(
            (g for g in actor.grants if role_permits(g.role, RESOURCE, "read")), key=lambda g: len(g.node_path)
        )
        if not grants:
            raise NotFound("node")
        node_id = grants[0].node_id
    node = await NodeService(session).get_for(actor, node_id, (RESOURCE, "read"))
    until = utcnow()
    since = until - timedelta(days=days)
    rows = await CareRepository(session).overview(path=node.node_path, since=since, until=until)
    return node, since, until, list(rows)
