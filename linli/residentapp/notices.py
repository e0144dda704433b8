"""Notices of `info` services: staff write them in Markdown (kept raw, rendered sanitized to HTML on the
server), target a node's subtree, pin them and set a window, publish and withdraw them; residents under
the target read them (with read receipts), staff see how many did. Never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, path_within, role_permits, tenant_chain
from linli.platform.db import apply_scopes
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.markdown import render
from linli.residentapp import files
from linli.residentapp.context import AppContext
from linli.residentapp.models import AppFile, Notice
from linli.residentapp.repository import AppRepository
from linli.residentapp.schemas import NoticeImage, NoticeOut, NoticeReceipt, NoticeSummary, NoticeView
from linli.services.service import tenant_app
from linli.tenants.service import now

NOTICES_READ = Permission("notices", "read")
NOTICES_UPDATE = Permission("notices", "update")
NOTICES_PUBLISH = Permission("notices", "publish")
DEFAULT_SERVICE = "com_announcements"
# At most this many notices in a resident's list (the newest; a notice ends with its window).
APP_LIST_LIMIT = 200


def image_url(slug: str, notice_id: int, image_id: uuid.UUID | str) -> str:
    return f"/api/v1/app/{slug}/notices/{notice_id}/images/{image_id}"


def image_out(slug: str, row: AppFile) -> NoticeImage:
    assert row.notice_id is not None  # a notice's image
    return NoticeImage(
        id=row.id,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        url=image_url(slug, row.notice_id, row.id),
        markdown=f"![](image:{row.id})",
    )


def _snapshot(notice: Notice) -> dict[str, Any]:
    return {
        "title": notice.title,
        "service": notice.service_code,
        "node_path": notice.node_path,
        "pinned": notice.pinned,
        "status": notice.status,
        "publish_from": notice.publish_from,
        "publish_until": notice.publish_until,
        "version": notice.version,
    }


async def slug_of(session: AsyncSession, node_path: str) -> str:
    chain = await tenant_chain(session, node_path)
    if not chain:
        raise BadRequest("the node lies in no tenant", code="no_tenant")
    return chain[-1].slug


async def _render(session: AsyncSession, notice: Notice, slug: str) -> Sequence[AppFile]:
    images = await AppRepository(session).files_of_notice(notice.id) if notice.id is not None else []
    known = {str(i.id) for i in images}
    notice.body_html = render(
        notice.body_md, image_url=lambda ref: image_url(slug, notice.id, ref) if ref in known else None
    )
    return images


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise BadRequest("publish_until must be after publish_from", code="bad_range")


async def notice_out(session: AsyncSession, notice: Notice, *, read_count: int | None = None) -> NoticeOut:
    slug = await slug_of(session, notice.node_path)
    repo = AppRepository(session)
    if read_count is None:
        read_count = (await repo.read_counts([notice.id])).get(notice.id, 0)
    return NoticeOut(
        id=notice.id,
        tenant_id=notice.tenant_id,
        node_id=notice.node_id,
        node_path=notice.node_path,
        service=notice.service_code,
        title=notice.title,
        body=notice.body_md,
        body_html=notice.body_html,
        pinned=notice.pinned,
        status=notice.status,
        publish_from=notice.publish_from,
        publish_until=notice.publish_until,
        published_at=notice.published_at,
        withdrawn_at=notice.withdrawn_at,
        created_at=notice.created_at,
        updated_at=notice.updated_at,
        version=notice.version,
        read_count=read_count,
        images=[image_out(slug, f) for f in await repo.files_of_notice(notice.id)],
    )


async def _service_of(session: AsyncSession, slug: str, code: str) -> None:
    (await tenant_app(session, slug=slug)).check_kind(code, "info")


async def create_notice(
    session: AsyncSession,
    *,
    actor: Principal | None,
    node_id: int,
    service: str,
    title: str,
    body: str,
    pinned: bool,
    publish_from: datetime | None,
    publish_until: datetime | None,
) -> Notice:
    node = await NodeService(session).get_for(actor, node_id, Permission("notices", "create"))
    chain = await tenant_chain(session, node.node_path)
    if not chain:
        raise BadRequest("the node lies in no tenant", code="no_tenant")
    await _service_of(session, chain[-1].slug, service)
    _check_window(publish_from, publish_until)
    at = now()
    notice = Notice(
        tenant_id=chain[-1].id,
        node_id=node.id,
        node_path=node.node_path,
        service_code=service,
        title=title,
        body_md=body,
        body_html="",
        pinned=pinned,
        status="draft",
        publish_from=publish_from,
        publish_until=publish_until,
        created_by=actor.id if actor is not None else None,
        created_at=at,
        updated_at=at,
        version=1,
    )
    AppRepository(session).add(notice)
    await session.flush()
    await _render(session, notice, chain[-1].slug)
    await audit.record(
        session,
        actor=actor,
        action="notice.create",
        object_type="notice",
        object_id=notice.id,
        node_path=notice.node_path,
        after=_snapshot(notice),
    )
    return notice


async def get_notice(
    session: AsyncSession, *, actor: Principal | None, notice_id: int, permission: Permission
) -> Notice:
    return await access_object(
        session,
        actor,
        await AppRepository(session).notice(notice_id, for_update=permission != NOTICES_READ),
        permission=permission,
        what="notice",
    )


async def update_notice(session: AsyncSession, *, actor: Principal, notice_id: int, changes: dict[str, Any]) -> Notice:
    """Apply the fields sent (a missing key keeps its value); a new target must be in the caller's reach."""
    notice = await get_notice(session, actor=actor, notice_id=notice_id, permission=NOTICES_UPDATE)
    before = _snapshot(notice)
    if changes.get("node_id") is not None and changes["node_id"] != notice.node_id:
        node = await NodeService(session).get_for(actor, changes["node_id"], NOTICES_UPDATE)
        if not path_within(node.node_path, (await tenant_chain(session, notice.node_path))[-1].node_path):
            raise Conflict("a notice stays in its tenant", code="notice_tenant_fixed")
        notice.node_id, notice.node_path = node.id, node.node_path
    slug = await slug_of(session, notice.node_path)
    if changes.get("service") is not None:
        await _service_of(session, slug, changes["service"])
        notice.service_code = changes["service"]
    for key, column in (("title", "title"), ("body", "body_md"), ("pinned", "pinned")):
        if changes.get(key) is not None:
            setattr(notice, column, changes[key])
    for key in ("publish_from", "publish_until"):
        if key in changes:
            setattr(notice, key, changes[key])
    _check_window(notice.publish_from, notice.publish_until)
    await _render(session, notice, slug)
    notice.version += 1
    notice.updated_at = now()
    await audit.record(
        session,
        actor=actor,
        action="notice.update",
        object_type="notice",
        object_id=notice.id,
        node_path=notice.node_path,
        before=before,
        after=_snapshot(notice),
    )
    return notice


