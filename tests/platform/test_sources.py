"""The event sources are defined once, in the kernel: events' and tenants' schemas take theirs from it."""

from __future__ import annotations

from typing import get_args

from linli.events.schemas import EventCreate
from linli.platform.sources import API_KEY_SOURCES, SIGNED_SOURCES, SOURCES, SYSTEM_SOURCES
from linli.tenants.schemas import ApiKeyCreate


def test_the_source_subsets_nest_and_the_schemas_use_them() -> None:
    assert set(SIGNED_SOURCES) <= set(SYSTEM_SOURCES) < set(API_KEY_SOURCES) < set(SOURCES)
    assert set(SOURCES) - set(API_KEY_SOURCES) == {"resident_report", "staff_patrol"}
    api_key_source = ApiKeyCreate.model_fields["source"].annotation
    assert set(get_args(get_args(api_key_source)[0])) == set(API_KEY_SOURCES)
    event_source = EventCreate.model_fields["source"].annotation
    assert set(get_args(get_args(event_source)[0])) == set(SOURCES)
