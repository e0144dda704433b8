"""Every query of the care domain. Rows are limited to the caller's scopes by row-level security; the
jobs run in the system scope. The watch is set-based: one statement finds every person to alert and
one clears every alert whose person was seen again, however many sensors there are."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.care.models import CareAlert, CareAway, CareProfile, CareSensor, CareVisit

LOCAL_TZ = "Asia/Shanghai"

# A sensor's last sign of life: its last reading, but never before it was linked (a sensor silent since
# long before it was linked starts the person's window at the link).
SENSOR_SEEN = "greatest(coalesce(d.last_seen_at, s.created_at), s.created_at)"

SILENT_PEOPLE = f"""
with watch as (
  select s.person_id, max({SENSOR_SEEN}) as seen
  from care_sensors s join devices d on d.id = s.device_id and d.revoked_at is null
  group by s.person_id
), watched as (
  select w.person_id, p.node_path, p.household_id, p.name,
    greatest(w.seen, (select max(a.ends_at) from care_away a where a.person_id = w.person_id and a.ends_at <= :at))
      as seen,
    coalesce(pr.not_seen_hours,
      (select min(c.not_seen_hours) from care_categories c where c.code = any(p.care_categories))) as hours,
    pr.quiet_start, pr.quiet_end
  from watch w join people p on p.id = w.person_id left join care_profiles pr on pr.person_id = w.person_id
)
select w.person_id, w.node_path, w.household_id, w.name, w.seen, w.hours, h.node_id as estate_id, h.room
from watched w join households h on h.id = w.household_id
where w.hours is not null and w.seen < :at - make_interval(hours => w.hours)
  and not exists (select 1 from care_alerts a where a.person_id = w.person_id and a.cleared_at is null)
  and not exists (select 1 from care_away a where a.person_id = w.person_id and a.starts_at <= :at and a.ends_at > :at)
  and not coalesce(case when w.quiet_start <= w.quiet_end
      then cast(:local_time as time) >= w.quiet_start and cast(:local_time as time) < w.quiet_end
      else cast(:local_time as time) >= w.quiet_start or cast(:local_time as time) < w.quiet_end
    end, false)
order by w.person_id
"""

CLEAR_SEEN = f"""
update care_alerts a set cleared_at = :at
from (
  select s.person_id, max({SENSOR_SEEN}) as seen
  from care_sensors s join devices d on d.id = s.device_id
  where s.person_id in (select person_id from care_alerts where cleared_at is null)
  group by s.person_id
) x
where a.person_id = x.person_id and a.cleared_at is null and x.seen > a.silent_since
returning a.id, a.person_id, a.event_id
"""

# One open visit per person in a category that asks for visits: due a category's interval after the last
# visit done, or today for someone never visited.
SCHEDULE_VISITS = f"""
insert into care_visits (person_id, node_path, due_on)
select p.id, p.node_path,
  coalesce((select max((v.visited_at at time zone '{LOCAL_TZ}')::date) from care_visits v
            where v.person_id = p.id and v.status = 'done') + e.every, :today)
from people p
cross join lateral (select min(c.visit_every_days) as every from care_categories c
                    where c.code = any(p.care_categories)) e
where p.care_categories <> '{{}}' and e.every is not null
  and not exists (select 1 from care_visits v where v.person_id = p.id and v.status = 'open')
on conflict (person_id) where status = 'open' do nothing
"""

ESCALATE_OVERDUE = """
update care_visits v set escalated_at = :at
where v.status = 'open' and v.escalated_at is null and v.due_on < :today
returning v.id, v.person_id, v.node_path, v.due_on
"""


# The demo: each cared-for person of the named estates gets a door contact, a water meter and an SOS band
# of their estate, shared round-robin among the few demo devices there.
LINK_DEMO_SENSORS = """
insert into care_sensors (person_id, device_id, node_path, role)
select p.id, d.id, p.node_path, r.role
from (select p.id, p.node_path, row_number() over (partition by p.node_path order by p.id) as rn
      from people p join nodes n on n.node_path = p.node_path
      where n.name = any(:estates) and n.level = 'estate' and p.care_categories <> '{}'
        and not exists (select 1 from care_sensors s where s.node_path = p.node_path)) p
cross join (values ('door', 'door_sensor'), ('water', 'smart_water_meter'), ('sos', 'sos_band')) r(role, type_code)
cross join lateral (
  select d.id from devices d where d.node_path = p.node_path and d.type_code = r.type_code and d.revoked_at is null
  order by d.id
  offset (p.rn - 1) % greatest(1, (select count(*) from devices x where x.node_path = p.node_path
                                    and x.type_code = r.type_code and x.revoked_at is null))
  limit 1) d