async def set_status(session: AsyncSession, *, actor: Principal | None, notice_id: int, status: str) -> Notice:
    """Publish (shown from `publish_from`, or now, until `publish_until`) or withdraw (shown no more)."""
    notice = await get_notice(session, actor=actor, notice_id=notice_id, permission=NOTICES_PUBLISH)
    if notice.status == status:
        raise Conflict(f"the notice is already {status}", code="notice_unchanged")
    before = _snapshot(notice)
    at = now()
    notice.status = status
    if status == "published":
        notice.published_at, notice.withdrawn_at = at, None
    else:
        notice.withdrawn_at = at
    notice.version += 1
    notice.updated_at = at
    await audit.record(
        session,
        actor=actor,
        action="notice.publish" if status == "published" else "notice.withdraw",
        object_type="notice",
        object_id=notice.id,
        node_path=notice.node_path,
        before=before,
        after=_snapshot(notice),
    )
    return notice


async def add_image(
    session: AsyncSession, *, actor: Principal, notice_id: int, filename: str, data: bytes
) -> tuple[Notice, AppFile]:
    notice = await get_notice(session, actor=actor, notice_id=notice_id, permission=NOTICES_UPDATE)
    row = await files.store(
        session,
        actor=actor,
        tenant_id=notice.tenant_id,
        node_path=notice.node_path,
        filename=filename,
        data=data,
        notice_id=notice.id,
    )
    await _render(session, notice, await slug_of(session, notice.node_path))  # a reference may be waiting for it
    return notice, row


