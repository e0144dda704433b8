"""The FastAPI app factory: one app for the API, the portal and the operational endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from linli.platform import health
from linli.platform.bodylimit import BodyLimitMiddleware, body_limits
from linli.platform.db import dispose_engines
from linli.platform.http import install_error_handlers, install_request_middleware
from linli.platform.logging import configure_logging
from linli.platform.settings import get_settings

# Each domain exposes `router` (and optionally more routers) from its api module; listed here once.
ROUTER_MODULES = (
    "linli.platform.hierarchy.api",
    "linli.tenants.api",
    "linli.services.api",
    "linli.residents.api",
    "linli.portal.api",
    "linli.iot.api",
    "linli.events.api",
    "linli.events.open311",
    "linli.dashboards.api",
)


def load_domains() -> None:
    """Import every domain's API (and so its service), which registers its hooks (onboarding defaults,
    demo steps). The CLI and the worker call this too, not only the web app."""
    for module_name in ROUTER_MODULES:
        import_module(module_name)


def operation_id(route: APIRoute) -> str:
    """Readable operation ids: the endpoint function's name (`list_nodes`), not FastAPI's generated
    `list_nodes_api_v1_nodes_get`. A test keeps them unique."""
    return route.name


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await dispose_engines()

    app = FastAPI(
        title="Linli API",
        version="0.1.0",
        lifespan=lifespan,
        description="Multi-tenant smart-community governance: tree, tenants, IoT, events, services.",
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    # Inside the request middleware, so that refused bodies are logged and counted like any request.
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(settings))
    install_request_middleware(app)
    app.include_router(health.router)
    for module_name in ROUTER_MODULES:
        module = import_module(module_name)
        for attr in dir(module):
            router = getattr(module, attr)
            if isinstance(router, APIRouter) and attr.endswith("router"):
                app.include_router(router)
    if settings.forwarded_allow_ips:
        # Outermost, so that everything inside sees the client the trusted proxy reports.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app
