from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from linli.events.api import PUBLIC_PATHS, open311_router, router
from linli.platform.access import PERMISSION_DEPENDENCIES


def _declared(dependant: Dependant) -> bool:
    return any(d.call in PERMISSION_DEPENDENCIES or _declared(d) for d in dependant.dependencies)


def test_every_events_endpoint_declares_a_permission_except_the_public_open311_ones() -> None:
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) >= 15
    missing = [r.path for r in routes if not _declared(r.dependant)]
    assert missing == []
    public = sorted({r.path for r in open311_router.routes if isinstance(r, APIRoute)})
    assert public == sorted(PUBLIC_PATHS)
