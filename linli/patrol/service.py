"""Patrol rounds (巡检/巡查): a plan is an ordered set of checkpoints — places in the tree, each with a code
printed as a QR code — walked on a schedule by one person. The scheduler turns the schedule into rounds
(one per plan and due time); the walker checks in at each checkpoint by its code, with a note, a photo
and the phone's position when given; a finding opens a `staff_patrol` event at the checkpoint. A round
not finished by its deadline is late, and the community's staff hear of it once. Never commits.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import intake, lifecycle, routing
from linli.events.reading import get_event
from linli.events.storage import get_storage
from linli.patrol.models import PatrolCheckin, PatrolCheckpoint, PatrolPlan, PatrolRound
from linli.patrol.repository import PatrolRepository
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, path_within
from linli.platform.errors import BadRequest, Conflict, Forbidden, NotFound
from linli.platform.hierarchy.models import Location
from linli.platform.hierarchy.service import NodeService
from linli.platform.images import clean_photo
from linli.platform.qr import qr_svg
from linli.platform.settings import get_settings
from linli.tenants import service as identity

RESOURCE = "patrol"
# Rounds are made this far ahead, so that a walker sees the next one on their list.
SCHEDULE_AHEAD = timedelta(hours=24)
QR_PREFIX = "linli-patrol:"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CheckpointSpec:
    node_id: int
    name: str
    location_id: int | None = None


@dataclass(frozen=True)
class Finding:
    item: str
    description: str = ""


@dataclass(frozen=True)
class RoundView:
    round: PatrolRound
    plan: PatrolPlan
    checkpoints: Sequence[PatrolCheckpoint]
    checkins: Sequence[PatrolCheckin]


async def create_plan(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int,
    name: str,
    assignee_id: uuid.UUID,
    weekdays: Sequence[int],
    hours: Sequence[int],
    window_minutes: int,
    checkpoints: Sequence[CheckpointSpec],
) -> PatrolPlan:
    nodes = NodeService(session)
    node = await nodes.get_for(actor, node_id, Permission(RESOURCE, "create"))
    if await identity.get_user(session, user_id=assignee_id) is None:
        raise BadRequest("no such user to walk the rounds", code="unknown_assignee")
    if not checkpoints:
        raise BadRequest("a plan has at least one checkpoint", code="no_checkpoints")
    plan = PatrolPlan(
        node_id=node.id,
        node_path=node.node_path,
        name=name.strip(),
        assignee_id=assignee_id,
        schedule={"weekdays": sorted(set(weekdays)), "hours": sorted(set(hours))},
        window_minutes=window_minutes,
        active=True,
    )
    repo = PatrolRepository(session)
    repo.add(plan)
    await session.flush()
    for position, spec in enumerate(checkpoints, start=1):
        place = await nodes.get_visible(spec.node_id)
        if not path_within(place.node_path, node.node_path):
            raise BadRequest(f"checkpoint {position} lies outside the plan's area", code="checkpoint_outside_plan")
        if spec.location_id is not None:
            location = await session.get(Location, spec.location_id)
            if location is None or location.node_id != place.id:
                raise BadRequest(f"checkpoint {position}: the location is not at that place", code="bad_location")
        repo.add(
            PatrolCheckpoint(
                plan_id=plan.id,
                position=position,
                node_id=place.id,
                node_path=place.node_path,
                location_id=spec.location_id,
                name=spec.name.strip(),
                code=secrets.token_hex(8),
            )
        )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="patrol.plan_create",
        object_type="patrol_plan",
        object_id=plan.id,
        node_path=plan.node_path,
        after={
            "name": plan.name,
            "assignee_id": str(assignee_id),
            "schedule": plan.schedule,
            "checkpoints": len(checkpoints),
        },
    )
    return plan


async def list_plans(
    session: AsyncSession, *, node_id: int | None, after_id: int | None, limit: int
) -> Sequence[PatrolPlan]:
    within = await NodeService(session).path_filter(node_id)
    return await PatrolRepository(session).plans(within_path=within, after_id=after_id, limit=limit)


async def get_plan(
    session: AsyncSession, *, actor: Principal, plan_id: int
) -> tuple[PatrolPlan, Sequence[PatrolCheckpoint]]:
    repo = PatrolRepository(session)
    plan = await access_object(session, actor, await repo.plan(plan_id), permission=(RESOURCE, "read"), what="plan")
    return plan, await repo.checkpoints(plan.id)


async def checkpoint_qr(session: AsyncSession, *, actor: Principal, checkpoint_id: int) -> str:
    """The checkpoint's code as an SVG QR code, to print and fix at the place."""
    checkpoint = await access_object(
        session,
        actor,
        await PatrolRepository(session).checkpoint(checkpoint_id),
        permission=(RESOURCE, "read"),
        what="checkpoint",
    )
    return qr_svg(f"{QR_PREFIX}{checkpoint.code}", title=checkpoint.name)


