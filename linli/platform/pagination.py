"""Cursor pagination: every list endpoint answers `{"items": [...], "next_cursor": ...}`."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from linli.platform.errors import BadRequest

T = TypeVar("T")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page", code="bad_cursor") from exc


def decode_int_cursor(cursor: str | None) -> int | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) >= 2**63:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page", code="bad_cursor")
    return int(raw)


def decode_uuid_cursor(cursor: str | None) -> uuid.UUID | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page", code="bad_cursor") from exc


def next_time_cursor(rows: Sequence[Any], limit: int) -> str | None:
    """For lists newest first by (created_at, id) with uuid ids (events): the last row's pair."""
    if len(rows) < limit or not rows:
        return None
    return encode_cursor(f"{rows[-1].created_at.isoformat()}|{rows[-1].id}")


def decode_time_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    try:
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError as exc:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page", code="bad_cursor") from exc


def next_cursor(rows: Sequence[object], limit: int, key: str = "id") -> str | None:
    return encode_cursor(getattr(rows[-1], key)) if len(rows) == limit and rows else None


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[
    str | None,
    Query(
        description="next_cursor of the previous page (opaque; anything else is 400 bad_cursor)",
        pattern="^[A-Za-z0-9_-]*$",
        max_length=200,
    ),
]
