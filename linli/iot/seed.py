"""`linli seed demo --scale full`: Mumianling's real device volume (400 000 sensing devices, 60 000+
smoke detectors) as registry rows, generated in PostgreSQL in one statement per type.

These rows carry no MQTT client: provisioning 400 000 dynamic-security clients is what registering a
device through the API does one by one; the full scale exists to exercise queries, RLS and dashboards
at the real size."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Device mix of one high-rise community (sums to 400 000).
FULL_SCALE_DEVICES: Mapping[str, int] = {
    "smoke_detector": 60_000,
    "door_sensor": 80_000,
    "smart_water_meter": 80_000,
    "energy_meter": 80_000,
    "water_leak_sensor": 60_000,
    "sos_band": 20_000,
    "co_sensor": 10_000,
    "exhaust_fan": 5_000,
    "ai_camera": 3_000,
    "elevator_monitor": 1_000,
    "charging_station": 1_000,
}
SERIAL_PREFIX = "FULL"

GENERATE = text(
    """
    with p as (
      select cast(:type as text) as type, cast(:prefix as text) as prefix
    ), estates as (
      select e.id, e.code, e.node_path, t.id as tenant_id, t.slug,
             row_number() over (order by e.code) - 1 as k, count(*) over () as n
      from nodes c
      join nodes e on e.node_path <@ c.node_path and e.level = 'estate'
      join lateral (select id, slug from tenants t where t.node_path @> e.node_path
                    order by nlevel(t.node_path) desc limit 1) t on true
      where c.level = 'community' and c.name = :community
    )
    insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, mqtt_username)
    select e.tenant_id, e.id, e.node_path, p.type, format('%s-%s-%s', p.prefix, p.type, g),
           jsonb_build_object('building', format('%s栋', g % 7 + 1), 'unit', format('%s单元', g % 2 + 1),
                              'floor', (g % 33 + 1)::text, 'space', format('%s室', g % 8 + 1)),
           encode(sha256(convert_to(format('%s-%s-%s', p.type, g, gen_random_uuid()), 'UTF8')), 'hex'),
           format('%s.%s-%s-%s', e.slug, p.prefix, p.type, g)
    from p, generate_series(1, cast(:count as int)) g join estates e on e.k = g % e.n
    on conflict (tenant_id, serial) do nothing
    """
)
EXISTING = text(
    "select count(*) from devices d join nodes c on d.node_path <@ c.node_path "
    "where c.level = 'community' and c.name = :community and d.type_code = :type and d.serial like :prefix"
)


async def seed_full_scale_devices(
    session: AsyncSession,
    *,
    community: str = "木棉岭社区",
    counts: Mapping[str, int] = FULL_SCALE_DEVICES,
    progress: Callable[[str, int], None] = lambda _type, _n: None,
) -> int:
    """Bring each type up to its count in `community` (types already complete are skipped: idempotent).
    Returns how many rows were added."""
    added = 0
    for type_code, count in counts.items():
        have = int(
            (
                await session.execute(
                    EXISTING, {"community": community, "type": type_code, "prefix": f"{SERIAL_PREFIX}-%"}
                )
            ).scalar_one()
        )
        if have < count:
            result = await session.execute(
                GENERATE, {"community": community, "count": count, "type": type_code, "prefix": SERIAL_PREFIX}
            )
            added += int(result.rowcount)  # type: ignore[attr-defined]
        progress(type_code, count)
    return added
