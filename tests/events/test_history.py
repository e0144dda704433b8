"""The demo's 30 days of history (what `linli seed demo` leaves) and the daily statistics the command
screen reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import lifecycle
from linli.events.demo import seed_history
from linli.events.rollups import quantile, refresh_rollups, rolled_up_days, subtree_stats
from linli.platform.access import load_user_principal
from linli.platform.db import SYSTEM_SCOPE, apply_scopes, session_factory
from tests.conftest import Login
from tests.events.conftest import system
from tests.tenants.support import LUOHU, WUHOU, node_id, scalar, superuser

TZ = ZoneInfo("Asia/Shanghai")
DEMO = "raised_by = 'demo'"


async def get(client: httpx.AsyncClient, headers: dict[str, str], url: str, **params: Any) -> dict[str, Any]:
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize(("admin", "district"), [("admin@luohu.demo", LUOHU), ("admin@wuhou.demo", WUHOU)])
async def test_the_history_has_the_articles_figures(
    admin: str, district: str, client: httpx.AsyncClient, login: Login
) -> None:
    until = datetime.now(UTC)
    window = {"node_id": node_id(district), "from": (until - timedelta(days=30)).isoformat(), "to": until.isoformat()}
    k = await get(client, await login(admin), "/api/v1/events/kpis", **window)
    assert k["total"] > 1000
    assert k["resolution_rate"] >= 0.98 and k["on_time_rate"] > 0.9
    assert k["ratings"] > 100 and k["satisfaction_rate"] > 0.85
    assert {"ai_video", "iot_alarm", "resident_report", "staff_patrol", "hotline"} <= set(k["by_source"])
    assert k["by_source"]["ai_video"] > k["by_source"]["hotline"]
    # Urgent items (resolved within the hour by their SLA): about 18 minutes, never under 2.
    with superuser() as conn:
        row = conn.execute(
            f"""select avg(extract(epoch from e.resolved_at - e.created_at)) / 60,
                       min(extract(epoch from e.resolved_at - e.created_at)) / 60
                from events e join event_items i on i.code = e.item_code
                where e.{DEMO} and e.node_path <@ %s::ltree and i.resolve_minutes <= 60""",
            (district,),
        ).fetchone()
    assert row is not None
    average, fastest = row
    assert 15 <= average <= 21 and fastest >= 2


def test_the_history_follows_the_state_machine() -> None:
    with superuser() as conn:
        checks = {
            "a step that does not start where the previous ended": f"""
                select count(*) from (
                  select t.from_status, lag(t.to_status) over (partition by t.event_id order by t.id) as before
                  from event_timeline t join events e on e.id = t.event_id
                  where e.{DEMO} and t.to_status is not null) s
                where s.from_status is distinct from s.before""",
            "a timeline that goes back in time": f"""
                select count(*) from (
                  select t.at, lag(t.at) over (partition by t.event_id order by t.id) as before
                  from event_timeline t join events e on e.id = t.event_id where e.{DEMO}) s
                where s.at < s.before""",
            "a status the timeline did not end in": f"""
                select count(*) from events e where e.{DEMO} and e.status <> (
                  select t.to_status from event_timeline t where t.event_id = e.id and t.to_status is not null
                  order by t.id desc limit 1)""",
            "a resolution without the photo its item requires": f"""
                select count(*) from events e join event_items i on i.code = e.item_code
                where e.{DEMO} and i.evidence_required and e.resolved_at is not null and not exists (
                  select 1 from event_timeline t where t.event_id = e.id and t.action = 'resolve'
                  and cardinality(t.attachments) = 1)""",
            "an escalation without a missed deadline": f"""
                select count(*) from events e where e.{DEMO} and (e.escalation_level > 0) <> coalesce(
                  e.resolved_at > e.resolve_by, false)""",
            "a deadline the sweep would act on today": f"""
                select count(*) from event_deadlines d join events e on e.id = d.event_id
                where e.{DEMO} and d.done_at is null and d.due_at < now() + interval '12 hours'""",
            "a rating of an event not closed": f"""
                select count(*) from event_ratings r join events e on e.id = r.event_id
                where e.{DEMO} and e.status <> 'closed'""",
        }
        found = {name: conn.execute(sql).fetchone() for name, sql in checks.items()}
    assert {name: row[0] for name, row in found.items() if row and row[0]} == {}


async def test_seeding_history_again_adds_nothing(db: AsyncSession) -> None:
    await system(db)
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert await seed_history(db, days=2, per_community_day=3, now=now) > 0
    assert await seed_history(db, days=2, per_community_day=3, now=now) == 0


async def test_the_command_screen_agrees_with_the_events_themselves(client: httpx.AsyncClient, login: Login) -> None:
    """Rolled-up days and the live part together give the numbers `linli_event_kpis` computes from the
    events (p90 from histograms: within 10 %)."""
    admin = await login("admin@luohu.demo")
    until = datetime.now(UTC)
    window = {"from": (until - timedelta(days=30)).isoformat(), "to": until.isoformat()}
    district = node_id(LUOHU)
    exact = await get(client, admin, "/api/v1/events/kpis", node_id=district, **window)
    screen = await get(client, admin, f"/api/v1/dashboards/nodes/{district}", **window)
    numbers = screen["events"]
    for key in ("total", "open", "resolved", "cancelled", "ratings"):
        assert numbers[key] == exact[key], key
    for key in ("avg_accept_s", "avg_resolve_s", "on_time_rate", "resolution_rate", "avg_rating", "satisfaction_rate"):
        assert numbers[key] == pytest.approx(exact[key], rel=1e-9), key
    for key in ("p90_accept_s", "p90_resolve_s"):
        assert numbers[key] == pytest.approx(exact[key], rel=0.1), key
    assert screen["by_item"] == exact["by_item"] and screen["by_source"] == exact["by_source"]
    assert sum(screen["by_line"].values()) == sum(d["total"] for d in screen["per_day"]) == numbers["total"]
    assert sum(c["events"]["total"] for c in screen["children"]) == numbers["total"]
    assert len(screen["per_day"]) == 31 and screen["time_zone"] == "Asia/Shanghai"


async def test_a_change_to_an_old_event_shows_once_its_day_is_rolled_up_again() -> None:
    """The worker rolls up again the days of the events changed since its last run (here in a worker
    transaction of its own, rolled back: the rollup is the worker's to write)."""
    community = f"{LUOHU}.s005.c001"
    since = datetime.combine(datetime.now(TZ).date() - timedelta(days=5), time(), TZ)
    event_id = scalar(
        f"""select id from events where {DEMO} and status = 'closed' and node_path <@ %s::ltree
            and created_at >= %s and created_at < %s order by id limit 1""",
        community,
        since,
        since + timedelta(days=1),
    )
    staff_id = scalar("select id from users where email = 'staff@mumianling.demo'")

    async def open_that_day(session: AsyncSession) -> int:
        stats = await subtree_stats(
            session,
            node_id=node_id(community),
            node_path=community,
            child_ids=[],
            since=since,
            until=since + timedelta(days=1),
        )
        return stats.own.open

    async with session_factory("worker")() as worker:
        try:
            await apply_scopes(worker, SYSTEM_SCOPE)
            before = await open_that_day(worker)
            staff = await load_user_principal(worker, staff_id)
            await lifecycle.transition(worker, actor=staff, event_id=event_id, action="reopen")
            assert await open_that_day(worker) == before  # that day is read from the rollup
            assert await refresh_rollups(worker) >= 1
            assert await open_that_day(worker) == before + 1
        finally:
            await worker.rollback()


def test_a_quantile_is_read_inside_its_bucket() -> None:
    assert quantile({}, 0.9) is None
    # Bucket 8 holds [4, 4.76) seconds: the p90 of ten values there lies inside it.
    assert 4 <= (quantile({8: 10}, 0.9) or 0) < 2 ** (9 / 4)
    # Nine fast values and one slow: the p90 is among the fast ones, the p99 in the slow one's bucket.
    assert (quantile({4: 9, 40: 1}, 0.9) or 0) <= 2 ** (5 / 4)
    assert (quantile({4: 9, 40: 1}, 0.99) or 0) >= 2**10


def test_only_whole_days_before_today_come_from_the_rollup() -> None:
    now = datetime(2026, 11, 26, 15, 0, tzinfo=TZ)
    midnight = datetime(2026, 11, 20, tzinfo=TZ)
    assert rolled_up_days(midnight, now, now=now, tz=TZ) == (date(2026, 11, 20), date(2026, 11, 25))
    assert rolled_up_days(midnight + timedelta(hours=1), now, now=now, tz=TZ) == (
        date(2026, 11, 21),
        date(2026, 11, 25),
    )
    assert rolled_up_days(now - timedelta(hours=20), now, now=now, tz=TZ) is None
    assert rolled_up_days(midnight, midnight + timedelta(days=2), now=now, tz=TZ) == (
        date(2026, 11, 20),
        date(2026, 11, 21),
    )
