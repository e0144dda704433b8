from __future__ import annotations

import dataclasses

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from linli.residents.crypto import IdNumberCodec, decrypt_id_number
from linli.residents.schemas import validate_id_number
from linli.residents.seed import Generator, Unit, households_for, plan, seed_community, wuhou_targets


def test_wuhou_targets_sum_to_the_district_population() -> None:
    codes = [f"510107{i:06d}" for i in range(72)]
    targets = wuhou_targets(codes, 1_200_000)
    assert sum(targets.values()) == 1_200_000
    assert min(targets.values()) > 9_000 and max(targets.values()) < 25_000


def test_generated_households_and_identity_numbers() -> None:
    generator = Generator("test", "510107", 7, range(0, 4))
    units = [Unit(1, "d510107.s001.c001.g01.e01", 10 + i, f"{i}单元") for i in range(4)]
    households = list(households_for(generator, units, 5_000))
    people = [p for h in households for p in h.people]
    assert len(people) == 5_000
    assert 2.3 <= len(people) / len(households) <= 2.9
    numbers = [generator.id_number(p.birth_year, p.gender) for p in people]
    assert all(n is not None and validate_id_number(n) == n for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert all(int(n[16]) % 2 == (p.gender == "male") for n, p in zip(numbers, people, strict=True) if n)
    rooms = [(h.unit.location_id, h.room) for h in households]
    assert len(set(rooms)) == len(rooms)
    assert any(p.care for p in people)


async def test_topping_up_a_community_uses_binary_copy_and_is_idempotent(db: AsyncSession) -> None:
    await apply_scopes(db, SYSTEM_SCOPE)
    small = await plan(db, "small")
    nanhong = next(p for p in small if p.name == "南虹村社区")
    # The small seed ran in the conftest: running it again adds nothing.
    assert await seed_community(db, nanhong, IdNumberCodec()) == 0
    before = (
        await db.execute(
            text("select count(*) from people where node_path <@ text2ltree(:p)"), {"p": nanhong.node_path}
        )
    ).scalar_one()
    bigger = dataclasses.replace(nanhong, target=before + 800)
    assert await seed_community(db, bigger, IdNumberCodec()) == 800
    assert await seed_community(db, bigger, IdNumberCodec()) == 0
    stats = (
        await db.execute(
            text(
                "select count(*), count(distinct id_number_hash), count(distinct household_id), "
                "min(id_number_encrypted) from people where node_path <@ text2ltree(:p)"
            ),
            {"p": nanhong.node_path},
        )
    ).one()
    assert stats[0] == before + 800
    assert stats[1] == stats[0]  # identity numbers never repeat between the small seed and the top-up
    assert decrypt_id_number(stats[3]) is not None
    rooms = (
        await db.execute(
            text(
                "select count(*) = count(distinct (location_id, room)) from households "
                "where node_path <@ text2ltree(:p)"
            ),
            {"p": nanhong.node_path},
        )
    ).scalar_one()
    assert rooms
