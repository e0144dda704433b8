from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot.seed import FULL_SCALE_DEVICES, seed_full_scale_devices
from linli.platform.db import SYSTEM_SCOPE, apply_scopes


def test_the_full_mix_is_mumianlings_real_volume() -> None:
    assert sum(FULL_SCALE_DEVICES.values()) == 400_000
    assert FULL_SCALE_DEVICES["smoke_detector"] >= 60_000


async def test_full_scale_devices_are_spread_over_the_estates_and_idempotent(db: AsyncSession) -> None:
    await apply_scopes(db, SYSTEM_SCOPE)
    counts = {"smoke_detector": 120, "co_sensor": 30}
    seen: list[tuple[str, int]] = []
    assert await seed_full_scale_devices(db, counts=counts, progress=lambda t, n: seen.append((t, n))) == 150
    assert seen == [("smoke_detector", 120), ("co_sensor", 30)]
    rows = (
        await db.execute(
            text(
                "select d.type_code, count(*), count(distinct d.node_id), bool_and(n.level = 'estate'), "
                "bool_and(d.node_path <@ 'd440303.s005.c001'), count(distinct d.token_hash) "
                "from devices d join nodes n on n.id = d.node_id where d.serial like 'FULL-%' "
                "group by d.type_code order by 1"
            )
        )
    ).all()
    estates = (
        await db.execute(text("select count(*) from nodes where level = 'estate' and node_path <@ 'd440303.s005.c001'"))
    ).scalar_one()
    assert [tuple(r) for r in rows] == [
        ("co_sensor", 30, estates, True, True, 30),
        ("smoke_detector", 120, estates, True, True, 120),
    ]
    assert await seed_full_scale_devices(db, counts=counts) == 0  # a second run adds nothing
