"""Event statistics of a subtree over a window, fast at any size: the whole local days come from the
daily rollup (`event_day_rollup`, one row per node and day, kept by the worker), the rest (the partial
days at the window's ends, and today) from the events themselves, through the same SQL definition.

The KPIs are those of `linli_event_kpis` (which `GET /events/kpis` and Grafana use); the p90 times are
read from histograms whose buckets are a quarter of a doubling wide, so they are within 10 %.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.repositories.rollups import EventRollupRepository
from linli.platform.settings import get_settings

# The bucket width of `linli_duration_bucket` (migration 0019): bucket k holds [2^(k/4), 2^((k+1)/4)) s.
BUCKETS_PER_DOUBLING = 4
# Events whose change committed this long after the time they carry are still rolled up.
CHANGE_OVERLAP = timedelta(minutes=5)
# The nightly rebuild covers the longest window a screen may ask for, and a little more.
REBUILD_DAYS = 400
BREAKDOWNS = ("items", "sources", "lines")
# Days rebuilt per statement (a rebuild holds every event of its days in memory once per level).
DAYS_PER_REBUILD = 7


@dataclass
class Stats:
    """Sums the KPIs are made of; adding two gives the statistics of both."""

    total: int = 0
    open: int = 0
    resolved: int = 0
    cancelled: int = 0
    accepted: int = 0
    accept_s: float = 0.0
    resolved_n: int = 0
    resolve_s: float = 0.0
    on_time: int = 0
    ratings: int = 0
    rating_sum: int = 0
    satisfied: int = 0
    items: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    lines: Counter[str] = field(default_factory=Counter)
    accept_hist: Counter[int] = field(default_factory=Counter)
    resolve_hist: Counter[int] = field(default_factory=Counter)

    @classmethod
    def of_row(cls, row: Mapping[str, Any], *, breakdowns: bool) -> Stats:
        """From a row of `linli_event_day_stats` (or of the rollup); the counts by item, source and line
        only with `breakdowns`."""
        out = cls()
        for f in fields(cls):
            value = row[f.name]
            if f.name in BREAKDOWNS:
                value = Counter(value if breakdowns else ())
            elif f.name.endswith("_hist"):
                value = Counter({int(k): n for k, n in value.items()})
            setattr(out, f.name, value)
        return out

    def add(self, other: Stats, *, sums_only: bool = False) -> None:
        """Add `other`'s numbers; with `sums_only` not its counters (breakdowns, histograms)."""
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, Counter):
                if not sums_only:
                    mine.update(getattr(other, f.name))
            else:
                setattr(self, f.name, mine + getattr(other, f.name))

    def kpis(self) -> dict[str, Any]:
        """The columns of `linli_event_kpis`."""
        return {
            "total": self.total,
            "open": self.open,
            "resolved": self.resolved,
            "cancelled": self.cancelled,
            "avg_accept_s": self.accept_s / self.accepted if self.accepted else None,
            "p90_accept_s": quantile(self.accept_hist, 0.9),
            "avg_resolve_s": self.resolve_s / self.resolved_n if self.resolved_n else None,
            "p90_resolve_s": quantile(self.resolve_hist, 0.9),
            "on_time_rate": self.on_time / self.resolved_n if self.resolved_n else None,
            "resolution_rate": self.resolved / (self.total - self.cancelled) if self.total > self.cancelled else None,
            "ratings": self.ratings,
            "avg_rating": self.rating_sum / self.ratings if self.ratings else None,
            "satisfaction_rate": self.satisfied / self.ratings if self.ratings else None,
        }


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile of the seconds counted in `histogram`, interpolated inside its bucket."""
    count = sum(histogram.values())
    if not count:
        return None
    rank, below = q * count, 0
    for bucket in sorted(histogram):
        n = histogram[bucket]
        if below + n >= rank:
            return float(2 ** ((bucket + (rank - below) / n) / BUCKETS_PER_DOUBLING))
        below += n
    return float(2 ** ((max(histogram) + 1) / BUCKETS_PER_DOUBLING))


@dataclass
class SubtreeStats:
    """A node's statistics over a window, its children's (by path; without breakdowns), and the node's
    sums per local day."""

    own: Stats
    children: dict[str, Stats]
    days: dict[date, Stats]


def _start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz)


def rolled_up_days(since: datetime, until: datetime, *, now: datetime, tz: ZoneInfo) -> tuple[date, date] | None:
    """The whole local days inside [since, until) that lie before today (today is never rolled up yet)."""
    first = since.astimezone(tz).date()
    if _start(first, tz) < since:
        first += timedelta(days=1)
    boundary = min(until, _start(now.astimezone(tz).date(), tz))
    last = boundary.astimezone(tz).date() - timedelta(days=1)
    return (first, last) if first <= last else None


async def subtree_stats(
    session: AsyncSession,
    *,
    node_id: int,
    node_path: str,
    child_ids: Iterable[int],
    since: datetime,
    until: datetime,
    now: datetime | None = None,
) -> SubtreeStats:
    """Events created in [since, until) under the node, and under each of its children."""
    zone = get_settings().time_zone
    tz = ZoneInfo(zone)
    level = node_path.count(".") + 1
    repo = EventRollupRepository(session)
    rows: list[Any] = []
    live: list[tuple[datetime, datetime]] = [(since, until)]
    days = rolled_up_days(since, until, now=now or datetime.now(UTC), tz=tz)
    if days is not None:
        first, last = days
        rows += await repo.stored(node_ids=[node_id, *child_ids], first=first, last=last)
        live = [(since, _start(first, tz)), (_start(last + timedelta(days=1), tz), until)]
    for start, end in live:
        if start < end:
            rows += await repo.live(path=node_path, since=start, until=end, levels=(level, level + 1), tz=zone)
    out = SubtreeStats(Stats(), {}, {})
    for row in rows:
        own = row.node_path == node_path
        stats = Stats.of_row(row._mapping, breakdowns=own)
        if own:
            out.own.add(stats)
            out.days.setdefault(row.day, Stats()).add(stats, sums_only=True)
        else:
            out.children.setdefault(row.node_path, Stats()).add(stats)
    return out


def _ranges(days: list[date], span: int) -> list[tuple[date, date]]:
    """Consecutive runs of the sorted `days`, each at most `span` days long."""
    out: list[tuple[date, date]] = []
    for day in days:
        if out and day - out[-1][1] == timedelta(days=1) and (day - out[-1][0]).days < span:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


async def refresh_rollups(session: AsyncSession, *, rebuild: bool = False, now: datetime | None = None) -> int:
    """Roll up again every day with an event changed since the last run (all days the first time), or
    with `rebuild` every day of the last REBUILD_DAYS (the nightly safety net: node moves and purges
    change no event's `updated_at`). Returns how many days were rolled up. Needs the system scope."""
    zone = get_settings().time_zone
    repo = EventRollupRepository(session)
    await repo.lock()
    last = None if rebuild else await repo.last_refresh()
    not_before = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date() - timedelta(days=REBUILD_DAYS)
    days = await repo.changed_days(
        since=last - CHANGE_OVERLAP if last else None, not_before=not_before if rebuild else None, tz=zone
    )
    for first, end in _ranges(days, DAYS_PER_REBUILD):
        await repo.rebuild(first=first, last=end, tz=zone)
    return len(days)