on conflict (person_id, device_id) do nothing
"""


class CareRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    # ------------------------------------------------------------------ the watch

    async def silent_people(self, *, at: datetime, local_time: time) -> Sequence[Row[Any]]:
        """People silent beyond their window at `at`, unless away or inside their quiet hours (`local_time`)."""
        rows = await self.session.execute(text(SILENT_PEOPLE), {"at": at, "local_time": local_time})
        return rows.all()

    async def open_alert(self, *, person_id: int, node_path: str, silent_since: datetime, at: datetime) -> int | None:
        row = await self.session.execute(
            text(
                "insert into care_alerts (person_id, node_path, silent_since, opened_at) "
                "values (:p, text2ltree(:path), :since, :at) "
                "on conflict (person_id) where cleared_at is null do nothing returning id"
            ),
            {"p": person_id, "path": node_path, "since": silent_since, "at": at},
        )
        return row.scalar_one_or_none()

    async def attach_event(self, *, alert_id: int, event_id: uuid.UUID) -> None:
        await self.session.execute(
            text("update care_alerts set event_id = :e where id = :a"), {"e": event_id, "a": alert_id}
        )

    async def clear_seen(self, *, at: datetime) -> Sequence[Row[Any]]:
        return (await self.session.execute(text(CLEAR_SEEN), {"at": at})).all()

    async def people_of_device(self, *, device_id: int, role: str) -> Sequence[Row[Any]]:
        rows = await self.session.execute(
            text(
                "select p.id as person_id, p.name, p.household_id, h.room from care_sensors s "
                "join people p on p.id = s.person_id join households h on h.id = p.household_id "
                "where s.device_id = :d and s.role = :r order by p.id"
            ),
            {"d": device_id, "r": role},
        )
        return rows.all()

    async def link_demo_sensors(self, estates: Sequence[str]) -> int:
        result = await self.session.execute(text(LINK_DEMO_SENSORS), {"estates": list(estates)})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ a person's watch

    async def category_hours(self, codes: Sequence[str]) -> int | None:
        row = await self.session.execute(
            text("select min(not_seen_hours) from care_categories where code = any(:c)"), {"c": list(codes)}
        )
        hours = row.scalar_one_or_none()
        return None if hours is None else int(hours)

    async def profile(self, person_id: int) -> CareProfile | None:
        return await self.session.get(CareProfile, person_id)

    async def sensors(self, person_id: int) -> Sequence[Row[Any]]:
        rows = await self.session.execute(
            text(
                "select s.id, s.device_id, s.role, s.created_at, d.type_code, d.serial, d.last_seen_at "
                "from care_sensors s join devices d on d.id = s.device_id where s.person_id = :p order by s.id"
            ),
            {"p": person_id},
        )
        return rows.all()

    async def sensor(self, sensor_id: int) -> CareSensor | None:
        return await self.session.get(CareSensor, sensor_id)

    async def sensor_linked(self, *, person_id: int, device_id: int) -> bool:
        found = await self.session.execute(
            select(CareSensor.id).where(CareSensor.person_id == person_id, CareSensor.device_id == device_id)
        )
        return found.first() is not None

    async def delete(self, row: object) -> None:
        await self.session.delete(row)

    async def away_periods(self, person_id: int) -> Sequence[CareAway]:
        rows = await self.session.scalars(
            select(CareAway).where(CareAway.person_id == person_id).order_by(CareAway.starts_at.desc()).limit(50)
        )
        return rows.all()

    async def alerts(self, person_id: int) -> Sequence[CareAlert]:
        rows = await self.session.scalars(
            select(CareAlert).where(CareAlert.person_id == person_id).order_by(CareAlert.id.desc()).limit(20)
        )
        return rows.all()

    # ------------------------------------------------------------------ visits

    async def schedule_visits(self, *, today: date) -> int:
        result = await self.session.execute(text(SCHEDULE_VISITS), {"today": today})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def escalate_overdue(self, *, today: date, at: datetime) -> Sequence[Row[Any]]:
        return (await self.session.execute(text(ESCALATE_OVERDUE), {"today": today, "at": at})).all()

    async def visit(self, visit_id: int) -> CareVisit | None:
        return await self.session.get(CareVisit, visit_id)

    async def visits(
        self,
        *,
        within: str | None,
        person_id: int | None,
        status: str | None,
        overdue_before: date | None,
        after_id: int | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """Visits with their person (name, room): oldest due first, then by id for the cursor."""
        conditions = ["true"]
        params: dict[str, Any] = {"limit": limit}
        if within is not None:
            conditions.append("v.node_path <@ text2ltree(:within)")
            params["within"] = within
        if person_id is not None:
            conditions.append("v.person_id = :person")
            params["person"] = person_id
        if status is not None:
            conditions.append("v.status = :status")
            params["status"] = status
        if overdue_before is not None:
            conditions.append("v.status = 'open' and v.due_on < :today")
            params["today"] = overdue_before
        if after_id is not None:
            conditions.append("v.id > :after")
            params["after"] = after_id
        rows = await self.session.execute(
            text(
                "select v.id, v.person_id, v.node_path, v.due_on, v.status, v.visited_at, v.note, v.escalated_at, "
                "v.photo_key is not null as has_photo, p.name, p.care_categories, h.room "
                "from care_visits v join people p on p.id = v.person_id join households h on h.id = p.household_id "
                f"where {' and '.join(conditions)} order by v.id limit :limit"
            ),
            params,
        )
        return rows.all()

    # ------------------------------------------------------------------ the overview

    async def overview(self, *, path: str, since: datetime, until: datetime) -> Sequence[Row[Any]]:
        rows = await self.session.execute(
            text("select * from linli_care_overview(text2ltree(:p), :f, :t)"), {"p": path, "f": since, "t": until}
        )
        return rows.all()
