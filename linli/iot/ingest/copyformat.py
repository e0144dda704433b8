"""PostgreSQL's binary COPY format for telemetry rows (pure: no database)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

# One telemetry row: ts, tenant_id, device_id, metric_id, value.
Row = tuple[datetime, int, int, int, float]
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
# Field count, then (length, value) for timestamptz, int4, int8, int4, float8.
COPY_ROW = struct.Struct("!hiqiiiqiiid")
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
HOUR_US = 3_600_000_000


def copy_statement(table: str) -> str:
    return f"copy {table} (ts, tenant_id, device_id, metric_id, value) from stdin (format binary)"


def copy_payload(rows: Sequence[Row]) -> tuple[bytes, list[datetime]]:
    """Rows in PostgreSQL's binary COPY format, built in one pass (a coroutine per row cost more than
    the database's own work), and the UTC hours they fall in (dirty for the rollups)."""
    micros: dict[datetime, int] = {}
    pack = COPY_ROW.pack
    parts = [COPY_SIGNATURE]
    for ts, tenant_id, device_id, metric_id, value in rows:
        us = micros.get(ts)
        if us is None:
            us = micros[ts] = (ts - PG_EPOCH) // MICROSECOND
        parts.append(pack(5, 8, us, 4, tenant_id, 8, device_id, 4, metric_id, 8, value))
    parts.append(COPY_TRAILER)
    hours = sorted({us // HOUR_US for us in micros.values()})
    return b"".join(parts), [PG_EPOCH + timedelta(hours=h) for h in hours]
