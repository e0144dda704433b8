"""Daily event statistics per node (`event_day_rollup`, written by the worker) and the same statistics
computed from the events themselves (`linli_event_day_stats`, for the days not rolled up)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, text

from linli.events.repositories.base import Repository

STAT_COLUMNS = (
    "node_path::text as node_path, day, total, open, resolved, cancelled, accepted, accept_s, resolved_n, "
    "resolve_s, on_time, ratings, rating_sum, satisfied, items, sources, lines, accept_hist, resolve_hist"
)
# Levels of the tree an event is counted at when the whole rollup of a day is rebuilt (1 = district).
ALL_LEVELS = (1, 1000)


class EventRollupRepository(Repository):
    async def stored(self, *, node_ids: Sequence[int], first: date, last: date) -> Sequence[Row[Any]]:
        """The rolled-up days [first, last] of the nodes."""
        rows = await self.session.execute(
            text(
                f"select {STAT_COLUMNS} from event_day_rollup "
                "where node_id = any(cast(:ids as bigint[])) and day between :first and :last"
            ),
            {"ids": list(node_ids), "first": first, "last": last},
        )
        return rows.all()

    async def live(
        self, *, path: str, since: datetime, until: datetime, levels: tuple[int, int], tz: str
    ) -> Sequence[Row[Any]]:
        """The same statistics from the events under `path` created in [since, until), per day and per
        ancestor at the `levels` (first and last, inclusive)."""
        rows = await self.session.execute(
            text(
                f"select {STAT_COLUMNS} from linli_event_day_stats(text2ltree(:path), :since, :until, :low, :high, :tz)"
            ),
            {"path": path, "since": since, "until": until, "low": levels[0], "high": levels[1], "tz": tz},
        )
        return rows.all()

    async def lock(self) -> None:
        """One refresh at a time (the periodic one and the nightly rebuild may meet)."""
        await self.session.execute(text("select pg_advisory_xact_lock(hashtext('linli:event_day_rollup'))"))

    async def last_refresh(self) -> datetime | None:
        found = await self.session.scalar(text("select max(refreshed_at) from event_day_rollup"))
        return found if isinstance(found, datetime) else None

    async def changed_days(self, *, since: datetime | None, not_before: date | None, tz: str) -> list[date]:
        """The local days of the events changed after `since` (every event's day when None), from
        `not_before` on."""
        rows = await self.session.execute(
            text(
                "select distinct (created_at at time zone :tz)::date as day from events "
                "where (cast(:since as timestamptz) is null or updated_at > :since) "
                "and (cast(:not_before as date) is null "
                "or created_at >= cast(:not_before as timestamp) at time zone :tz) "
                "order by day"
            ),
            {"since": since, "not_before": not_before, "tz": tz},
        )
        return list(rows.scalars())

    async def rebuild(self, *, first: date, last: date, tz: str) -> None:
        """Roll the days [first, last] up again, for every node, from the events."""
        await self.session.execute(
            text("delete from event_day_rollup where day between :first and :last"), {"first": first, "last": last}
        )
        await self.session.execute(
            text(
                "insert into event_day_rollup (node_id, node_path, day, total, open, resolved, cancelled, accepted, "
                "accept_s, resolved_n, resolve_s, on_time, ratings, rating_sum, satisfied, items, sources, lines, "
                "accept_hist, resolve_hist) "
                "select n.id, s.* from linli_event_day_stats(''::ltree, cast(:first as timestamp) at time zone :tz, "
                "cast(cast(:last as date) + 1 as timestamp) at time zone :tz, :low, :high, :tz) s "
                "join nodes n on n.node_path = s.node_path"
            ),
            {"first": first, "last": last, "tz": tz, "low": ALL_LEVELS[0], "high": ALL_LEVELS[1]},
        )
