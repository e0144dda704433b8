"""The time window every KPI takes: `from` and `to` query parameters with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from linli.platform.errors import BadRequest

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)


def require_aware(*values: datetime | None) -> None:
    if any(v is not None and v.tzinfo is None for v in values):
        raise BadRequest("times need a time zone, e.g. 2026-11-01T00:00:00+08:00", code="naive_datetime")


def resolve_window(
    from_: datetime | None, to_: datetime | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """Default: the 30 days up to now. Both ends need a time zone; at most 366 days."""
    require_aware(from_, to_)
    to_ = to_ or now or datetime.now(UTC)
    from_ = from_ or to_ - DEFAULT_WINDOW
    if from_ >= to_:
        raise BadRequest("from must be before to", code="empty_window")
    if to_ - from_ > MAX_WINDOW:
        raise BadRequest("the window may span at most 366 days", code="window_too_long")
    return from_, to_
