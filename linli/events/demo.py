"""Demo data for events: default units for every demo tenant, a property company per estate with
its members, a routing override at 悦峰尚府, and 30 days of history in every demo tenant's communities."""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import routing
from linli.events.repositories import HandlerUnitRepository, RoutingRuleRepository
from linli.events.repositories.history import DemoHistoryRepository, Evidence, Mix
from linli.events.rollups import refresh_rollups
from linli.events.storage import get_storage
from linli.platform.hierarchy.repository import NodeRepository
from linli.tenants.models import Tenant
from linli.tenants.repository import UserRepository

PROPERTY_UNIT_SUFFIX = "物业服务中心"
# (login, unit kind, node name) — demo accounts that work in a handler unit.
DEMO_MEMBERS = (
    ("property@yuefeng.demo", "property", "悦峰尚府"),
    ("grid@mumianling.demo", "grid_worker", "木棉岭第1网格"),
    ("staff@mumianling.demo", "community_staff", "木棉岭社区"),
    ("staff@nanhong.demo", "community_staff", "南虹村社区"),
)

HISTORY_DAYS = 30
# Events a community raises on an ordinary day: 簇桥街道's centre handled some 84 a day for its seven
# communities; the full scale is a district whose estates are as densely sensed as 木棉岭.
EVENTS_PER_COMMUNITY_DAY = {"small": 12.0, "full": 60.0}
# The sources the two articles describe (AI video and IoT sensing first, then residents, grid patrols and
# the 12345 hotline, a few robot patrols); within a source, the everyday items weigh more.
HISTORY_MIX = Mix(
    sources={
        "ai_video": 30,
        "iot_alarm": 18,
        "resident_report": 27,
        "staff_patrol": 15,
        "hotline": 8,
        "robot": 2,
    },
    items={
        "ca_garbage_overflow": 6,
        "ca_illegal_parking": 3,
        "ca_construction_waste": 2,
        "sf_ebike_indoor": 3,
        "ph_repair_request": 4,
        "ph_water_leak": 2,
        "po_noise_disturbance": 2,
        "ps_hotline_transfer": 3,
        "sf_smoke_alarm": 0.5,
        "sf_gas_leak": 0.2,
        "ph_elevator_trapped": 0.5,
    },
    # 木棉岭 is the densely sensed pilot (400 000 devices, AI cameras); 南虹村 hosts the 林荫街9号 pilot.
    communities={"木棉岭社区": 3.0, "南虹村社区": 2.0},
)
DEMO_TIME_ZONE = "Asia/Shanghai"
EVIDENCE_KEY = "demo/evidence.png"


async def seed_events_demo(session: AsyncSession, scale: str) -> None:
    tenants = (await session.execute(select(Tenant).order_by(Tenant.id))).scalars().all()
    for tenant in tenants:
        await routing.ensure_default_units(session, tenant)
        await session.execute(
            text(
                "insert into handler_units (node_id, node_path, kind, name) "
                "select id, node_path, 'property', name || :suffix from nodes "
                "where level = 'estate' and node_path <@ text2ltree(:root) "
                "on conflict (node_id, kind, name) do nothing"
            ),
            {"root": tenant.node_path, "suffix": PROPERTY_UNIT_SUFFIX},
        )
    units = HandlerUnitRepository(session)
    nodes = NodeRepository(session)
    users = UserRepository(session)
    for login, kind, node_name in DEMO_MEMBERS:
        node = await nodes.find_by_name(node_name)
        user = await users.by_login(login)
        if node is None or user is None:
            continue
        unit = await units.unit_at(node_id=node.id, kind=kind)
        if unit is not None:
            await routing.add_member(session, actor=None, unit_id=unit.id, user_id=user.id)
    # Inside 悦峰尚府 its property company also handles city-appearance items (an estate-level override).
    estate = await nodes.find_by_name("悦峰尚府", level="estate")
    if estate is not None:
        unit = await units.unit_at(node_id=estate.id, kind="property")
        rules = await RoutingRuleRepository(session).rules(within_path=estate.node_path, after_id=None, limit=10)
        if unit is not None and not any(r.line_code == "city_appearance" for r in rules):
            await routing.create_rule(
                session,
                actor=None,
                node_id=estate.id,
                item=None,
                line="city_appearance",
                handler_unit_id=unit.id,
                priority=0,
            )
    await seed_history(session, days=HISTORY_DAYS, per_community_day=EVENTS_PER_COMMUNITY_DAY[scale])
    # The command screen reads past days from the daily rollup: build it now rather than at the
    # worker's first run.
    await refresh_rollups(session, rebuild=True)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour: the photo every resolved demo event that needs evidence carries."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def seed_history(
    session: AsyncSession, *, days: int, per_community_day: float, now: datetime | None = None
) -> int:
    """Finished events of the last `days` days (local days in the demo districts' time zone) for every
    community inside an active tenant, created up to an hour before `now`. Days that already have their
    history are skipped, so running it again adds nothing. Returns how many events were added."""
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo(DEMO_TIME_ZONE)).date()
    photo = solid_png(64, 48, (46, 139, 87))
    await get_storage().put(EVIDENCE_KEY, photo, "image/png")
    return await DemoHistoryRepository(session).generate(
        first_day=today - timedelta(days=days - 1),
        last_day=today,
        now=now,
        per_day=per_community_day,
        mix=HISTORY_MIX,
        evidence=Evidence(EVIDENCE_KEY, len(photo), hashlib.sha256(photo).hexdigest()),
        tz=DEMO_TIME_ZONE,
    )
