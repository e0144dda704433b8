"""`linli seed demo`: the demo district — tree, catalogs, onboarded tenants and demo accounts.

Every step upserts or skips what exists, so running it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.catalogs.seed import seed_catalogs
from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.platform.hierarchy.models import Node
from linli.platform.hierarchy.repository import NodeRepository
from linli.platform.hierarchy.seed import seed_tree
from linli.platform.security import hash_password
from linli.tenants import grants, lifecycle
from linli.tenants import service as tenants

DEMO_PASSWORD = "linli-demo-2026"

# (slug, node name, level, admin e-mail, the resident app's colour)
DEMO_TENANTS = (
    ("yulin", "玉林街道", "street", "admin@yulin.demo", "#1989fa"),
    ("nanhong", "南虹村社区", "community", "admin@nanhong.demo", "#ee0a24"),
    ("dongxiao", "东晓街道", "street", "admin@dongxiao.demo", "#1989fa"),
    ("mumianling", "木棉岭社区", "community", "admin@mumianling.demo", "#07c160"),
)


@dataclass(frozen=True)
class DemoAccount:
    login: str
    display_name: str
    role: str
    where: str  # how to find the node: "code:<code>", "name:<name>", "grid1:<community>"


DEMO_ACCOUNTS = (
    DemoAccount("admin@wuhou.demo", "武侯区管理员", "district_admin", "code:510107"),
    DemoAccount("admin@luohu.demo", "罗湖区管理员", "district_admin", "code:440303"),
    DemoAccount("staff@nanhong.demo", "南虹村社区工作人员", "community_staff", "name:南虹村社区"),
    DemoAccount("staff@mumianling.demo", "木棉岭社区工作人员", "community_staff", "name:木棉岭社区"),
    DemoAccount("grid@mumianling.demo", "木棉岭第1网格员", "grid_worker", "grid1:木棉岭社区"),
    DemoAccount("property@yuefeng.demo", "悦峰尚府物业", "property_manager", "name:悦峰尚府"),
    DemoAccount("auditor@wuhou.demo", "武侯区审计员", "auditor", "code:510107"),
    DemoAccount("13800000001", "悦峰尚府居民", "resident", "name:悦峰尚府"),
    DemoAccount("13800000023", "林荫街9号院居民", "resident", "name:林荫街9号院"),
)

# A domain's demo data (residents, devices, events): `linli.wiring.DEMO_STEPS` lists them in order.
DemoStep = Callable[[AsyncSession, str], Awaitable[None]]


async def find_node(session: AsyncSession, where: str) -> Node:
    repo = NodeRepository(session)
    kind, _, value = where.partition(":")
    node: Node | None
    if kind == "code":
        node = await repo.get_by_code(value)
    elif kind == "grid1":
        community = await repo.find_by_name(value, level="community")
        node = await repo.get_by_code(f"{community.code}g01") if community else None
    else:
        node = await repo.find_by_name(value)
    if node is None:
        raise LookupError(f"demo node {where} not found: run `linli seed demo` on a migrated database")
    return node


async def seed_accounts(session: AsyncSession) -> None:
    for account in DEMO_ACCOUNTS:
        node = await find_node(session, account.where)
        is_email = "@" in account.login
        user = await tenants.ensure_user(
            session,
            email=account.login if is_email else None,
            phone=None if is_email else account.login,
            display_name=account.display_name,
            password=DEMO_PASSWORD,
            home_node_path=node.node_path,
        )
        if not user.has_password:
            user.password_hash = hash_password(DEMO_PASSWORD)
        await grants.grant_role(session, actor=None, user=user, role=account.role, node=node)


async def seed_tenants(session: AsyncSession) -> None:
    for slug, name, level, admin_email, color in DEMO_TENANTS:
        if await lifecycle.tenant_by_slug(session, slug=slug) is not None:
            continue
        node = await NodeRepository(session).find_by_name(name, level=level)
        if node is None:
            raise LookupError(f"demo node {name} not found")
        await lifecycle.onboard(
            session,
            actor=None,
            slug=slug,
            admin_email=admin_email,
            node_id=node.id,
            branding={"app_name": f"{name}邻里", "primary_color": color},
        )


async def seed_demo(*, scale: str = "small", progress: Callable[[str], None] = lambda _: None) -> None:
    from linli import wiring  # the composition root imports this module (for DemoStep)

    wiring.wire()
    async with scoped_session(SYSTEM_SCOPE) as session:
        progress("catalogs")
        await seed_catalogs(session)
        progress("tree")
        await seed_tree(session)
        progress("tenants")
        await seed_tenants(session)
        progress("accounts")
        await seed_accounts(session)
    for name, step in wiring.DEMO_STEPS:
        progress(name)
        async with scoped_session(SYSTEM_SCOPE) as session:
            await step(session, scale)
