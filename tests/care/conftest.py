"""Care tests run the watch and visit sweeps as the worker does (committed, in their own sessions), like
the IoT tests whose fixtures they reuse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.iot.conftest import devices, estate, live, live_login
from tests.tenants.support import superuser

__all__ = ["devices", "estate", "live", "live_login"]


@pytest.fixture(autouse=True, scope="module")
def _care_events_removed_afterwards() -> Iterator[None]:
    """The sweeps run at future times also raise events for the demo's cared-for persons: the events the
    care tests raised go again afterwards, so that tests counting events see the demo's own."""
    with superuser() as conn:
        row = conn.execute("select now()").fetchone()
    assert row is not None
    started = row[0]
    yield
    with superuser() as conn:
        raised = "select id from events where item_code like 'sa_care%%' and created_at >= %s"
        conn.execute(f"delete from care_alerts where event_id in ({raised})", (started,))
        conn.execute(f"delete from events where id in ({raised})", (started,))
