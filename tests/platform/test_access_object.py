"""`access.access_object`: the one way to take hold of an object the caller acts on (404 missing or
outside every grant, 403 role, 403 read-only tenant for writes)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import Grant, Permission, Principal, access_object
from linli.platform.errors import Forbidden, NotFound
from tests.tenants.support import LUOHU, WUHOU, node_by_name, system_scope


@dataclass
class Placed:
    node_path: str


def holder(role: str, path: str) -> Principal:
    return Principal("user", uuid.uuid4(), (Grant(role, 0, path),))


async def test_a_missing_row_and_a_row_outside_every_grant_are_the_same_404(db: AsyncSession) -> None:
    auditor = holder("auditor", WUHOU)
    for row in (None, Placed(LUOHU)):
        with pytest.raises(NotFound) as info:
            await access_object(db, auditor, row, permission=("nodes", "read"), what="node")
        assert info.value.code == "not_found"
    inside = Placed(f"{WUHOU}.s001")
    assert await access_object(db, auditor, inside, permission=Permission("nodes", "read"), what="node") is inside


async def test_a_role_without_the_permission_at_the_node_is_403(db: AsyncSession) -> None:
    with pytest.raises(Forbidden):
        await access_object(db, holder("auditor", WUHOU), Placed(WUHOU), permission=("nodes", "update"), what="node")


async def test_writes_need_a_writable_tenant_reads_and_revocations_do_not(db: AsyncSession) -> None:
    _, nanhong = node_by_name("南虹村社区")
    row = Placed(f"{nanhong}.g01")
    admin = holder("district_admin", WUHOU)
    async with system_scope(db):
        await db.execute(text("update tenants set status = 'suspended' where slug = 'nanhong'"))
        for principal in (admin, None):  # the system too
            with pytest.raises(Forbidden) as info:
                await access_object(db, principal, row, permission=("nodes", "update"), what="node")
            assert info.value.code == "tenant_read_only"
        assert await access_object(db, admin, row, permission=("nodes", "read"), what="node") is row
        assert await access_object(db, admin, row, permission=("tenants", "export"), what="node") is row
        revoked = await access_object(db, admin, row, permission=("grants", "delete"), what="grant", write=False)
        assert revoked is row
