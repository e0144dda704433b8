"""The error handler, request ids, access logs and Prometheus metrics for the HTTP app."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from linli.platform.errors import LinliError, TooManyRequests
from linli.platform.logging import masked_target, request_id_var
from linli.platform.metrics import HTTP_ERRORS, HTTP_LATENCY

log = logging.getLogger("linli.http")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For already applied): what rate limits key on."""
    return request.client.host if request.client else "unknown"


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LinliError)
    async def _linli_error(request: Request, exc: LinliError) -> JSONResponse:
        HTTP_ERRORS.labels(exc.code).inc()
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if isinstance(exc, TooManyRequests) and exc.retry_after is not None:
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")} for err in exc.errors()
        ]
        HTTP_ERRORS.labels("validation_error").inc()
        first = details[0] if details else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"][1:] or first["loc"])
        message = f"invalid request: {where}: {first['msg']}" if where else f"invalid request: {first['msg']}"
        return JSONResponse(error_body("validation_error", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        HTTP_ERRORS.labels(code).inc()
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        HTTP_ERRORS.labels("internal_error").inc()
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


def install_request_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def _request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(rid[:64])
        started = time.perf_counter()
        try:
            response = await call_next(request)
            elapsed = time.perf_counter() - started
            # The route's template (`/api/v1/events/{event_id}`), never the raw path: ids would make a
            # series per object.
            route_path = getattr(request.scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(request.method, route_path, f"{response.status_code // 100}xx").observe(elapsed)
            response.headers["x-request-id"] = rid[:64]
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": masked_target(request.url.path, request.url.query),
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)