def due_times(plan: PatrolPlan, *, since: datetime, until: datetime) -> list[datetime]:
    """The plan's due times in [since, until), read in the deployment's time zone."""
    zone = ZoneInfo(get_settings().time_zone)
    weekdays = set(plan.schedule.get("weekdays") or range(7))
    hours = sorted(plan.schedule.get("hours") or ())
    day = since.astimezone(zone).date()
    out: list[datetime] = []
    while datetime(day.year, day.month, day.day, tzinfo=zone) < until:
        if day.weekday() in weekdays:
            for hour in hours:
                due = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
                if since <= due < until:
                    out.append(due.astimezone(UTC))
        day += timedelta(days=1)
    return out


async def schedule_rounds(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Rounds for every active plan due from now to a day ahead (a round already made is kept)."""
    at = now or utcnow()
    repo = PatrolRepository(session)
    rows: list[dict[str, Any]] = []
    for plan in await repo.active_plans():
        for due in due_times(plan, since=at - timedelta(minutes=plan.window_minutes), until=at + SCHEDULE_AHEAD):
            rows.append(
                {
                    "plan_id": plan.id,
                    "node_path": plan.node_path,
                    "assignee_id": plan.assignee_id,
                    "due_at": due,
                    "deadline_at": due + timedelta(minutes=plan.window_minutes),
                    "status": "open",
                }
            )
    return await repo.add_rounds(rows)


async def _round_view(session: AsyncSession, patrol_round: PatrolRound) -> RoundView:
    repo = PatrolRepository(session)
    plan = await repo.plan(patrol_round.plan_id)
    if plan is None:
        raise NotFound("round")
    return RoundView(patrol_round, plan, await repo.checkpoints(plan.id), await repo.checkins(patrol_round.id))


async def list_rounds(
    session: AsyncSession,
    *,
    actor: Principal,
    mine: bool,
    node_id: int | None,
    status: str | None,
    after_id: int | None,
    limit: int,
    now: datetime | None = None,
) -> list[RoundView]:
    """Rounds due before a day from now, newest first: the caller's own (`mine`), or all under a node."""
    within = await NodeService(session).path_filter(node_id)
    rounds = await PatrolRepository(session).rounds(
        within_path=within,
        assignee_id=actor.id if mine else None,
        status=status,
        due_before=(now or utcnow()) + SCHEDULE_AHEAD,
        after_id=after_id,
        limit=limit,
    )
    return [await _round_view(session, r) for r in rounds]


async def get_round(session: AsyncSession, *, actor: Principal, round_id: int) -> RoundView:
    patrol_round = await access_object(
        session, actor, await PatrolRepository(session).round(round_id), permission=(RESOURCE, "read"), what="round"
    )
    return await _round_view(session, patrol_round)


async def check_in(
    session: AsyncSession,
    *,
    actor: Principal,
    round_id: int,
    code: str,
    note: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    finding: Finding | None = None,
    now: datetime | None = None,
) -> tuple[PatrolCheckin, RoundView]:
    """The walker at a checkpoint: recorded once per round; the last checkpoint finishes the round. A
    photo follows with `attach_photo`."""
    at = now or utcnow()
    repo = PatrolRepository(session)
    patrol_round = await _walker_round(session, actor, round_id)
    view = await _round_view(session, patrol_round)
    if patrol_round.completed_at is not None:
        raise Conflict("this round is finished", code="round_finished")
    wanted = code.strip().removeprefix(QR_PREFIX)
    checkpoint = next((c for c in view.checkpoints if secrets.compare_digest(c.code, wanted)), None)
    if checkpoint is None:
        raise BadRequest("this code is not a checkpoint of the round", code="unknown_checkpoint")
    if any(k.checkpoint_id == checkpoint.id for k in view.checkins):
        raise Conflict("this checkpoint is already checked in", code="already_checked_in")
    event_id = None
    if finding is not None:
        location = await session.get(Location, checkpoint.location_id) if checkpoint.location_id else None
        event, _ = await intake.create_event(
            session,
            actor=actor,
            intake=intake.Intake(
                item_code=finding.item,
                node_id=checkpoint.node_id,
                source="staff_patrol",
                description=finding.description or checkpoint.name,
                location={"building": location.name} if location is not None else {"space": checkpoint.name},
            ),
            now=at,
        )
        event_id = event.id
    checkin = PatrolCheckin(
        round_id=patrol_round.id,
        checkpoint_id=checkpoint.id,
        node_path=checkpoint.node_path,
        checked_by=actor.id,
        checked_at=at,
        latitude=latitude,
        longitude=longitude,
        note=note,
        finding_event_id=event_id,
    )
    repo.add(checkin)
    if len(view.checkins) + 1 == len(view.checkpoints):
        patrol_round.completed_at = at
        if patrol_round.status == "open":
            patrol_round.status = "done" if at <= patrol_round.deadline_at else "late"
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="patrol.checkin",
        object_type="patrol_round",
        object_id=patrol_round.id,
        node_path=checkpoint.node_path,
        after={
            "checkpoint_id": checkpoint.id,
            "finding_event_id": str(event_id) if event_id else None,
        },
    )
    return checkin, await _round_view(session, patrol_round)


