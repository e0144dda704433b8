"""Binary COPY encoding, checked by decoding it again (no database)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from linli.iot.ingest.copyformat import COPY_SIGNATURE, COPY_TRAILER, PG_EPOCH, copy_payload, copy_statement


def test_rows_encode_as_postgres_binary_copy_with_their_dirty_hours() -> None:
    t1 = datetime(2026, 11, 21, 8, 59, 59, 999999, tzinfo=UTC)
    t2 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    rows = [(t1, 7, 2**40, 40000, 12.5), (t2, 7, 3, 1, -0.25), (t1, 8, 4, 2, 1.0)]

    payload, hours = copy_payload(rows)

    assert payload.startswith(COPY_SIGNATURE) and payload.endswith(COPY_TRAILER)
    body = payload[len(COPY_SIGNATURE) : -len(COPY_TRAILER)]
    row = struct.Struct("!hiqiiiqiiid")
    assert len(body) == 3 * row.size
    decoded = []
    for n in range(3):
        count, *fields = row.unpack_from(body, n * row.size)
        assert count == 5 and fields[0::2] == [8, 4, 8, 4, 8]
        us, tenant, device, metric, value = fields[1::2]
        decoded.append((us, tenant, device, metric, value))
    assert [d[1:] for d in decoded] == [r[1:] for r in rows]
    assert [d[0] for d in decoded] == [(r[0] - PG_EPOCH) // timedelta(microseconds=1) for r in rows]
    assert hours == [datetime(2026, 11, 21, 8, tzinfo=UTC), datetime(2026, 11, 21, 9, tzinfo=UTC)]


def test_the_copy_statement_names_the_columns_in_row_order() -> None:
    assert copy_statement("telemetry") == (
        "copy telemetry (ts, tenant_id, device_id, metric_id, value) from stdin (format binary)"
    )
