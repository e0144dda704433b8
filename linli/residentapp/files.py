"""Photos uploaded in the app (notice images, photo fields of forms): metadata stripped, then stored with
the evidence backend (`LINLI_STORAGE_BACKEND`). Never commits."""

from __future__ import annotations

import hashlib
import uuid

from fastapi import File, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events.storage import get_storage
from linli.platform import audit
from linli.platform.access import Principal
from linli.platform.errors import PayloadTooLarge
from linli.platform.images import clean_photo
from linli.platform.settings import get_settings
from linli.residentapp.models import AppFile
from linli.residentapp.repository import AppRepository


async def store(
    session: AsyncSession,
    *,
    actor: Principal,
    tenant_id: int,
    node_path: str,
    filename: str,
    data: bytes,
    notice_id: int | None = None,
) -> AppFile:
    if len(data) > get_settings().events_max_attachment_bytes:
        raise PayloadTooLarge("the file is larger than the attachment limit", code="attachment_too_large")
    photo = await clean_photo(data)
    file_id = uuid.uuid4()
    key = f"app/{tenant_id}/{file_id}.{photo.extension}"
    await get_storage().put(key, photo.data, photo.content_type)
    row = AppFile(
        id=file_id,
        tenant_id=tenant_id,
        node_path=node_path,
        notice_id=notice_id,
        uploaded_by=actor.id,
        storage_key=key,
        filename=(filename or "photo")[:200],
        content_type=photo.content_type,
        size_bytes=len(photo.data),
        sha256=hashlib.sha256(photo.data).hexdigest(),
    )
    AppRepository(session).add(row)
    await session.flush()
    await session.refresh(row)
    await audit.record(
        session,
        actor=actor,
        action="app_file.upload",
        object_type="app_file",
        object_id=file_id,
        node_path=node_path,
        after={"notice_id": notice_id, "sha256": row.sha256, "size": row.size_bytes},
    )
    return row


async def content(row: AppFile) -> bytes:
    return await get_storage().get(row.storage_key)


PHOTO = File(description="a JPEG, PNG or WebP photo (its metadata is removed)")
# Photos are private to who may see them: cached briefly by the browser only, never sniffed.
IMAGE_HEADERS = {"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"}


async def read_upload(file: UploadFile) -> bytes:
    """The upload, read up to one byte past the attachment limit (the service refuses a larger one)."""
    return await file.read(get_settings().events_max_attachment_bytes + 1)