async def _walker_round(session: AsyncSession, actor: Principal, round_id: int) -> PatrolRound:
    patrol_round = await access_object(
        session,
        actor,
        await PatrolRepository(session).round(round_id, lock=True),
        permission=(RESOURCE, "checkin"),
        what="round",
    )
    if patrol_round.assignee_id != actor.id and not actor.can(RESOURCE, "update", patrol_round.node_path):
        raise Forbidden("this round is someone else's", code="not_your_round")
    return patrol_round


async def attach_photo(
    session: AsyncSession, *, actor: Principal, round_id: int, checkpoint_id: int, data: bytes
) -> RoundView:
    """The photo taken at a checked-in checkpoint (one each), stored without its metadata; a finding's
    event gets it as evidence too."""
    patrol_round = await _walker_round(session, actor, round_id)
    view = await _round_view(session, patrol_round)
    checkin = next((k for k in view.checkins if k.checkpoint_id == checkpoint_id), None)
    if checkin is None:
        raise NotFound("check-in")
    if checkin.photo_key is not None:
        raise Conflict("this check-in has its photo", code="photo_exists")
    cleaned = await clean_photo(data)
    checkin.photo_key = f"patrol/{patrol_round.id}/{uuid.uuid4()}.{cleaned.extension}"
    await get_storage().put(checkin.photo_key, cleaned.data, cleaned.content_type)
    if checkin.finding_event_id is not None:
        event = await get_event(session, actor=actor, event_id=checkin.finding_event_id)
        await lifecycle.store_attachment(session, actor=actor, event=event, filename="patrol.jpg", data=data)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="patrol.photo",
        object_type="patrol_round",
        object_id=patrol_round.id,
        node_path=checkin.node_path,
        after={"checkpoint_id": checkpoint_id},
    )
    return view


async def sweep_rounds(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Rounds past their deadline and unfinished become late; the community's staff hear of each once."""
    at = now or utcnow()
    repo = PatrolRepository(session)
    late = 0
    for patrol_round in await repo.overdue_rounds(at):
        view = await _round_view(session, patrol_round)
        missing = [c.name for c in view.checkpoints if all(k.checkpoint_id != c.id for k in view.checkins)]
        patrol_round.status, patrol_round.escalated_at = "late", at
        told = await routing.notify_community_staff(
            session,
            node_path=patrol_round.node_path,
            kind="patrol_late",
            title=f"巡查未按时完成：{view.plan.name}",
            body=f"未到检查点 {len(missing)} 个：{'、'.join(missing)}",
            payload={"round_id": patrol_round.id, "plan_id": view.plan.id, "missing": missing},
            at=at,
        )
        await audit.record(
            session,
            actor=None,
            actor_label="patrol sweep",
            action="patrol.round_late",
            object_type="patrol_round",
            object_id=patrol_round.id,
            node_path=patrol_round.node_path,
            after={"missing": len(missing), "notified": told},
        )
        late += 1
    await session.flush()
    return late


async def overview(session: AsyncSession, *, node_id: int | None, since: datetime, until: datetime) -> dict[str, Any]:
    """Rounds due in the window under the node (else all the caller may see): done on time, late, still
    open; checkpoints missed in rounds left unfinished; the on-time rate of the rounds that are over."""
    within = await NodeService(session).path_filter(node_id)
    return await PatrolRepository(session).overview(path=within, since=since, until=until)
