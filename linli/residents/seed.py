"""Demo residents: a few hundred at the small scale, the real volumes at the full scale.

Both scales generate households (~2.6 people) at the units of every estate of a community and load them
with binary COPY. COPY is refused for a role under row-level security, so rows are copied into a
temporary staging table first and moved with one `insert ... select` (checked by RLS against the
system scope). Each community is its own transaction and is skipped when it already holds its
residents, so running the seed again adds nothing.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform import audit
from linli.platform.catalogs import load
from linli.platform.db import apply_scopes
from linli.residents.crypto import IdNumberCodec
from linli.residents.repository import ResidentRepository
from linli.residents.schemas import id_check_character

# Full scale: Wuhou's 1.2 M residents over its 72 communities, and Mumianling's ~40 000.
WUHOU_CODE = "510107"
MUMIANLING = "木棉岭社区"
MUMIANLING_RESIDENTS = 40_000
# Small scale: these communities get about this many people per estate.
SMALL_COMMUNITIES = ("木棉岭社区", "南虹村社区")
SMALL_PEOPLE_PER_ESTATE = 20
SMALL_LIMIT = 1_000  # a community target at or below this is a small-scale fill
ROOMS_PER_FLOOR = 6
# Household sizes 1..6 with a mean of about 2.6 people.
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_WEIGHTS = (0.22, 0.31, 0.25, 0.13, 0.06, 0.03)
SEED_YEAR = 2026

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏建华飞斌宇浩凯鑫晨欣怡梓涵子轩雨婷思远俊杰"
PHONE_PREFIXES = ("133", "135", "136", "137", "139", "150", "151", "152", "158", "159", "180", "186", "187", "188")


@dataclass
class Unit:
    estate_id: int
    estate_path: str
    location_id: int | None
    label: str


@dataclass
class PersonSpec:
    name: str
    phone: str | None
    gender: str
    birth_year: int
    care: list[str] = field(default_factory=list)
    id_number: str | None = None


@dataclass
class HouseholdSpec:
    unit: Unit
    room: str
    people: list[PersonSpec]


# Hand-written households the demo accounts and stories rely on (the resident account 13800000001
# lives at 悦峰尚府; cared-for persons at 悦峰尚府 and at the 林荫街9号院 pilot).
SPECIAL_HOUSEHOLDS: dict[str, list[list[PersonSpec]]] = {
    "悦峰尚府": [
        [
            PersonSpec("李悦", "13800000001", "male", 1985),
            PersonSpec("王芳", "13800000002", "female", 1987),
            PersonSpec("李小宝", None, "male", 2016),
            PersonSpec("张秀英", None, "female", 1942, ["serious_illness"]),
        ],
        [PersonSpec("陈国栋", "13800000011", "male", 1938, ["elderly_alone"])],
        [
            PersonSpec("黄志明", "13800000012", "male", 1950, ["empty_nest_elderly"]),
            PersonSpec("何桂兰", None, "female", 1952, ["empty_nest_elderly", "disabled"]),
        ],
    ],
    "林荫街9号院": [
        [PersonSpec("刘素珍", "13800000021", "female", 1940, ["elderly_alone"])],
        [
            PersonSpec("赵德全", "13800000022", "male", 1947, ["empty_nest_elderly"]),
            PersonSpec("孙玉梅", None, "female", 1949, ["empty_nest_elderly"]),
        ],
        [PersonSpec("周明", "13800000023", "male", 1979, ["disabled", "subsistence_household"])],
        [
            PersonSpec("吴奶奶", "13800000024", "female", 1945, ["left_behind_child"]),
            PersonSpec("吴小雨", None, "female", 2014, ["left_behind_child"]),
        ],
    ],
}


class Generator:
    """Deterministic people for one community (seeded by its code).

    Identity numbers are `region + birthday + 2 digits for the community's rank in its district + one
    digit (parity = gender)`, so they never repeat across communities; within a community a counter
    per birthday hands out the last digit: the small seed uses slot 4, the full seed slots 0..3.
    """

    def __init__(self, seed: str, region_code: str, community_index: int, slots: range) -> None:
        self.rng = random.Random(f"linli-residents-{seed}")
        self.region = region_code
        self.index = community_index % 100
        self.slots = slots
        self.used: dict[str, int] = {}

    def name(self, surname: str | None = None) -> str:
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
        return (surname or self.rng.choice(SURNAMES)) + given

    def phone(self) -> str:
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def id_number(self, birth_year: int, gender: str) -> str | None:
        for _ in range(50):
            birthday = f"{birth_year:04d}{self.rng.randint(1, 12):02d}{self.rng.randint(1, 28):02d}"
            k = self.used.get(birthday, self.slots.start)
            if k >= self.slots.stop:
                continue
            self.used[birthday] = k + 1
            first17 = f"{self.region}{birthday}{self.index:02d}{2 * k + (1 if gender == 'male' else 0)}"
            return first17 + id_check_character(first17)
        return None

    def household(self, unit: Unit, room: str) -> HouseholdSpec:
        rng = self.rng
        size = rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0]
        head_age = rng.randint(24, 88) if size == 1 else rng.randint(28, 75)
        surname = rng.choice(SURNAMES)
        head_gender = rng.choice(("male", "female"))
        people = [PersonSpec(self.name(surname), self.phone(), head_gender, SEED_YEAR - head_age)]
        if size >= 2:
            spouse_gender = "female" if head_gender == "male" else "male"
            spouse_age = max(20, head_age + rng.randint(-5, 5))
            people.append(PersonSpec(self.name(), self.phone(), spouse_gender, SEED_YEAR - spouse_age))
        for _ in range(size - 2):
            if head_age < 60 and rng.random() < 0.75:
                age = max(0, head_age - rng.randint(22, 36))
            else:
                age = min(100, head_age + rng.randint(22, 30)) if head_age < 70 else max(0, head_age - 30)
            people.append(
                PersonSpec(
                    self.name(surname),
                    self.phone() if age >= 16 else None,
                    rng.choice(("male", "female")),
                    SEED_YEAR - age,
                )
            )
        self._care(people)
        return HouseholdSpec(unit, room, people)

    def _care(self, people: list[PersonSpec]) -> None:
        rng = self.rng
        ages = [SEED_YEAR - p.birth_year for p in people]
        if len(people) == 1 and ages[0] >= 70 and rng.random() < 0.6:
            people[0].care.append("elderly_alone")
        elif len(people) == 2 and min(ages) >= 65 and rng.random() < 0.4:
            for p in people:
                p.care.append("empty_nest_elderly")
        for p, age in zip(people, ages, strict=True):
            roll = rng.random()
            if roll < 0.012:
                p.care.append("disabled")
            elif roll < 0.016 and age >= 50:
                p.care.append("serious_illness")
            elif roll < 0.02 and age < 16:
                p.care.append("child_in_difficulty")
        if rng.random() < 0.01:
            for p in people:
                p.care.append("subsistence_household")


def households_for(generator: Generator, units: Sequence[Unit], people: int) -> Iterator[HouseholdSpec]:
    """Households round-robin over the units until `people` people are placed."""
    placed = 0
    per_unit: dict[int, int] = {}
    i = 0
    while placed < people:
        unit = units[i % len(units)]
        i += 1
        n = per_unit.get(id(unit), 0)
        per_unit[id(unit)] = n + 1
        room = f"{n // ROOMS_PER_FLOOR + 1}{n % ROOMS_PER_FLOOR + 1:02d}"
        household = generator.household(unit, room)
        household.people = household.people[: people - placed]
        placed += len(household.people)
        yield household


# --- loading ---------------------------------------------------------------------------------------

HOUSEHOLD_COLUMNS = "id, node_id, node_path, location_id, room"
PEOPLE_COLUMNS = (
    "household_id, node_path, name, phone, gender, birth_year, id_number_encrypted, id_number_hash, care_categories"
)


async def load_households(session: AsyncSession, households: Sequence[HouseholdSpec], codec: IdNumberCodec) -> int:
    """Insert the households and their people with binary COPY (through staging tables); returns people."""
    if not households:
        return 0
    ids = (
        (
            await session.execute(
                text("select nextval(pg_get_serial_sequence('households', 'id')) from generate_series(1, :n)"),
                {"n": len(households)},
            )
        )
        .scalars()
        .all()
    )
    await session.execute(
        text(
            "create temp table if not exists households_load (id bigint, node_id bigint, node_path text, "
            "location_id bigint, room text) on commit drop"
        )
    )
    await session.execute(
        text(
            "create temp table if not exists people_load (household_id bigint, node_path text, name text, "
            "phone text, gender text, birth_year int2, id_number_encrypted text, id_number_hash text, "
            "care_categories text[]) on commit drop"
        )
    )
    household_rows: list[tuple[Any, ...]] = []
    people_rows: list[tuple[Any, ...]] = []
    for household_id, household in zip(ids, households, strict=True):
        unit = household.unit
        household_rows.append((household_id, unit.estate_id, unit.estate_path, unit.location_id, household.room))
        for p in household.people:
            number = p.id_number
            people_rows.append(
                (
                    household_id,
                    unit.estate_path,
                    p.name,
                    p.phone,
                    p.gender,
                    p.birth_year,
                    codec.encrypt(number) if number else None,
                    codec.hash(number) if number else None,
                    sorted(set(p.care)),
                )
            )
    repo = ResidentRepository(session)
    await repo.copy_rows("households_load", HOUSEHOLD_COLUMNS, ("int8", "int8", "text", "int8", "text"), household_rows)
    await repo.copy_rows(
        "people_load",
        PEOPLE_COLUMNS,
        ("int8", "text", "text", "text", "text", "int2", "text", "text", "text[]"),
        people_rows,
    )
    await session.execute(
        text(
            f"insert into households ({HOUSEHOLD_COLUMNS}) "
            "select id, node_id, text2ltree(node_path), location_id, room from households_load"
        )
    )
    await session.execute(
        text(
            f"insert into people ({PEOPLE_COLUMNS}) select household_id, text2ltree(node_path), name, phone, gender, "
            "birth_year, id_number_encrypted, id_number_hash, care_categories from people_load"
        )
    )
    await session.execute(text("truncate households_load, people_load"))
    return len(people_rows)


# --- planning --------------------------------------------------------------------------------------


@dataclass
class CommunityPlan:
    node_id: int
    node_path: str
    code: str
    name: str
    index: int
    target: int
    units: list[Unit]


async def _communities(
    session: AsyncSession, where: str, params: dict[str, Any]
) -> list[tuple[int, str, str, str, int]]:
    """(id, path, code, name, rank within its district) of the matching communities."""
    rows = await session.execute(
        text(
            "select id, path, code, name, rank from (select id, node_path::text as path, node_path, code, name, "
            "row_number() over (partition by subpath(node_path, 0, 1) order by code) - 1 as rank "
            f"from nodes where level = 'community') c where {where} order by code"
        ),
        params,
    )
    return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


async def _units(session: AsyncSession, community_path: str) -> list[Unit]:
    rows = await session.execute(
        text(
            """
            select e.id, e.node_path::text, u.id, coalesce(b.name || u.name, e.name)
            from nodes e
            left join locations u on u.node_id = e.id and u.kind = 'unit'
            left join locations b on b.id = u.parent_id
            where e.level = 'estate' and e.node_path <@ text2ltree(:path) and e.archived_at is null
            order by e.node_path, b.id, u.id
            """
        ),
        {"path": community_path},
    )
    return [Unit(r[0], r[1], r[2], r[3]) for r in rows]


async def _people_in(session: AsyncSession, path: str) -> int:
    result = await session.execute(
        text("select count(*) from people where node_path <@ text2ltree(:path)"), {"path": path}
    )
    return int(result.scalar_one())


def wuhou_targets(codes: Sequence[str], total: int) -> dict[str, int]:
    """Split `total` over the communities with a deterministic spread of ±35 %, summing exactly."""
    rng = random.Random("linli-wuhou-population")
    weights = [rng.uniform(0.65, 1.35) for _ in codes]
    scale = total / sum(weights)
    targets = [int(w * scale) for w in weights]
    targets[-1] += total - sum(targets)
    return dict(zip(codes, targets, strict=True))


async def plan(session: AsyncSession, scale: str) -> list[CommunityPlan]:
    plans: list[CommunityPlan] = []
    if scale == "full":
        wuhou = await _communities(session, "node_path <@ text2ltree(:d)", {"d": f"d{WUHOU_CODE}"})
        total = int(load("districts").get("scale", {}).get(WUHOU_CODE, {}).get("residents", 1_200_000))
        targets = wuhou_targets([c[2] for c in wuhou], total)
        for node_id, path, code, name, rank in wuhou:
            plans.append(CommunityPlan(node_id, path, code, name, rank, targets[code], await _units(session, path)))
        for node_id, path, code, name, rank in await _communities(session, "name = :n", {"n": MUMIANLING}):
            plans.append(
                CommunityPlan(node_id, path, code, name, rank, MUMIANLING_RESIDENTS, await _units(session, path))
            )
    else:
        for community in SMALL_COMMUNITIES:
            for node_id, path, code, name, rank in await _communities(session, "name = :n", {"n": community}):
                units = await _units(session, path)
                estates = len({u.estate_id for u in units})
                plans.append(CommunityPlan(node_id, path, code, name, rank, estates * SMALL_PEOPLE_PER_ESTATE, units))
    return plans


async def _special_households(session: AsyncSession, plan: CommunityPlan) -> list[HouseholdSpec]:
    out: list[HouseholdSpec] = []
    for estate_name, households in SPECIAL_HOUSEHOLDS.items():
        paths = await _estate_paths(session, plan, estate_name)
        units = [u for u in plan.units if u.estate_path in paths]
        for n, people in enumerate(households):
            if units:
                out.append(HouseholdSpec(units[0], f"8{n + 1:02d}", [PersonSpec(**vars(p)) for p in people]))
    return out


async def _estate_paths(session: AsyncSession, plan: CommunityPlan, estate_name: str) -> set[str]:
    rows = await session.execute(
        text("select node_path::text from nodes where level = 'estate' and name = :n and node_path <@ text2ltree(:p)"),
        {"n": estate_name, "p": plan.node_path},
    )
    return set(rows.scalars().all())


async def seed_community(session: AsyncSession, plan: CommunityPlan, codec: IdNumberCodec) -> int:
    """Fill one community up to its target; returns the number of people added (0 when already there).

    The work is scoped to the community itself: with the system scope the planner would pick the
    row-level-security predicate (every row) for the index scan and count the whole table."""
    previous = tuple(session.info.get("scopes", ()))
    await apply_scopes(session, (plan.node_path,))
    try:
        return await _seed_community(session, plan, codec)
    finally:
        await apply_scopes(session, previous)


async def _seed_community(session: AsyncSession, plan: CommunityPlan, codec: IdNumberCodec) -> int:
    existing = await _people_in(session, plan.node_path)
    if existing >= plan.target or not plan.units:
        return 0
    households: list[HouseholdSpec] = []
    if existing == 0:
        households.extend(await _special_households(session, plan))
    remaining = plan.target - existing - sum(len(h.people) for h in households)
    # The first fill of a community (the small seed, or a full seed on a fresh database) uses identity
    # slot 4; topping up to the full target uses slots 0..3, so numbers never collide.
    slots = range(4, 5) if existing == 0 and plan.target <= SMALL_LIMIT else range(0, 4)
    generator = Generator(f"{plan.code}-{existing}", plan.node_path.split(".")[0][1:], plan.index, slots)
    # Rooms already in use (from an earlier, smaller seed) are skipped by starting at a higher floor.
    offset_floor = 40 if existing else 0
    for household in households_for(generator, plan.units, max(0, remaining)):
        if offset_floor:
            floor, room = divmod(int(household.room), 100)
            household.room = f"{floor + offset_floor}{room:02d}"
        households.append(household)
    for household in households:
        for person in household.people:
            if person.id_number is None:
                person.id_number = generator.id_number(person.birth_year, person.gender)
    added = await load_households(session, households, codec)
    await audit.record(
        session,
        actor=None,
        action="resident.seed",
        object_type="community",
        object_id=plan.node_id,
        node_path=plan.node_path,
        after={"people": added, "households": len(households)},
        actor_label="linli seed demo",
    )
    return added


def _console() -> Console:
    """The CLI's own console when running under `linli seed demo`, so this bar nests in its display."""
    cli = sys.modules.get("linli.cli")
    console = getattr(cli, "console", None)
    return console if isinstance(console, Console) else Console(stderr=True)


async def seed_residents(
    session: AsyncSession, scale: str, *, on_community: Callable[[CommunityPlan, int], None] | None = None
) -> int:
    """The DEMO_STEPS step. The small part always runs first (the demo accounts need it); the full
    scale then fills every Wuhou community and Mumianling, committing one community at a time."""
    codec = IdNumberCodec()
    added = 0
    for community in await plan(session, "small"):
        added += await seed_community(session, community, codec)
    if scale != "full":
        return added
    await session.commit()
    plans = await plan(session, "full")
    columns = (
        TextColumn("residents {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_console()) as bar:
        task = bar.add_task("", total=sum(p.target for p in plans))
        for community in plans:
            bar.update(task, description=community.name)
            count = await seed_community(session, community, codec)
            await session.commit()
            added += count
            bar.advance(task, community.target)
            if on_community is not None:
                on_community(community, count)
    return added


async def demo_step(session: AsyncSession, scale: str) -> None:
    await seed_residents(session, scale)
