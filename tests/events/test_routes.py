from __future__ import annotations

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from linli.events.api import router
from linli.events.open311 import PUBLIC_PATHS, open311_router
from linli.platform.access import PERMISSION_DEPENDENCIES
from linli.platform.catalogs import load
from tests.conftest import Login


def _declared(dependant: Dependant) -> bool:
    return any(d.call in PERMISSION_DEPENDENCIES or _declared(d) for d in dependant.dependencies)


def test_every_events_endpoint_declares_a_permission_except_the_public_open311_ones() -> None:
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 15
    missing = [r.path for r in routes if not _declared(r.dependant)]
    assert missing == []
    public = sorted({r.path for r in open311_router.routes if isinstance(r, APIRoute)})
    assert public == sorted(PUBLIC_PATHS)


def test_schema_kinds_and_sources_match_the_model_and_the_taxonomy() -> None:
    from typing import get_args

    from linli.events.models import HANDLER_KINDS
    from linli.events.schemas import HandlerKind, Source
    from linli.platform.catalogs import load
    from linli.platform.sources import SOURCES

    assert set(get_args(HandlerKind)) == set(HANDLER_KINDS)
    assert set(get_args(Source)) == set(SOURCES)
    taxonomy = load("event_taxonomy")
    items = [i for line in taxonomy["lines"] for i in line["items"]]
    assert {i["handler"] for i in items} <= set(HANDLER_KINDS)
    assert {s for i in items for s in i["sources"]} <= set(SOURCES)


def test_the_platform_paths_raise_only_items_their_source_may_raise() -> None:
    """Sources are enforced per item: a catalog rule or an AI detection type naming an item its source
    may not raise would open alarms or detections that silently raise no event."""
    from linli.events.intake import DETECTION_TYPES
    from linli.platform.catalogs import load

    sources = {i["code"]: i["sources"] for line in load("event_taxonomy")["lines"] for i in line["items"]}
    raised = {r["raises"] for t in load("device_catalog")["types"] for r in t.get("rules", []) if r.get("raises")}
    assert raised and all("iot_alarm" in sources[item] for item in raised), raised
    assert all("ai_video" in sources[item] for item in DETECTION_TYPES.values())


async def test_the_taxonomy_lists_the_seven_lines_with_their_items_in_both_languages(
    client: httpx.AsyncClient, login: Login
) -> None:
    response = await client.get("/api/v1/event-items", headers=await login("grid@mumianling.demo"))
    assert response.status_code == 200, response.text
    lines = response.json()["items"]
    taxonomy = load("event_taxonomy")["lines"]
    assert [line["code"] for line in lines] == [line["code"] for line in taxonomy]
    garbage = next(i for line in lines for i in line["items"] if i["code"] == "ca_garbage_overflow")
    assert garbage["name"] == "垃圾满溢" and garbage["name_en"] == "Garbage overflow"
    assert garbage["evidence_required"] is True and "ai_video" in garbage["sources"]
    assert (await client.get("/api/v1/event-items")).status_code == 401
