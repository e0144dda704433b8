"""Every query of the resident app's own tables. Row-level security scopes them; notices above a
resident's own node are read through the reviewed definer function `linli_notices_above`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.residentapp.models import AppFile, FormCase, FormCaseEntry, FormDefinition, JoinRequest, Notice, NoticeRead

Row = JoinRequest | Notice | NoticeRead | FormDefinition | FormCase | FormCaseEntry | AppFile


class AppRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Row) -> None:
        self.session.add(row)

    # Requests to join ----------------------------------------------------------------------------

    async def join_request(self, request_id: int, *, for_update: bool = False) -> JoinRequest | None:
        stmt = select(JoinRequest).where(JoinRequest.id == request_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def latest_join_request(self, *, tenant_id: int, phone: str) -> JoinRequest | None:
        stmt = (
            select(JoinRequest)
            .where(JoinRequest.tenant_id == tenant_id, JoinRequest.phone == phone)
            .order_by(JoinRequest.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def join_requests(
        self, *, within_path: str | None, status: str | None, after_id: int | None, limit: int
    ) -> Sequence[JoinRequest]:
        stmt = select(JoinRequest).order_by(JoinRequest.id).limit(limit)
        if within_path is not None:
            stmt = stmt.where(JoinRequest.node_path.op("<@")(func.text2ltree(within_path)))
        if status is not None:
            stmt = stmt.where(JoinRequest.status == status)
        if after_id is not None:
            stmt = stmt.where(JoinRequest.id > after_id)
        return (await self.session.execute(stmt)).scalars().all()

    # Notices -------------------------------------------------------------------------------------

    async def notice(self, notice_id: int, *, for_update: bool = False) -> Notice | None:
        stmt = select(Notice).where(Notice.id == notice_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def notices(
        self,
        *,
        within_path: str | None,
        status: str | None,
        service: str | None,
        before_id: int | None,
        limit: int,
    ) -> Sequence[Notice]:
        stmt = select(Notice).order_by(Notice.id.desc()).limit(limit)
        if within_path is not None:
            stmt = stmt.where(Notice.node_path.op("<@")(func.text2ltree(within_path)))
        if status is not None:
            stmt = stmt.where(Notice.status == status)
        if service is not None:
            stmt = stmt.where(Notice.service_code == service)
        if before_id is not None:
            stmt = stmt.where(Notice.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def notices_above(self, paths: Sequence[str], *, at: datetime) -> list[Notice]:
        """Published notices (in their window) targeting a node at or above any of `paths`, newest
        first; the function answers only for paths inside the caller's scopes."""
        found: dict[int, Notice] = {}
        for path in paths:
            stmt = select(Notice).from_statement(
                text("select * from linli_notices_above(text2ltree(:p), :at)").bindparams(p=path, at=at)
            )
            for notice in (await self.session.execute(stmt)).scalars():
                found[notice.id] = notice
        return sorted(found.values(), key=lambda n: (n.published_at or n.created_at, n.id), reverse=True)

    async def read_counts(self, notice_ids: Sequence[int]) -> dict[int, int]:
        if not notice_ids:
            return {}
        stmt = (
            select(NoticeRead.notice_id, func.count())
            .where(NoticeRead.notice_id.in_(notice_ids))
            .group_by(NoticeRead.notice_id)
        )
        return {int(n): int(c) for n, c in (await self.session.execute(stmt)).all()}

    async def reads_of(self, user_id: uuid.UUID, notice_ids: Sequence[int]) -> dict[int, datetime]:
        if not notice_ids:
            return {}
        stmt = select(NoticeRead.notice_id, NoticeRead.read_at).where(
            NoticeRead.user_id == user_id, NoticeRead.notice_id.in_(notice_ids)
        )
        return {int(n): at for n, at in (await self.session.execute(stmt)).all()}

    async def mark_read(self, *, notice_id: int, user_id: uuid.UUID, node_path: str, at: datetime) -> datetime:
        """Insert the receipt once; the first reading's time stays."""
        await self.session.execute(
            text(
                "insert into notice_reads (notice_id, user_id, node_path, read_at) "
                "values (:n, :u, text2ltree(:p), :at) on conflict (notice_id, user_id) do nothing"
            ),
            {"n": notice_id, "u": user_id, "p": node_path, "at": at},
        )
        return (await self.reads_of(user_id, [notice_id]))[notice_id]

    # Files ---------------------------------------------------------------------------------------

    async def file(self, file_id: uuid.UUID) -> AppFile | None:
        return await self.session.get(AppFile, file_id)

    async def files_of_notice(self, notice_id: int) -> Sequence[AppFile]:
        stmt = select(AppFile).where(AppFile.notice_id == notice_id).order_by(AppFile.created_at, AppFile.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def files_of_case(self, case_id: int) -> Sequence[AppFile]:
        stmt = select(AppFile).where(AppFile.case_id == case_id).order_by(AppFile.created_at, AppFile.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def files(self, ids: Sequence[uuid.UUID]) -> Sequence[AppFile]:
        if not ids:
            return []
        return (await self.session.execute(select(AppFile).where(AppFile.id.in_(ids)))).scalars().all()

    # Forms ---------------------------------------------------------------------------------------

    async def form_definition(self, *, tenant_id: int, service_code: str) -> FormDefinition | None:
        stmt = select(FormDefinition).where(
            FormDefinition.tenant_id == tenant_id, FormDefinition.service_code == service_code
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def case(self, case_id: int, *, for_update: bool = False) -> FormCase | None:
        stmt = select(FormCase).where(FormCase.id == case_id).execution_options(populate_existing=True)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def cases(
        self,
        *,
        applicant_id: uuid.UUID | None,
        within_path: str | None,
        statuses: Sequence[str] | None,
        service: str | None,
        before_id: int | None,
        limit: int,
    ) -> Sequence[FormCase]:
        stmt = select(FormCase).order_by(FormCase.id.desc()).limit(limit)
        if applicant_id is not None:
            stmt = stmt.where(FormCase.applicant_id == applicant_id)
        if within_path is not None:
            stmt = stmt.where(FormCase.node_path.op("<@")(func.text2ltree(within_path)))
        if statuses:
            stmt = stmt.where(FormCase.status.in_(statuses))
        if service is not None:
            stmt = stmt.where(FormCase.service_code == service)
        if before_id is not None:
            stmt = stmt.where(FormCase.id < before_id)
        return (await self.session.execute(stmt)).scalars().all()

    async def case_entries(self, case_id: int) -> Sequence[FormCaseEntry]:
        stmt = select(FormCaseEntry).where(FormCaseEntry.case_id == case_id).order_by(FormCaseEntry.id)
        return (await self.session.execute(stmt)).scalars().all()