async def list_notices(
    session: AsyncSession,
    *,
    node_id: int | None,
    status: str | None,
    service: str | None,
    before_id: int | None,
    limit: int,
) -> tuple[list[Notice], dict[int, int]]:
    within = await NodeService(session).path_filter(node_id)
    repo = AppRepository(session)
    rows = list(
        await repo.notices(within_path=within, status=status, service=service, before_id=before_id, limit=limit)
    )
    return rows, await repo.read_counts([n.id for n in rows])


# What residents see ---------------------------------------------------------------------------------


def _staff_reads(actor: Principal, path: str) -> bool:
    return any(g.role != "resident" and role_permits(g.role, "notices", "read") for g in actor.grants_covering(path))


async def visible_notices(
    session: AsyncSession, *, ctx: AppContext, service: str | None = None, pinned_only: bool = False
) -> list[NoticeSummary]:
    """Published notices in their window that target the caller's places (or above them), of the app's
    switched-on info services; newest first, pinned ones first."""
    enabled = {s.code for s in ctx.app.services() if s.kind == "info"}
    if service is not None:
        ctx.app.service(service, kind="info")
    repo = AppRepository(session)
    shown = [
        n
        for n in await repo.notices_above(ctx.paths, at=now())
        if n.service_code in enabled
        and (service is None or n.service_code == service)
        and (n.pinned or not pinned_only)
    ][:APP_LIST_LIMIT]
    reads = await repo.reads_of(ctx.actor.id, [n.id for n in shown])
    shown.sort(key=lambda n: not n.pinned)
    return [summary(n, n.id in reads) for n in shown]


def summary(notice: Notice, read: bool) -> NoticeSummary:
    return NoticeSummary(
        id=notice.id,
        service=notice.service_code,
        title=notice.title,
        pinned=notice.pinned,
        node_id=notice.node_id,
        node_path=notice.node_path,
        published_at=notice.published_at,
        publish_until=notice.publish_until,
        read=read,
    )


async def _app_notice(session: AsyncSession, ctx: AppContext, notice_id: int) -> Notice:
    """A notice shown to the caller in this app: published above one of their places, or (for staff) any
    notice of the tenant they may read."""
    for notice in await AppRepository(session).notices_above(ctx.paths, at=now()):
        if notice.id == notice_id:
            return notice
    found = await AppRepository(session).notice(notice_id)
    if found is not None and ctx.inside(found.node_path) and _staff_reads(ctx.actor, found.node_path):
        return found
    raise NotFound("notice")


async def read_notice(session: AsyncSession, *, ctx: AppContext, notice_id: int) -> NoticeView:
    notice = await _app_notice(session, ctx, notice_id)
    repo = AppRepository(session)
    read = await repo.reads_of(ctx.actor.id, [notice.id])
    return NoticeView(
        **summary(notice, notice.id in read).model_dump(),
        body_html=notice.body_html,
        images=[image_out(ctx.app.slug, f) for f in await repo.files_of_notice(notice.id)],
    )


async def mark_read(session: AsyncSession, *, ctx: AppContext, notice_id: int) -> NoticeReceipt:
    """A read receipt, kept at the caller's own place (their first one under the notice's target)."""
    notice = await _app_notice(session, ctx, notice_id)
    place = next((p for p in ctx.paths if path_within(p, notice.node_path)), ctx.paths[0])
    read_at = await AppRepository(session).mark_read(
        notice_id=notice.id, user_id=ctx.actor.id, node_path=place, at=now()
    )
    return NoticeReceipt(notice_id=notice.id, read_at=read_at)


async def public_image(session: AsyncSession, *, slug: str, notice_id: int, image_id: uuid.UUID) -> AppFile:
    """An image of a published notice shown in the tenant's app (its own, or one of a street tenant around
    it): anyone holding its (unguessable) address may load it, as <img> tags in the rendered body need
    (they carry no credentials)."""
    app = await tenant_app(session, slug=slug)
    await apply_scopes(session, [app.node_path])
    await apply_scopes(session, [(await tenant_chain(session, app.node_path))[0].node_path])
    repo = AppRepository(session)
    notice = await repo.notice(notice_id)
    row = await repo.file(image_id)
    if notice is None or notice.status != "published" or row is None or row.notice_id != notice.id:
        raise NotFound("image")
    return row
