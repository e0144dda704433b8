"""The FastAPI app factory: one app for the API, the portal and the operational endpoints."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from linli.platform import health
from linli.platform.bodylimit import BodyLimitMiddleware, body_limits
from linli.platform.db import dispose_engines
from linli.platform.errors import ERROR_RESPONSES
from linli.platform.http import error_body, install_error_handlers, install_request_middleware
from linli.platform.logging import configure_logging
from linli.platform.settings import get_settings


def operation_id(route: APIRoute) -> str:
    """Readable operation ids: the endpoint function's name (`list_nodes`), not FastAPI's generated
    `list_nodes_api_v1_nodes_get`. A test keeps them unique."""
    return route.name


def install_method_not_allowed(app: FastAPI) -> None:
    """405 with an `Allow` naming every method the OpenAPI declares for the path: Starlette names only
    those of the first route matching it, and each method is a route of its own here. As in OpenAPI, the
    most concrete template wins (`/devices/bulk` over `/devices/{device_id}`)."""
    templates: list[tuple[re.Pattern[str], int, set[str]]] = []

    def declared_methods(path: str) -> set[str]:
        if not templates:
            for template, operations in app.openapi()["paths"].items():
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
                methods = {method.upper() for method in operations}
                templates.append((re.compile(f"^{pattern}$"), template.count("{"), methods))
        matching = [(params, methods) for pattern, params, methods in templates if pattern.match(path)]
        fewest = min((params for params, _ in matching), default=0)
        return {method for params, methods in matching if params == fewest for method in methods}

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Routes outside the OpenAPI (the portal) keep Starlette's answer.
        allow = ", ".join(sorted(declared_methods(request.url.path))) or (exc.headers or {}).get("Allow", "")
        body = error_body("method_not_allowed", f"{request.method} is not allowed here")
        return JSONResponse(body, status_code=405, headers={"Allow": allow})


def create_app() -> FastAPI:
    from linli import wiring  # the composition root imports every domain: only when an app is built

    wiring.wire()
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
    install_method_not_allowed(app)
    install_request_middleware(app)
    app.include_router(health.router)
    for router in wiring.ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    if settings.forwarded_allow_ips:
        # Outermost, so that everything inside sees the client the trusted proxy reports.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app
