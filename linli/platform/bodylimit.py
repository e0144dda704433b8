"""Request-body limits in the ASGI layer, per route class, before any handler or parser runs.

A body over the limit is refused with `413 payload_too_large`: at once when its Content-Length says
so (nothing is read), otherwise as soon as the streamed bytes pass the limit. Routes that take large
bodies also need their credential before a byte is read, so anonymous callers cannot make the server
read them: a user's access token is verified here (it needs no database); a device token or API key
must be present and is verified by the handler (the ingest handler does so before reading the body).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli.platform.http import error_body
from linli.platform.metrics import HTTP_ERRORS
from linli.platform.security import decode_access_token
from linli.platform.settings import Settings

MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class RouteClass:
    paths: re.Pattern[str]
    limit: int
    credential_headers: tuple[bytes, ...]  # one of them must be present before the body is read


@dataclass(frozen=True)
class BodyLimits:
    classes: tuple[RouteClass, ...]
    default: int  # JSON bodies of every other route

    def route_class(self, path: str) -> RouteClass | None:
        return next((c for c in self.classes if c.paths.match(path)), None)


def body_limits(settings: Settings) -> BodyLimits:
    upload = settings.body_limit_upload_bytes
    if upload is None:
        upload = settings.events_max_attachment_bytes * 4 // 3 + MULTIPART_OVERHEAD
    return BodyLimits(
        classes=(
            RouteClass(re.compile(r"/api/v1/ingest$"), settings.body_limit_ingest_bytes, (b"x-device-token",)),
            RouteClass(
                re.compile(
                    r"/api/v1/(events/[^/]+/attachments|events/ai-detections|devices/bulk|notices/[^/]+/images"
                    r"|app/[^/]+/(reports|forms)/[^/]+/photos|residents/imports|patrol/rounds/[^/]+/checkins/[^/]+/photo)$"
                ),
                upload,
                (b"authorization", b"x-api-key"),
            ),
        ),
        default=settings.body_limit_json_bytes,
    )


class BodyTooLarge(Exception):
    """Raised from `receive` when the streamed body passes the limit; the handler's read fails with it."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


def _credential_problem(scope: Scope, accepted: tuple[bytes, ...]) -> str | None:
    present = [value for value in (_header(scope, h) for h in accepted) if value]
    if not present:
        return " or ".join(h.decode() for h in accepted) + " header required"
    bearer = _header(scope, b"authorization") or b""
    if bearer[:7].lower() == b"bearer " and decode_access_token(bearer[7:].strip().decode("latin-1")) is None:
        return "missing, invalid or expired credentials"
    return None


def _declared_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route_class = self.limits.route_class(scope["path"])
        limit = route_class.limit if route_class else self.limits.default
        # Only uploads carry large bodies (every route class is a POST); other methods get their 405.
        if (
            route_class
            and scope["method"] == "POST"
            and (problem := _credential_problem(scope, route_class.credential_headers))
        ):
            await _refuse(scope, receive, send, 401, "unauthenticated", problem)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large(scope, receive, send, limit)
            return

        received = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(f"request body over {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app makes of the aborted read is replaced by the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await _too_large(scope, receive, send, limit)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    await _refuse(scope, receive, send, 413, "payload_too_large", f"the request body may have at most {limit} bytes")


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    # The unread body makes the connection unusable for another request: close it.
    headers = {"connection": "close"} | ({"www-authenticate": "Bearer"} if status == 401 else {})
    HTTP_ERRORS.labels(code).inc()
    await JSONResponse(error_body(code, message), status_code=status, headers=headers)(scope, receive, send)
