"""One error hierarchy, rendered by one handler as `{"error": {"code", "message"}}`."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field


class LinliError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(LinliError):
    status_code = 400
    code = "bad_request"


class Unauthenticated(LinliError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(LinliError):
    status_code = 403
    code = "forbidden"


class NotFound(LinliError):
    """Also what a caller gets for another tenant's object: forbidden and missing look the same."""

    status_code = 404
    code = "not_found"

    def __init__(self, what: str = "object", *, code: str | None = None) -> None:
        super().__init__(f"{what} not found", code=code)


class Conflict(LinliError):
    status_code = 409
    code = "conflict"


class Gone(LinliError):
    status_code = 410
    code = "gone"


class PayloadTooLarge(LinliError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(LinliError):
    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(LinliError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after  # seconds, sent as Retry-After


class ServiceUnavailable(LinliError):
    status_code = 503
    code = "service_unavailable"


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable, e.g. not_found, validation_error, bad_cursor")
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """What every error looks like; declared once for every route (see `ERROR_RESPONSES`)."""

    error: ErrorBody


# The errors any API route may answer (authentication, rights, missing or another tenant's object,
# state conflicts, body limits, validation, rate limits), declared on every route by the app factory.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request",
        401: "Not signed in",
        403: "Not allowed",
        404: "Not found (or another tenant's)",
        405: "Method not allowed",
        409: "Conflict with the object's state",
        413: "Request body too large",
        415: "Unsupported media type",
        422: "Invalid request",
        429: "Too many requests",
    }.items()
}
