"""The care tests run against committed data (the ingest writes as the worker role, the jobs in their own
sessions), like the IoT tests whose fixtures they reuse."""

from __future__ import annotations

from tests.iot.conftest import devices, estate, live, live_login

__all__ = ["devices", "estate", "live", "live_login"]
